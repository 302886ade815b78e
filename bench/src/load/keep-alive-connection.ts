/**
 * One keep-alive HTTP/1.1 connection on a raw socket: one request at a time,
 * requests written as prebuilt text. Much cheaper than `node:http`'s client,
 * so the loader is less often the limit of a throughput figure.
 */
import net from 'node:net';
import { createResponseParser, type ParsedResponse } from './http-response-parser.js';

/** Options of {@link KeepAliveConnection.open}. */
export interface KeepAliveConnectionOptions {
  host: string;
  port: number;
  localAddress?: string;
  timeoutMs?: number;
}

/**
 * A keep-alive connection; see the module comment.
 *
 * @example
 * ```ts
 * const c = await KeepAliveConnection.open({ host: '127.0.0.1', port: 8080 });
 * const r = await c.request('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
 * c.close();
 * ```
 */
export class KeepAliveConnection {
  private waiting: { resolve: (r: ParsedResponse) => void; reject: (e: Error) => void } | undefined;
  private closed = false;

  private constructor(private readonly socket: net.Socket) {
    const parser = createResponseParser(
      (r) => {
        const w = this.waiting;
        this.waiting = undefined;
        w?.resolve(r);
      },
      (e) => this.fail(e),
    );
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => parser.feed(chunk));
    socket.on('error', (e) => this.fail(e));
    socket.on('close', () => this.fail(new Error('connection closed')));
  }

  /**
   * Connects.
   *
   * @param options - where to
   * @returns the open connection
   */
  static open(options: KeepAliveConnectionOptions): Promise<KeepAliveConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: options.host, port: options.port, localAddress: options.localAddress });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error('connect timeout'));
      }, options.timeoutMs ?? 10_000);
      socket.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        socket.setNoDelay(true);
        resolve(new KeepAliveConnection(socket));
      });
    });
  }

  /** True while no request is in flight and the socket is open. */
  get idle(): boolean {
    return !this.closed && this.waiting === undefined;
  }

  /**
   * Sends one request and waits for its response.
   *
   * @param raw - the full request text (head and body)
   * @returns the response
   */
  request(raw: string): Promise<ParsedResponse> {
    if (this.closed) return Promise.reject(new Error('connection closed'));
    if (this.waiting) return Promise.reject(new Error('a request is already in flight'));
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.socket.write(raw, 'latin1');
    });
  }

  /** Closes the connection. */
  close(): void {
    this.closed = true;
    this.socket.destroy();
  }

  private fail(e: Error): void {
    this.closed = true;
    const w = this.waiting;
    this.waiting = undefined;
    w?.reject(e);
  }
}

/**
 * Builds the text of a request with a JSON body.
 *
 * @param method - the method
 * @param path - the path
 * @param host - the Host header
 * @param headers - more headers
 * @param body - the JSON body (ASCII)
 * @returns the request text
 * @example
 * ```ts
 * buildRequest('POST', '/push/publish', 'localhost', { authorization: 'Bearer k' }, '{}')
 * ```
 */
export function buildRequest(
  method: string,
  path: string,
  host: string,
  headers: Record<string, string>,
  body?: string,
): string {
  let head = `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\n`;
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
  if (body !== undefined) head += `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n`;
  return `${head}\r\n${body ?? ''}`;
}
