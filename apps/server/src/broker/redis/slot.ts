/** Redis Cluster's 16 384 hash slots. */
export const SLOTS = 16_384;

const TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[i] = crc;
  }
  return table;
})();

/**
 * The Redis Cluster hash slot of a key or sharded channel: CRC16 (XMODEM) of
 * the key's hash tag (the text between the first `{` and the next `}`, when
 * not empty) or of the whole key, modulo 16 384. Every key of one tenant
 * carries the tag `{tenant}`, so they share one slot.
 *
 * @param key - a key or channel name
 * @example
 * ```ts
 * slotOf('cast:{acme}:log') === slotOf('cast:{acme}:live') // true
 * ```
 */
export function slotOf(key: string): number {
  let bytes = Buffer.from(key, 'utf8');
  const open = bytes.indexOf(0x7b);
  if (open >= 0) {
    const close = bytes.indexOf(0x7d, open + 1);
    if (close > open + 1) bytes = bytes.subarray(open + 1, close);
  }
  let crc = 0;
  for (const byte of bytes) crc = ((crc << 8) & 0xffff) ^ (TABLE[((crc >> 8) ^ byte) & 0xff] as number);
  return crc % SLOTS;
}
