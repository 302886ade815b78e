import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';

/** One event of a Cast webhook (the `WebhookEvent` type of `@cast/protocol`). */
interface CastWebhookEvent {
  id: string;
  type: 'channel.occupied' | 'channel.vacated' | 'presence.join' | 'presence.leave' | 'connection.revoked';
  tenant: string;
  channel: string;
  userId?: string;
  at: string;
}

const secret = process.env.CAST_WEBHOOK_SECRET ?? '';

// #region verify
/** The events of a request Cast signed within the last five minutes, or undefined. */
function verify(rawBody: string, header: string | undefined): CastWebhookEvent[] | undefined {
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (!match) return undefined;
  const [, t, v1] = match as unknown as [string, string, string];
  // Refuse old signatures: a captured request cannot be replayed later.
  if (Math.abs(Date.now() / 1000 - Number(t)) > 300) return undefined;
  const expected = createHmac('sha256', secret).update(`${t}.${rawBody}`).digest();
  if (!timingSafeEqual(expected, Buffer.from(v1, 'hex'))) return undefined;
  return (JSON.parse(rawBody) as { events: CastWebhookEvent[] }).events;
}
// #endregion verify

// Delivery is at least once: remember the ids you handled (a unique key in your database).
const handled = new Set<string>();

export const server = createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/cast-webhooks') return void res.writeHead(404).end();
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    // Verify the exact bytes received, before any JSON parsing.
    const events = verify(Buffer.concat(chunks).toString('utf8'), req.headers['cast-signature'] as string | undefined);
    if (!events) return void res.writeHead(400).end('bad signature');
    for (const event of events) {
      if (handled.has(event.id)) continue;
      handled.add(event.id);
      console.log(`${event.type} ${event.channel}${event.userId ? ` ${event.userId}` : ''}`);
    }
    // Any 2xx acknowledges the whole batch; answer fast and do slow work afterwards.
    res.writeHead(204).end();
  });
});

server.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  console.log(
    `Receiving Cast webhooks on http://127.0.0.1:${(server.address() as { port: number }).port}/cast-webhooks`,
  );
});
