import type { Context } from 'hono';
import { fail } from './errors.js';

/**
 * Refuses a body over the limit. The rest of it is not read, so the answer
 * closes the connection: a client reusing it would otherwise send its next
 * request on a socket the server is about to drop.
 */
function tooLarge(c: Context, maxBytes: number): never {
  c.header('Connection', 'close');
  fail('PAYLOAD_TOO_LARGE', `The body is larger than ${maxBytes} bytes.`);
}

/**
 * Reads a JSON body of at most `maxBytes`, refusing early on a large
 * `Content-Length` and stopping the read as soon as a body without one passes
 * the limit.
 */
export async function readJson(c: Context, maxBytes: number): Promise<unknown> {
  const type = c.req.header('content-type');
  if (type && !/^application\/(.+\+)?json\b/i.test(type)) {
    fail('UNSUPPORTED_MEDIA_TYPE', 'Send the body as JSON with "Content-Type: application/json".');
  }
  const declared = Number(c.req.header('content-length') ?? NaN);
  if (declared > maxBytes) tooLarge(c, maxBytes);
  const body = c.req.raw.body;
  if (!body) fail('BAD_REQUEST', 'The request has no body; send a JSON object.');
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => {});
      tooLarge(c, maxBytes);
    }
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
