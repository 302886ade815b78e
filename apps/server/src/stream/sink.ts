import type { ServerResponse } from 'node:http';

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
  /** Registers the one callback for when the peer goes away or the stream ends. */
  onClose(fn: () => void): void;
}

/** A sink over a Node.js `ServerResponse` whose headers are already sent. */
export function nodeSink(res: ServerResponse): StreamSink {
  return {
    write(chunk) {
      res.write(chunk);
    },
    get pending() {
      return res.writableLength;
    },
    end() {
      res.end();
    },
    destroy() {
      res.destroy();
    },
    onClose(fn) {
      res.once('close', fn);
    },
  };
}

/** A sink that feeds a web `ReadableStream`, for runtimes without Node's response object. */
export function webSink(): { sink: StreamSink; body: ReadableStream<Uint8Array> } {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let pending = 0;
  let closed = false;
  let onClose: (() => void) | undefined;
  const close = () => {
    if (closed) return;
    closed = true;
    onClose?.();
  };
  const body = new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
      },
      pull() {
        pending = 0;
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
      onClose(fn) {
        onClose = fn;
      },
    },
  };
}
