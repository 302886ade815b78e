import type { IncomingMessage } from 'node:http';
import { ClientGoneError, fail } from './errors.js';
import { type JsonDocument, type JsonPathPattern, JsonSyntaxError, MAX_JSON_DEPTH, readJsonText } from './json.js';
import type { HttpRequest } from './request.js';

/** Most bytes of an oversized body read and thrown away so that its sender sees the 413. */
const DRAIN_LIMIT = 16 * 1024 * 1024;

/**
 * What reading a body gave: its bytes, or that it is over the limit and
 * whether it was read to its end (`drained`) or cut off.
 */
type Collected = { bytes: Buffer } | { tooLarge: true; drained: boolean };

const CUT_OFF: Collected = { tooLarge: true, drained: false };
const DRAINED: Collected = { tooLarge: true, drained: true };

/**
 * Reads the body from the Node request. An oversized body not much larger
 * than the limit is read to its end and discarded: closing while the client
 * still sends makes it see a reset (EPIPE) instead of the answer, and leaves
 * it a dead keep-alive socket. A larger one is left unread; the answer then
 * closes the connection.
 */
function collectNode(req: IncomingMessage, maxBytes: number, declared: number): Promise<Collected> {
  if (declared > DRAIN_LIMIT) return Promise.resolve(CUT_OFF);
  if (req.readableEnded) return Promise.reject(new Error('The request body was already read.'));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = declared > maxBytes;
    let settled = false;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (!over && size <= maxBytes) {
        chunks.push(chunk);
        return;
      }
      over = true;
      chunks.length = 0;
      if (size > DRAIN_LIMIT) {
        settled = true;
        req.off('data', onData);
        req.pause();
        resolve(CUT_OFF);
      }
    };
    // Three listeners, left on the request once it settles (it is done with soon after): 'close'
    // comes after 'end' too. A client gone before the end closes the request; Node emits 'error'
    // only to a request that listens for it.
    req.on('data', onData);
    req.on('end', () => {
      settled = true;
      resolve(over ? DRAINED : { bytes: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size) });
    });
    req.on('close', () => {
      // An error costs its stack trace: made only for a read that did not end.
      if (!settled) reject(new ClientGoneError());
    });
  });
}

/** Reads the body from the web `Request` (under `app.request()` and other runtimes), by the same rules. */
async function collectWeb(
  body: ReadableStream<Uint8Array> | null,
  maxBytes: number,
  declared: number,
): Promise<Collected | undefined> {
  const reader = body?.getReader();
  if (declared > maxBytes) return discard(reader, 0, declared);
  if (!reader) return undefined;
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { value, done } = await reader.read().catch((err: unknown) => {
      throw new ClientGoneError({ cause: err });
    });
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) return discard(reader, size, declared);
    chunks.push(value);
  }
  return { bytes: Buffer.concat(chunks, size) };
}

/** Reads an oversized web body to its end and throws it away, up to {@link DRAIN_LIMIT}; cancels the rest. */
async function discard(
  reader: ReadableStreamDefaultReader<Uint8Array> | undefined,
  read: number,
  declared: number,
): Promise<Collected> {
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
  return drained ? DRAINED : CUT_OFF;
}

/**
 * Decodes UTF-8 strictly: invalid bytes are an error, not U+FFFD (which would
 * change the text that was sent). A byte order mark is kept, and so refused
 * as JSON, as before.
 */
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Reads a JSON body of at most `maxBytes`, refusing a larger one (by its
 * `Content-Length`, or as soon as a body without one passes the limit) while
 * keeping what is held in memory within the limit. Reads from the Node
 * request when there is one (sparing the web `Request` and its stream).
 *
 * The body must be valid UTF-8 and valid JSON nested at most
 * {@link MAX_JSON_DEPTH} levels deep (`INVALID_JSON` otherwise). The
 * document keeps the source text of the members at `sources`, so that `data`
 * is forwarded exactly as it was sent (see {@link readJsonText}).
 *
 * @param req - the request
 * @param maxBytes - the largest body accepted
 * @param sources - the members whose source text to keep
 * @returns the parsed body and the source text of those members
 * @example
 * ```ts
 * const doc = await readJsonBody(req, 64 * 1024, [['data']])
 * const data = doc.source(['data'])
 * ```
 */
export async function readJsonBody(
  req: HttpRequest,
  maxBytes: number,
  sources: readonly JsonPathPattern[] = [],
): Promise<JsonDocument> {
  const type = req.header('content-type');
  if (type && !/^application\/(.+\+)?json\b/i.test(type)) {
    fail('UNSUPPORTED_MEDIA_TYPE', 'Send the body as JSON with "Content-Type: application/json".');
  }
  const declared = Number(req.header('content-length') ?? NaN);
  const { incoming } = req;
  const got = incoming
    ? await collectNode(incoming, maxBytes, declared)
    : await collectWeb(req.webBody, maxBytes, declared);
  if (!got) fail('BAD_REQUEST', 'The request has no body; send a JSON object.');
  if ('tooLarge' in got) {
    if (!got.drained) req.setAnswerHeader('Connection', 'close');
    fail('PAYLOAD_TOO_LARGE', `The body is larger than ${maxBytes} bytes.`);
  }
  let text: string;
  try {
    text = strictUtf8.decode(got.bytes);
  } catch {
    fail('INVALID_JSON', 'The request body is not valid UTF-8.');
  }
  if (text.trim() === '') fail('BAD_REQUEST', 'The request body is empty; send a JSON object.');
  try {
    return readJsonText(text, { maxDepth: MAX_JSON_DEPTH, sources });
  } catch (err) {
    if (err instanceof JsonSyntaxError && err.tooDeep) {
      fail('INVALID_JSON', `The request body nests deeper than ${MAX_JSON_DEPTH} levels of objects and arrays.`);
    }
    fail(
      'INVALID_JSON',
      `The request body is not valid JSON${err instanceof JsonSyntaxError ? `: ${err.message}` : '.'}`,
    );
  }
}

/**
 * Reads a JSON body (see {@link readJsonBody}) and returns its value, for
 * routes that forward no member as it was sent.
 *
 * @param req - the request
 * @param maxBytes - the largest body accepted
 * @returns the parsed JSON
 * @example
 * ```ts
 * const body = asObject(await readJson(req, 64 * 1024))
 * ```
 */
export async function readJson(req: HttpRequest, maxBytes: number): Promise<unknown> {
  return (await readJsonBody(req, maxBytes)).value;
}

/**
 * Narrows a parsed body to a plain object.
 *
 * @param value - the parsed body
 * @param what - how the message names it
 * @returns the same value, typed as an object
 * @example
 * ```ts
 * const { channel } = asObject(await readJson(req, max))
 * ```
 */
export function asObject(value: unknown, what = 'The request body'): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    fail('BAD_REQUEST', `${what} must be a JSON object.`);
  return value as Record<string, unknown>;
}
