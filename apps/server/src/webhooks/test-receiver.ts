import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { WebhookBody, WebhookEvent } from '@cast/protocol';

/** One request a test receiver got. */
export interface ReceivedDelivery {
  events: WebhookEvent[];
  /** Whether `Cast-Signature` matched the body under the secret. */
  signed: boolean;
  /** The status it answered (0: it never answered). */
  status: number;
  at: number;
}

/** What a test receiver answers to its `n`-th request (0-based): a status, or 'hang' (never answers). */
export type Respond = (n: number) => number | 'hang' | Promise<number>;

/** A webhook receiver on loopback, for tests. Test-only; not exported by the package. */
export interface TestReceiver {
  url: string;
  port: number;
  deliveries: ReceivedDelivery[];
  /** Events of the requests answered 2xx, in arrival order. */
  acked(): WebhookEvent[];
  /** Resolves once `check` holds (polled), or rejects after `timeoutMs`. */
  until(check: () => boolean, timeoutMs?: number): Promise<void>;
  /** Stops listening (connections are then refused); `start()` listens again on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
}

/**
 * Checks a `Cast-Signature` header the way a receiver should: recompute the
 * HMAC over `t.body` and compare in constant time.
 */
export function signatureMatches(header: string, body: string, secret: string): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
  if (!m) return false;
  const expected = createHmac('sha256', secret).update(`${m[1]}.${body}`).digest();
  return timingSafeEqual(expected, Buffer.from(m[2] as string, 'hex'));
}

/**
 * Starts a receiver on a free loopback port.
 *
 * @example
 * ```ts
 * const receiver = await startTestReceiver(secret, (n) => (n === 0 ? 500 : 200))
 * ```
 */
export async function startTestReceiver(secret: string, respond: Respond = () => 200, port = 0): Promise<TestReceiver> {
  const deliveries: ReceivedDelivery[] = [];
  let server: Server | undefined;
  let boundPort = port;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          const d: ReceivedDelivery = {
            events: (JSON.parse(raw) as WebhookBody).events,
            signed: signatureMatches(String(req.headers['cast-signature'] ?? ''), raw, secret),
            status: 0,
            at: Date.now(),
          };
          deliveries.push(d);
          void Promise.resolve(respond(deliveries.length - 1)).then((status) => {
            if (status === 'hang') return;
            d.status = status;
            res.writeHead(status).end();
          });
        });
      });
      s.once('error', reject);
      s.listen(boundPort, '127.0.0.1', () => {
        boundPort = (s.address() as AddressInfo).port;
        server = s;
        resolve();
      });
    });
  await listen();
  return {
    url: `http://127.0.0.1:${boundPort}/hooks`,
    port: boundPort,
    deliveries,
    acked: () => deliveries.filter((d) => d.status >= 200 && d.status < 300).flatMap((d) => d.events),
    async until(check, timeoutMs = 10_000) {
      const end = Date.now() + timeoutMs;
      while (!check()) {
        if (Date.now() > end)
          throw new Error(`receiver: condition not met within ${timeoutMs} ms (${deliveries.length} requests)`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async stop() {
      const s = server;
      server = undefined;
      if (!s) return;
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    },
    start: listen,
  };
}
