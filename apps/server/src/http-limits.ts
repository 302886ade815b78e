import { STATUS_CODES, type ServerOptions } from 'node:http';
import type { Socket } from 'node:net';
import { CastError } from '@cast/protocol';
import type { Config } from './config.js';

/**
 * The most bytes of a request line and headers the server reads (Node's
 * `maxHeaderSize`, 16 KiB by default). Room for the largest token the issue
 * route hands out ({@link MAX_TOKEN_BYTES}) in the query or in the
 * `Authorization` header, with the usual browser headers besides.
 */
export const MAX_REQUEST_HEAD_BYTES = 64 * 1024;

/**
 * The largest token `POST /push/tokens` issues; a larger one is refused with
 * `TOKEN_TOO_LARGE` rather than handed out to be refused by the stream. 100
 * channels of 128 characters (the default limits) make about 17.7 KB.
 */
export const MAX_TOKEN_BYTES = 32 * 1024;

/** The slowest Node checks request deadlines; shorter deadlines are checked more often. */
const MAX_CHECK_INTERVAL_MS = 30_000;

/**
 * The Node HTTP server options for a configuration: the request head limit
 * and the deadlines to receive a request's headers and body. A stream is not
 * cut by them: Node stops counting once a request is received in full, and a
 * stream's GET has no body.
 *
 * @param config - the configuration
 * @returns options for `http.createServer`
 * @example
 * ```ts
 * serve({ fetch: app.fetch, port, serverOptions: httpServerOptions(config) })
 * ```
 */
export function httpServerOptions(config: Pick<Config, 'requestTimeoutMs'>): ServerOptions {
  const timeout = config.requestTimeoutMs;
  return {
    maxHeaderSize: MAX_REQUEST_HEAD_BYTES,
    requestTimeout: timeout,
    // Node requires headersTimeout <= requestTimeout.
    headersTimeout: Math.min(timeout, 60_000),
    connectionsCheckingInterval: Math.min(MAX_CHECK_INTERVAL_MS, Math.max(25, Math.floor(timeout / 4))),
  };
}

/** A Node HTTP parser error, with the packet it failed in and where. */
type ClientErrorLike = Error & { code?: string; rawPacket?: Buffer; bytesParsed?: number };

/**
 * Whether a head overflowed in its request line (the URL) rather than in a
 * header. Node's parser checks the size as each span (the URL, a header
 * value) ends or its packet ends, so the error sits either right before
 * ` HTTP/1.1` (the URL just ended) or at the end of a packet that began with
 * the request line and holds no line end yet. Best effort: a packet in the
 * middle of a URL longer than several packets is called a header overflow.
 */
function inRequestLine(err: ClientErrorLike): boolean {
  const raw = err.rawPacket;
  if (!raw) return false;
  const at = Math.min(typeof err.bytesParsed === 'number' ? err.bytesParsed : raw.length, raw.length);
  if (/^ HTTP\/\d/.test(raw.subarray(at, at + 8).toString('latin1'))) return true;
  const before = raw.subarray(0, at);
  return before.indexOf('\n') === -1 && /^[A-Z]+ \S/.test(before.subarray(0, 24).toString('latin1'));
}

/**
 * The Cast error for a request Node refused before any route saw it.
 *
 * @param err - the error of Node's `clientError` event
 * @returns the error to answer with, or undefined when the client is gone
 * @example
 * ```ts
 * clientErrorFor(Object.assign(new Error(), { code: 'HPE_HEADER_OVERFLOW' }))?.code // 'HEADERS_TOO_LARGE'
 * ```
 */
export function clientErrorFor(err: ClientErrorLike): CastError | undefined {
  switch (err.code) {
    case 'ECONNRESET':
    case 'EPIPE':
      return undefined;
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new CastError(
        'TIMEOUT',
        'The request was not received in time; send the headers and the whole body without pausing.',
      );
    case 'HPE_HEADER_OVERFLOW':
      return inRequestLine(err)
        ? new CastError(
            'URI_TOO_LONG',
            `The request URL is too long (the request line and headers may hold ${MAX_REQUEST_HEAD_BYTES} bytes).`,
          )
        : new CastError(
            'HEADERS_TOO_LARGE',
            `The request headers are too large (the request line and headers may hold ${MAX_REQUEST_HEAD_BYTES} bytes).`,
          );
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return new CastError('PAYLOAD_TOO_LARGE', 'The chunk extensions of the body are too large.');
    default:
      return new CastError('BAD_REQUEST', 'The request is not valid HTTP/1.1.');
  }
}

/**
 * Answers a request that Node refused before any route saw it (a parse
 * error, a head over {@link MAX_REQUEST_HEAD_BYTES}, a request not received
 * within its deadline) with the JSON error body every other error gets,
 * where Node would write a bare status line. Nothing is written when the
 * socket is gone or an answer has already begun on it; the connection is
 * closed either way.
 *
 * @param err - the error of Node's `clientError` event
 * @param socket - the client's socket
 * @example
 * ```ts
 * server.on('clientError', answerClientError)
 * ```
 */
export function answerClientError(err: ClientErrorLike, socket: Socket): void {
  const error = clientErrorFor(err);
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (!error || !socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify(error.toJSON());
  socket.end(
    `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? 'Error'}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  );
  // A client that does not read the answer does not hold the socket.
  setTimeout(() => socket.destroy(), 5000).unref();
}
