import { type Server, type Socket, createConnection, createServer } from 'node:net';

/** A TCP proxy in front of a loopback server, able to go silent like a dead NAT entry. */
export interface TestProxy {
  /** Base URL through the proxy, e.g. http://127.0.0.1:41234 */
  url: string;
  port: number;
  /** Connections opened through the proxy so far. */
  readonly connections: number;
  /**
   * Stops forwarding bytes on every open connection, in both directions,
   * while keeping the sockets open (nothing is closed, nothing errors): the
   * bytes are dropped. New connections forward normally.
   */
  blackhole(): void;
  /** Closes every open connection abruptly (both sides). */
  cut(): void;
  /** Stops listening and closes every connection. */
  close(): Promise<void>;
}

/**
 * Starts a TCP proxy on a free loopback port forwarding to `targetPort`.
 *
 * @example
 * ```ts
 * const proxy = await startProxy(server.port)
 * proxy.blackhole() // the client's stream now stalls
 * ```
 */
export function startProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TestProxy> {
  const pairs = new Set<{ client: Socket; upstream: Socket; silent: boolean }>();
  let opened = 0;
  const server: Server = createServer((client) => {
    opened++;
    const upstream = createConnection({ host: targetHost, port: targetPort });
    const pair = { client, upstream, silent: false };
    pairs.add(pair);
    client.on('data', (chunk) => {
      if (!pair.silent) upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (!pair.silent) client.write(chunk);
    });
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      resolve({
        url: `http://127.0.0.1:${port}`,
        port,
        get connections() {
          return opened;
        },
        blackhole() {
          for (const pair of pairs) pair.silent = true;
        },
        cut() {
          for (const pair of [...pairs]) {
            pair.client.destroy();
            pair.upstream.destroy();
          }
        },
        close() {
          for (const pair of [...pairs]) {
            pair.client.destroy();
            pair.upstream.destroy();
          }
          return new Promise<void>((done) => server.close(() => done()));
        },
      });
    });
  });
}
