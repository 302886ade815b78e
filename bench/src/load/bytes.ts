/**
 * Byte helpers of the load generator, which reads sockets into shared buffers
 * and turns bytes into text only off the hot path.
 */

/**
 * The bytes `b[start, end)` as a latin1 string (one char per byte).
 *
 * @param b - the bytes
 * @param start - first byte
 * @param end - end (exclusive)
 * @returns the string
 * @example
 * ```ts
 * latin1(Buffer.from('id: 1'), 4, 5) // '1'
 * ```
 */
export function latin1(b: Uint8Array, start: number, end: number): string {
  return Buffer.from(b.buffer, b.byteOffset + start, end - start).toString('latin1');
}
