import type { Context } from 'hono';
import { fail } from './errors.js';

/** Most bytes of an oversized body read and thrown away so that its sender sees the 413. */
const DRAIN_LIMIT = 16 * 1024 * 1024;

/**
 * Refuses a body over the limit. A body that is not much larger is first read
 * to its end and discarded: closing while the client still sends makes it see
 * a reset (EPIPE) instead of the answer, and leaves it a dead keep-alive
 * socket. A larger one is cut off, and the answer says the connection closes.
 */
async function refuseTooLarge(c: Context, maxBytes: number, reader: ReadableStreamDefaultReader<Uint8Array> | undefined, read: number, declared: number): Promise<never> {
  let total = read;
  let drained = reader !== undefined && !(declared > DRAIN_LIMIT);
  if (reader) {
    while (drained) {
      const { value, done } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > DRAIN_LIMIT) drained = false;
    }
    if (!drained) await reader.cancel().catch(() => {});
  }
  if (!drained) c.header('Connection', 'close');
  fail('PAYLOAD_TOO_LARGE', `The body is larger than ${maxBytes} bytes.`);
}

/**
 * Reads a JSON body of at most `maxBytes`, refusing a larger one (by its
 * `Content-Length`, or as soon as a body without one passes the limit) while
 * keeping what is held in memory within the limit.
 */
export async function readJson(c: Context, maxBytes: number): Promise<unknown> {
  const type = c.req.header('content-type');
  if (type && !/^application\/(.+\+)?json\b/i.test(type)) {
    fail('UNSUPPORTED_MEDIA_TYPE', 'Send the body as JSON with "Content-Type: application/json".');
  }
  const declared = Number(c.req.header('content-length') ?? NaN);
  const body = c.req.raw.body;
  if (declared > maxBytes) await refuseTooLarge(c, maxBytes, body?.getReader(), 0, declared);
  if (!body) fail('BAD_REQUEST', 'The request has no body; send a JSON object.');
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) await refuseTooLarge(c, maxBytes, reader, size, declared);
    chunks.push(value);
  }
  const text = Buffer.concat(chunks, size).toString('utf8');
  if (text.trim() === '') fail('BAD_REQUEST', 'The request body is empty; send a JSON object.');
  try {
    return JSON.parse(text);
  } catch {
    fail('INVALID_JSON', 'The request body is not valid JSON.');
  }
}

/** Narrows a parsed body to a plain object. */
export function asObject(value: unknown, what = 'The request body'): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('BAD_REQUEST', `${what} must be a JSON object.`);
  return value as Record<string, unknown>;
}
