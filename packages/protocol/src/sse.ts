/**
 * The fields of one Server-Sent Events frame.
 *
 * @example
 * ```ts
 * const frame: SseFrame = { event: 'connected', data: '{"channels":["orders"]}', retry: 1000 }
 * encodeFrame(frame)
 * ```
 */
export interface SseFrame {
  /** The `id:` field; must not contain CR, LF or NUL. */
  id?: string;
  /** The `event:` field; must not contain CR or LF. */
  event?: string;
  /** The `data:` payload. Each line becomes its own `data:` line (JSON is always one line). */
  data?: string;
  /** The `retry:` field: the reconnection delay the client should use, in milliseconds. */
  retry?: number;
}

const LINE_BREAK = /\r\n|\r|\n/;

/**
 * Encodes one SSE frame with LF line endings, ending in a blank line. A JSON
 * payload (which never holds a raw line break) becomes exactly one `data:`
 * line, as simple readers that split on blank lines expect.
 *
 * @param frame - the frame's fields
 * @returns the encoded frame
 * @throws TypeError when `id` or `event` contains a line break (or `id` a NUL), or `retry` is not a non-negative integer
 * @example
 * ```ts
 * encodeFrame({ id: '5-0/orders', event: 'order.created', data: '{"id":1}' })
 * // 'id: 5-0/orders\nevent: order.created\ndata: {"id":1}\n\n'
 * ```
 */
export function encodeFrame(frame: SseFrame): string {
  let out = '';
  if (frame.retry !== undefined) {
    if (!Number.isInteger(frame.retry) || frame.retry < 0) {
      throw new TypeError('SSE retry must be a non-negative integer.');
    }
    out += `retry: ${frame.retry}\n`;
  }
  if (frame.id !== undefined) {
    if (/[\r\n\0]/.test(frame.id)) throw new TypeError('SSE id must not contain CR, LF or NUL.');
    out += `id: ${frame.id}\n`;
  }
  if (frame.event !== undefined) {
    if (/[\r\n]/.test(frame.event)) throw new TypeError('SSE event must not contain CR or LF.');
    out += `event: ${frame.event}\n`;
  }
  const { data } = frame;
  if (data !== undefined) {
    // Compact JSON (every event's data) holds no line break: one line, without splitting.
    if (data.indexOf('\n') === -1 && data.indexOf('\r') === -1) out += `data: ${data}\n`;
    else for (const line of data.split(LINE_BREAK)) out += `data: ${line}\n`;
  }
  return `${out}\n`;
}

/**
 * Encodes an SSE comment (ignored by every parser; used as a heartbeat). Line
 * breaks in the text start new comment lines.
 *
 * @param text - the comment text
 * @returns the encoded comment block
 * @example
 * ```ts
 * encodeComment('hb') // ': hb\n\n'
 * ```
 */
export function encodeComment(text = ''): string {
  return `${text
    .split(LINE_BREAK)
    .map((line) => (line ? `: ${line}` : ':'))
    .join('\n')}\n\n`;
}
