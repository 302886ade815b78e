import { afterEach, describe, expect, it } from 'vitest';
import { createInProcessServer, type InProcessServer, readSse } from '../test-support.js';

const SECRET = 'sk_acme_0123456789abcdef';
const PUBLIC = 'pk_acme_0123456789abcdef';
const BETA_SECRET = 'sk_beta_0123456789abcdef';
const BETA_PUBLIC = 'pk_beta_0123456789abcdef';

const servers: InProcessServer[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

async function setup() {
  const server = await createInProcessServer(
    {
      CAST_API_KEYS: `acme=${SECRET},beta=${BETA_SECRET}`,
      CAST_PUBLIC_KEYS: `acme=${PUBLIC},beta=${BETA_PUBLIC}`,
      CAST_SIGNING_SECRET: 's'.repeat(32),
    },
    { historySize: 100 },
  );
  servers.push(server);
  return { app: server.app, hub: server.deps.hub };
}

type App = Awaited<ReturnType<typeof setup>>['app'];

function publish(app: App, body: unknown, headers: Record<string, string>) {
  return app.request('/v1/events/publish', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

const read = (res: Response, count: number) => readSse(res, count);

describe('POST /v1/events/publish', () => {
  it('publishes a topic with a secret key in the apikey header or as Bearer', async () => {
    const { app } = await setup();
    const a = await publish(app, { topic: 'order.created', data: { id: 123 } }, { apikey: SECRET });
    expect(a.status).toBe(200);
    const body = (await a.json()) as { messageId: string; eventId: string; delivered: number; creditsUsed: number };
    expect(body.eventId).toMatch(/^\d+-\d+\/\$bus$/);
    expect(body.creditsUsed).toBe(0);
    const b = await publish(app, { topic: 'order.created', data: 1 }, { authorization: `Bearer ${SECRET}` });
    expect(b.status).toBe(200);
  });

  it('refuses a read-only key with 403 and no key with 401', async () => {
    const { app } = await setup();
    const ro = await publish(app, { topic: 'order.created', data: 1 }, { apikey: PUBLIC });
    expect(ro.status).toBe(403);
    expect(((await ro.json()) as { error: { code: string } }).error.code).toBe('FORBIDDEN');
    const none = await publish(app, { topic: 'order.created', data: 1 }, {});
    expect(none.status).toBe(401);
    const wrong = await publish(app, { topic: 'order.created', data: 1 }, { apikey: 'sk_nobody_0123456789' });
    expect(wrong.status).toBe(401);
  });

  it('never takes a publishing key from the query string', async () => {
    const { app } = await setup();
    const res = await app.request(`/v1/events/publish?apikey=${SECRET}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ topic: 'a', data: 1 }),
    });
    expect(res.status).toBe(401);
  });

  it('checks the topic and the data', async () => {
    const { app } = await setup();
    const cases: Array<[unknown, number, string]> = [
      [{ data: 1 }, 400, 'BAD_REQUEST'],
      [{ topic: 'bad topic', data: 1 }, 400, 'INVALID_EVENT_NAME'],
      [{ topic: 'connected', data: 1 }, 400, 'RESERVED_EVENT_NAME'],
      [{ topic: 'a.b' }, 400, 'BAD_REQUEST'],
    ];
    for (const [body, status, code] of cases) {
      const res = await publish(app, body, { apikey: SECRET });
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe(code);
    }
  });

  it('publishes once per idempotency key', async () => {
    const { app } = await setup();
    const first = (await (
      await publish(app, { topic: 'a', data: 1, idempotencyKey: 'k1' }, { apikey: SECRET })
    ).json()) as { eventId: string };
    const again = (await (
      await publish(app, { topic: 'a', data: 1 }, { apikey: SECRET, 'idempotency-key': 'k1' })
    ).json()) as { eventId: string; duplicate?: boolean };
    expect(again.eventId).toBe(first.eventId);
    expect(again.duplicate).toBe(true);
  });
});

describe('push routes with a read-only key', () => {
  it('refuses to issue tokens or publish (403)', async () => {
    const { app } = await setup();
    const tokens = await app.request('/push/tokens', {
      method: 'POST',
      headers: { authorization: `Bearer ${PUBLIC}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channels: ['orders'] }),
    });
    expect(tokens.status).toBe(403);
    const pub = await app.request('/push/publish', {
      method: 'POST',
      headers: { apikey: PUBLIC, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'orders', event: 'a', data: 1 }),
    });
    expect(pub.status).toBe(403);
  });
});

describe('GET /v1/events/subscribe', () => {
  it('fails closed without a tenant identity: 401 with no key or an unknown one', async () => {
    const { app } = await setup();
    expect((await app.request('/v1/events/subscribe?topic=a')).status).toBe(401);
    expect((await app.request('/v1/events/subscribe?topic=a&apikey=')).status).toBe(401);
    expect((await app.request('/v1/events/subscribe?apikey=pk_unknown_0123456789')).status).toBe(401);
  });

  it('takes the key from the header over the query parameter', async () => {
    const { app } = await setup();
    // A bad header with a good query key: the header wins, so 401.
    const res = await app.request(`/v1/events/subscribe?apikey=${PUBLIC}`, {
      headers: { apikey: 'pk_unknown_0123456789' },
    });
    expect(res.status).toBe(401);
    // And a good header wins over another tenant's query key.
    const ok = await app.request(`/v1/events/subscribe?apikey=${BETA_PUBLIC}`, { headers: { apikey: PUBLIC } });
    expect(ok.status).toBe(200);
    const [connected] = await read(ok, 1);
    expect(connected?.event).toBe('connected');
  });

  it('streams a tenant its own topics only, filtered by topic wildcards', async () => {
    const { app } = await setup();
    const res = await app.request(`/v1/events/subscribe?topic=order.*&apikey=${PUBLIC}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    await publish(app, { topic: 'order.created', data: { tenant: 'beta' } }, { apikey: BETA_SECRET });
    await publish(app, { topic: 'ticket.created', data: { tenant: 'acme' } }, { apikey: SECRET });
    await publish(app, { topic: 'order.created', data: { tenant: 'acme' } }, { apikey: SECRET });
    const msgs = await read(res, 2);
    expect(msgs.map((m) => [m.event, m.data])).toEqual([
      ['connected', '{"channels":["$bus"]}'],
      ['order.created', '{"tenant":"acme"}'],
    ]);
  });

  it('replays what was published after Last-Event-ID, with recovered: true', async () => {
    const { app } = await setup();
    const first = (await (await publish(app, { topic: 'a', data: 1 }, { apikey: SECRET })).json()) as {
      eventId: string;
    };
    await publish(app, { topic: 'a', data: 2 }, { apikey: SECRET });
    await publish(app, { topic: 'b', data: 3 }, { apikey: SECRET });
    const res = await app.request(`/v1/events/subscribe?topic=a&apikey=${PUBLIC}`, {
      headers: { 'last-event-id': first.eventId },
    });
    const msgs = await read(res, 2);
    expect(JSON.parse(msgs[0]?.data as string)).toEqual({ channels: ['$bus'], recovered: true });
    expect(msgs[1]).toMatchObject({ event: 'a', data: '2' });
  });

  it('answers 404 for collection= without a database, saying how to enable it', async () => {
    const { app } = await setup();
    const res = await app.request(`/v1/events/subscribe?collection=todos&apikey=${PUBLIC}`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain('CAST_DATABASE_URL');
  });

  it('refuses a bad topic filter and collection with topic', async () => {
    const { app } = await setup();
    expect((await app.request(`/v1/events/subscribe?topic=a*&apikey=${PUBLIC}`)).status).toBe(400);
    expect((await app.request(`/v1/events/subscribe?topic=a&collection=todos&apikey=${PUBLIC}`)).status).toBe(400);
  });

  it('opens with recovered: false for a Last-Event-ID it cannot parse (a 4xx would end an EventSource for good)', async () => {
    const { app } = await setup();
    const res = await app.request(`/v1/events/subscribe?apikey=${PUBLIC}`, { headers: { 'last-event-id': 'nope' } });
    expect(res.status).toBe(200);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const { value } = await reader.read();
    await reader.cancel();
    expect(new TextDecoder().decode(value)).toMatch(
      /event: connected\ndata: \{"channels":\["[^"]+"\],"recovered":false\}/,
    );
  });

  it('answers 405 for the wrong method', async () => {
    const { app } = await setup();
    expect((await app.request('/v1/events/publish')).status).toBe(405);
  });
});
