import type { ServerResponse } from 'node:http';

/** Told once when a sink's peer goes away or the stream ends. */
export interface SinkListener {
  sinkClosed(): void;
}

/**
 * Where a stream's bytes go: a Node.js response on the Node server, a web
 * `ReadableStream` elsewhere (and in `app.request()` tests).
 */
export interface StreamSink {
  /** Queues bytes for the peer. */
  write(chunk: Uint8Array): void;
  /** Bytes queued but not yet handed to the peer (kernel buffers excluded). */
  readonly pending: number;
  /** Ends the stream after what is queued. */
  end(): void;
  /** Drops the stream at once, discarding what is queued. */
  destroy(): void;
  /** Registers the one listener for when the peer goes away or the stream ends. */
  onClose(listener: SinkListener): void;
  /**
   * Calls `callback` once when the peer has taken enough that at most
   * `threshold` bytes are pending (at once when that is already so). Not
   * called if the stream ends first.
   */
  whenDrained(threshold: number, callback: () => void): void;
}

const LISTENER = Symbol('cast.sinkListener');
type TaggedResponse = ServerResponse & { [LISTENER]?: SinkListener };

/** One `close` listener shared by every response: a stream costs no closure of its own. */
function responseClosed(this: TaggedResponse): void {
  const listener = this[LISTENER];
  this[LISTENER] = undefined;
  listener?.sinkClosed();
}

/** Above this size a chunk is framed by three corked writes instead of a framed copy. */
const COPY_LIMIT = 16 * 1024;
const CRLF = Buffer.from('\r\n');

/**
 * The last chunk framed and its framed bytes. A flush writes the same chunk
 * (one event's frame, or a turn's frames joined once) to every subscriber in
 * a row, so one slot serves them all: one framed copy per chunk, not one per
 * socket.
 */
let lastFramed: { chunk: Uint8Array; framed: Buffer } | undefined;

/** `chunk` as one HTTP/1.1 chunk: its size in hex, CRLF, the bytes, CRLF. */
function framedChunk(chunk: Uint8Array): Buffer {
  if (lastFramed?.chunk === chunk) return lastFramed.framed;
  const head = `${chunk.byteLength.toString(16)}\r\n`;
  const framed = Buffer.allocUnsafe(head.length + chunk.byteLength + 2);
  framed.write(head, 0, 'latin1');
  framed.set(chunk, head.length);
  framed[framed.length - 2] = 13;
  framed[framed.length - 1] = 10;
  lastFramed = { chunk, framed };
  return framed;
}

/**
 * A sink over a Node.js `ServerResponse` whose headers are already sent.
 * Idle streams are the server's bulk, so this is a class (methods on the
 * prototype) holding one field, not an object of closures.
 *
 * Bytes go straight to the socket, framed as HTTP/1.1 chunks here when the
 * response is chunked: one `write` per flush, where `res.write` would cork
 * the socket, defer the uncork to the next tick and hand three buffers to
 * `writev` for every subscriber. The response still writes the headers and
 * the final chunk, and counts the socket's unsent bytes as its own.
 *
 * @example
 * ```ts
 * res.writeHead(200, headers);
 * res.flushHeaders();
 * const sink = new NodeSink(res);
 * sink.write(frame);
 * ```
 */
export class NodeSink implements StreamSink {
  constructor(private readonly res: ServerResponse) {}

  write(chunk: Uint8Array): void {
    const { socket } = this.res;
    if (!socket || socket.destroyed || this.res.writableEnded) return;
    if (!this.res.chunkedEncoding) socket.write(chunk);
    else if (chunk.byteLength <= COPY_LIMIT) socket.write(framedChunk(chunk));
    else {
      socket.cork();
      socket.write(`${chunk.byteLength.toString(16)}\r\n`, 'latin1');
      socket.write(chunk);
      socket.write(CRLF);
      socket.uncork();
    }
  }

  get pending(): number {
    return this.res.writableLength;
  }

  end(): void {
    this.res.end();
  }

  destroy(): void {
    this.res.destroy();
  }

  onClose(listener: SinkListener): void {
    (this.res as TaggedResponse)[LISTENER] = listener;
    this.res.on('close', responseClosed);
  }

  whenDrained(threshold: number, callback: () => void): void {
    const { socket } = this.res;
    // Below the socket's high-water mark Node asks for no drain: the bytes count as taken.
    if (!socket || this.res.writableLength <= threshold || !socket.writableNeedDrain) queueMicrotask(callback);
    else socket.once('drain', callback);
  }
}

/** What Node's response keeps of its head once sent: only whether it was (the text is never read again). */
type SentHead = { _header?: unknown; _headerSent?: unknown };

/**
 * Lets an open stream's response drop the text it no longer needs, about
 * half a KiB per stream (idle streams are the server's bulk): the request
 * target, whose query holds the stream token (the path stays), and the
 * response head already on the wire. Node keeps the head only to answer
 * `headersSent`, which stays true. Call once the route has read the request
 * and the head is flushed; a response whose head is not sent is left alone.
 *
 * @param res - a streaming response whose headers were flushed
 * @example
 * ```ts
 * res.writeHead(200, headers);
 * res.flushHeaders();
 * releaseSentText(res);
 * ```
 */
export function releaseSentText(res: ServerResponse): void {
  const head = res as ServerResponse & SentHead;
  if (head._headerSent !== true || typeof head._header !== 'string') return;
  head._header = SENT;
  const { req } = res;
  const q = req.url?.indexOf('?') ?? -1;
  if (q !== -1) req.url = detached(req.url!.slice(0, q));
}
const SENT = 'sent';

/**
 * A copy of `text` that shares no memory with a longer string: V8 may keep a
 * slice as a view of the string it was cut from, which would keep the token.
 */
function detached(text: string): string {
  return JSON.parse(JSON.stringify(text)) as string;
}

/** A sink that feeds a web `ReadableStream`, for runtimes without Node's response object. */
export function webSink(): { sink: StreamSink; body: ReadableStream<Uint8Array> } {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let pending = 0;
  let closed = false;
  let listener: SinkListener | undefined;
  let drained: (() => void) | undefined;
  const close = () => {
    if (closed) return;
    closed = true;
    listener?.sinkClosed();
  };
  const body = new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
      },
      pull() {
        pending = 0;
        const callback = drained;
        drained = undefined;
        callback?.();
      },
      cancel() {
        close();
      },
    },
    { highWaterMark: 0 },
  );
  return {
    body,
    sink: {
      write(chunk) {
        if (closed) return;
        pending += chunk.byteLength;
        controller.enqueue(chunk);
      },
      get pending() {
        return pending;
      },
      end() {
        if (closed) return;
        controller.close();
        close();
      },
      destroy() {
        if (closed) return;
        controller.error(new Error('stream closed by the server'));
        close();
      },
      onClose(l) {
        listener = l;
      },
      whenDrained(threshold, callback) {
        if (pending <= threshold) queueMicrotask(callback);
        else drained = callback;
      },
    },
  };
}
