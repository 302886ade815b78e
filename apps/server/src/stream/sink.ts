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

/**
 * A sink over a Node.js `ServerResponse` whose headers are already sent.
 * Idle streams are the server's bulk, so this is a class (methods on the
 * prototype) holding one field, not an object of closures.
 *
 * @example
 * ```ts
 * res.writeHead(200, headers);
 * const sink = new NodeSink(res);
 * sink.write(frame);
 * ```
 */
export class NodeSink implements StreamSink {
  constructor(private readonly res: ServerResponse) {}

  write(chunk: Uint8Array): void {
    this.res.write(chunk);
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
    // Below the socket's high-water mark Node asks for no drain: the bytes count as taken.
    if (this.res.writableLength <= threshold || !this.res.writableNeedDrain) queueMicrotask(callback);
    else this.res.once('drain', callback);
  }
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
