/**
 * Client source addresses spread over 127.0.0.0/8. Every (source address,
 * source port) pair is one loopback connection, so spreading the sources keeps
 * tens of thousands of connections (and their TIME_WAIT leftovers between
 * runs) far from the ~28k ephemeral ports of a single address.
 */

const SPAN = 250; // octets 1–250: skips .0 and .255 in every position

/**
 * The source address for connection `index`, `perAddress` connections per address.
 *
 * @param index - the connection's global index (any non-negative integer)
 * @param perAddress - connections sharing one address @defaultValue 64
 * @returns an address in 127.1.1.1–127.250.250.250
 * @example
 * ```ts
 * sourceAddress(0) // '127.1.1.1'
 * sourceAddress(64) // '127.1.1.2'
 * ```
 */
export function sourceAddress(index: number, perAddress = 64): string {
  const slot = Math.floor(index / perAddress) % (SPAN * SPAN * SPAN);
  const a = Math.floor(slot / (SPAN * SPAN));
  const b = Math.floor(slot / SPAN) % SPAN;
  const c = slot % SPAN;
  return `127.${a + 1}.${b + 1}.${c + 1}`;
}
