// A Hono backend for Cast: a token endpoint that grants each signed-in user their
// own channels, and routes that publish order updates and announcements.
import { readFileSync } from 'node:fs';
import { serve } from '@hono/node-server';
import { CastServer, createTokenHandler, isCastError } from '@cast/server-sdk';
import { Hono } from 'hono';
import { castWebhooks } from './webhooks.js';

/** The events this app publishes: the names and payloads are checked at compile time. */
export type Events = {
  'order.created': { orderId: string; item: string };
  'status.changed': { orderId: string; status: 'packed' | 'shipped' | 'delivered' };
  notification: { message: string };
};

const baseUrl = process.env.CAST_URL ?? 'http://127.0.0.1:8080';
const cast = new CastServer<Events>({ baseUrl, apiKey: process.env.CAST_API_KEY ?? developmentKey() });

/** The key `pnpm start` created for the development tenant, when none is configured. */
function developmentKey(): string {
  try {
    const file = new URL('../../../apps/server/.cast/dev-credentials.json', import.meta.url);
    return (JSON.parse(readFileSync(file, 'utf8')) as { apiKey: string }).apiKey;
  } catch {
    console.error('Set CAST_API_KEY, or start the Cast server once with `pnpm start` to create a development key.');
    process.exit(1);
  }
}

/** Stands in for your authentication: the user named by the X-Demo-User header. */
function currentUser(request: Request): string | undefined {
  const id = request.headers.get('x-demo-user') ?? '';
  return /^[A-Za-z0-9_-]{1,64}$/.test(id) ? id : undefined;
}

/** Orders by id, with their owner (a database in a real app). */
const orders = new Map<string, { owner: string; item: string }>();
let nextOrder = 1;

const app = new Hono();

// The browser asks here for a stream token: its user's channel, the broadcast
// channel and one channel per order it owns.
const tokenHandler = createTokenHandler({
  cast,
  authorize: (request) => {
    const user = currentUser(request);
    if (!user) return null;
    const own = [...orders].filter(([, o]) => o.owner === user).map(([id]) => `order:${id}`);
    return { channels: [`user:${user}`, 'announcements', ...own], userId: user, ttlSeconds: 900 };
  },
  onError: (err) => console.error('cast token', err),
});
app.post('/api/cast-token', (c) => tokenHandler(c.req.raw));

app.post('/api/orders', async (c) => {
  const user = currentUser(c.req.raw);
  if (!user) return c.json({ error: { code: 'UNAUTHORIZED', message: 'Sign in first.' } }, 401);
  const { item } = await c.req.json<{ item?: string }>();
  const orderId = `o${nextOrder++}`;
  orders.set(orderId, { owner: user, item: item ?? 'something' });
  await cast.publish({ channel: `user:${user}`, event: 'order.created', data: { orderId, item: item ?? 'something' } });
  return c.json({ orderId }, 201);
});

app.post('/api/orders/:id/status', async (c) => {
  const orderId = c.req.param('id');
  const order = orders.get(orderId);
  if (!order) return c.json({ error: { code: 'NOT_FOUND', message: 'No such order.' } }, 404);
  const { status } = await c.req.json<{ status: Events['status.changed']['status'] }>();
  const { delivered } = await cast.publish({
    channel: `order:${orderId}`,
    event: 'status.changed',
    data: { orderId, status },
    idempotencyKey: `order-${orderId}-${status}`, // a retried request announces the step once
  });
  return c.json({ orderId, status, delivered });
});

app.post('/api/announcements', async (c) => {
  const { message } = await c.req.json<{ message: string }>();
  const { delivered } = await cast.publish({ channel: 'announcements', event: 'notification', data: { message } });
  return c.json({ delivered });
});

// Cast's webhooks (set CAST_WEBHOOKS=<tenant>=http://…/api/cast-webhooks on the Cast server, and
// the same CAST_WEBHOOK_SECRET on both sides).
const webhookSecret = process.env.CAST_WEBHOOK_SECRET;
if (webhookSecret) {
  app.route(
    '/api/cast-webhooks',
    castWebhooks(webhookSecret, (event) => {
      console.log(`webhook: ${event.type} ${event.channel}${event.userId ? ` ${event.userId}` : ''}`);
    }),
  );
}

app.onError((err, c) => {
  if (isCastError(err)) return c.json({ error: { code: err.code, message: err.message } }, err.retryable ? 503 : 500);
  console.error(err);
  return c.json({ error: { code: 'INTERNAL', message: 'Something failed.' } }, 500);
});

const server = serve(
  { fetch: app.fetch, port: Number(process.env.PORT ?? 3000), hostname: process.env.HOST ?? '127.0.0.1' },
  (info) => {
    console.log(
      `Example listening on http://${info.address}:${info.port} (Cast server: ${baseUrl}; set CAST_URL to use another)`,
    );
  },
);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => server.close(() => process.exit(0)));
