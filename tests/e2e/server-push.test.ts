import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueToken, publish, startServer, type TestServer } from './helpers/server.js';
import { openRaw, type RawStream } from './helpers/sse.js';

const run = promisify(execFile);
const SEED_BASE = 'https://api.castbrick.co';
const ORIGIN = 'https://app.example.com';

let server: TestServer;
const streams: RawStream[] = [];
const open = async (url: string, headers: Record<string, string> = {}) => {
  const s = await openRaw(url, headers);
  streams.push(s);
  return s;
};
const streamUrl = (token: string, extra = '') => `${server.url}/push/stream?token=${encodeURIComponent(token)}${extra}`;

beforeAll(async () => {
  server = await startServer({
    tenants: { acme: 'sk_test_acme_0123456789abcdef', globex: 'sk_test_globex_0123456789abcdef' },
    env: { CAST_HEARTBEAT_MS: '200', CAST_CORS_ORIGINS: `${ORIGIN},http://localhost:5173` },
  });
});
afterAll(async () => {
  for (const s of streams) s.close();
  await server?.stop();
});

/** Runs one of the seed's curl commands verbatim, with only the base URL and key swapped. */
async function seedCurl(command: string): Promise<unknown> {
  const cmd = command.replaceAll(SEED_BASE, server.url).replaceAll('cb_live_your_key', server.apiKey);
  const { stdout } = await run('sh', ['-c', `${cmd} --silent --show-error --max-time 10`], { timeout: 15_000 });
  return JSON.parse(stdout);
}

describe("the seed's flows", () => {
  it('issues a token with the seed curl and answers exactly token, expiresAt, channels and the tokenId (issue 14)', async () => {
    const body = (await seedCurl(`curl -X POST https://api.castbrick.co/push/tokens \\
  -H "Authorization: Bearer cb_live_your_key" \\
  -H "Content-Type: application/json" \\
  -d '{
    "channels": ["orders", "notifications"],
    "userId": "user_123",
    "ttlSeconds": 3600
  }'`)) as { token: string; expiresAt: string; channels: string[]; tokenId: string };
    expect(Object.keys(body).sort()).toEqual(['channels', 'expiresAt', 'token', 'tokenId']);
    // The token's jti, what POST /push/revoke with "tokenId" names.
    expect(JSON.parse(Buffer.from(body.token.split('.')[1] as string, 'base64url').toString()).jti).toBe(body.tokenId);
    expect(body.channels).toEqual(['orders', 'notifications']);
    expect(body.token).toMatch(/^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
    // Same shape as the seed: 2026-06-06T15:00:00Z.
    expect(body.expiresAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const left = Date.parse(body.expiresAt) - Date.now();
    expect(left).toBeGreaterThan(3590_000);
    expect(left).toBeLessThanOrEqual(3600_000);
  });

  it('defaults the token lifetime to one hour', async () => {
    const { expiresAt } = await issueToken(server, { channels: ['orders'] });
    const left = Date.parse(expiresAt) - Date.now();
    expect(left).toBeGreaterThan(3590_000);
    expect(left).toBeLessThanOrEqual(3600_000);
  });

  it('publishes with the seed curl and answers messageId, delivered and creditsUsed: 0', async () => {
    const { token } = await issueToken(server, { channels: ['orders'] });
    const stream = await open(streamUrl(token));
    await stream.waitFor(1);
    const body = (await seedCurl(`curl -X POST https://api.castbrick.co/push/publish \\
  -H "Authorization: Bearer cb_live_your_key" \\
  -H "Content-Type: application/json" \\
  -d '{
    "channel": "orders",
    "event": "order.created",
    "data": {
      "orderId": "abc123",
      "total": 4999,
      "currency": "AOA"
    }
  }'`)) as Record<string, unknown>;
    expect(body.messageId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(body.delivered).toBe(1);
    expect(body.creditsUsed).toBe(0);
    // The only field beyond the seed's: the SSE id the event got.
    expect(Object.keys(body).sort()).toEqual(['creditsUsed', 'delivered', 'eventId', 'messageId']);
    const [, got] = await stream.waitFor(2);
    expect(got).toEqual({
      id: body.eventId,
      event: 'order.created',
      data: '{"orderId":"abc123","total":4999,"currency":"AOA"}',
    });
  });

  it("runs the seed's JavaScript stream reader as written", async () => {
    const { token } = await issueToken(server, { channels: ['orders', 'notifications'], ttlSeconds: 2 });
    // The seed's snippet, verbatim except for the base URL.
    const snippet = `
const res = await fetch(
  \`https://api.castbrick.co/push/stream?token=\${encodeURIComponent(token)}\`
);

const reader = res.body.getReader();
const decoder = new TextDecoder();
let buffer = '';

while (true) {
  const { value, done } = await reader.read();
  if (done) break;

  buffer += decoder.decode(value, { stream: true });
  const messages = buffer.split('\\n\\n');
  buffer = messages.pop() ?? '';

  for (const msg of messages) {
    let eventName = 'message';
    let dataLine = '';
    for (const line of msg.split('\\n')) {
      if (line.startsWith('event:')) eventName = line.slice(6).trim();
      if (line.startsWith('data:')) dataLine = line.slice(5).trim();
    }
    if (dataLine) {
      const data = JSON.parse(dataLine);
      console.log(eventName, data);
    }
  }
}`.replace(SEED_BASE, server.url);
    const logged: Array<[string, unknown]> = [];
    const fakeConsole = {
      log: (name: string, data: unknown) => {
        logged.push([name, data]);
        if (name === 'connected') {
          void publish(server, {
            channel: 'orders',
            event: 'order.created',
            data: { orderId: 'abc123', total: 4999, currency: 'AOA' },
          }).then(() =>
            publish(server, {
              channel: 'notifications',
              event: 'notification',
              data: { type: 'info', message: 'Your export is ready' },
            }),
          );
        }
      },
    };
    const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as new (
      ...args: string[]
    ) => (...a: unknown[]) => Promise<void>;
    // The loop ends when the server closes the stream at token expiry.
    await new AsyncFunction('token', 'console', snippet)(token, fakeConsole);
    expect(logged.map(([n]) => n)).toEqual(['connected', 'order.created', 'notification', 'expired']);
    expect(logged[0]?.[1]).toEqual({ channels: ['orders', 'notifications'] });
    expect(logged[1]?.[1]).toEqual({ orderId: 'abc123', total: 4999, currency: 'AOA' });
    expect(logged[2]?.[1]).toEqual({ type: 'info', message: 'Your export is ready' });
    expect(logged[3]?.[1]).toMatchObject({ reason: 'token_expired' });
  });

  it('accepts the channel patterns of the seed (user:<id>, order:<id>, session:<id>, announcements)', async () => {
    const channels = ['user:user_123', 'order:abc123', 'session:3fa85f64-5717-4562-b3fc-2c963f66afa6', 'announcements'];
    const { token } = await issueToken(server, { channels, userId: 'user_123' });
    const stream = await open(streamUrl(token));
    await stream.waitFor(1);
    for (const channel of channels) {
      const res = await publish(server, {
        channel,
        event: 'status.changed',
        data: { status: 'shipped', trackingUrl: 'https://...' },
      });
      expect(res.status).toBe(200);
      expect(res.body.delivered).toBe(1);
    }
    const events = await stream.waitFor(5);
    expect(events.slice(1).map((e) => e.id?.split('/').slice(1).join('/'))).toEqual(channels);
  });
});

describe('the stream', () => {
  it('sends connected first with a retry hint and the channels, as the first bytes', async () => {
    const { token } = await issueToken(server, { channels: ['orders', 'notifications'] });
    const stream = await open(streamUrl(token));
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(stream.headers.get('cache-control')).toContain('no-cache');
    const [first] = await stream.waitFor(1);
    expect(first).toEqual({ id: undefined, event: 'connected', data: '{"channels":["orders","notifications"]}' });
    expect(
      stream.text().startsWith('retry: 1000\nevent: connected\ndata: {"channels":["orders","notifications"]}\n\n'),
    ).toBe(true);
    expect(stream.text()).not.toContain('\r');
  });

  it('gives events unique ids that increase within a tenant, across channels, with one data line each', async () => {
    const { token } = await issueToken(server, { channels: ['ids:a', 'ids:b'] });
    const stream = await open(streamUrl(token));
    await stream.waitFor(1);
    const sent: string[] = [];
    for (let i = 0; i < 30; i++) {
      const res = await publish(server, { channel: i % 2 ? 'ids:a' : 'ids:b', event: 'tick', data: { i } });
      sent.push(res.body.eventId);
    }
    const events = (await stream.waitFor(31)).slice(1);
    expect(events.map((e) => e.id)).toEqual(sent);
    expect(events.map((e) => JSON.parse(e.data).i)).toEqual([...Array(30).keys()]);
    expect(new Set(sent).size).toBe(30);
    const positions = sent.map((id) => {
      const m = /^(\d+)-(\d+)\/(ids:[ab])$/.exec(id);
      expect(m, id).not.toBeNull();
      return [Number(m?.[1]), Number(m?.[2])] as const;
    });
    for (let i = 1; i < positions.length; i++) {
      const [a, b] = [positions[i - 1], positions[i]] as [readonly [number, number], readonly [number, number]];
      expect(a[0] < b[0] || (a[0] === b[0] && a[1] < b[1])).toBe(true);
    }
    const dataLines = stream
      .text()
      .split('\n')
      .filter((l) => l.startsWith('data:'));
    expect(dataLines).toHaveLength(31);
  });

  it('sends heartbeat comments at the configured interval', async () => {
    const { token } = await issueToken(server, { channels: ['quiet'] });
    const stream = await open(streamUrl(token));
    await stream.waitFor(1);
    const deadline = Date.now() + 5000;
    while (stream.comments.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(stream.comments.length).toBeGreaterThanOrEqual(2);
    expect(stream.comments[0]?.trim()).toBe('hb');
    expect(stream.text()).toContain('\n: hb\n\n');
  });

  it('applies a types= filter of names and prefix.* on the server', async () => {
    const { token } = await issueToken(server, { channels: ['tickets'] });
    const filtered = await open(streamUrl(token, `&types=${encodeURIComponent('order.created,ticket.*')}`));
    const all = await open(streamUrl(token));
    await Promise.all([filtered.waitFor(1), all.waitFor(1)]);
    const names = [
      'ticket.created',
      'order.created',
      'order.updated',
      'ticket.comment.added',
      'tickets.x',
      'ticket',
      'done',
    ];
    const delivered: number[] = [];
    for (const event of names)
      delivered.push((await publish(server, { channel: 'tickets', event, data: {} })).body.delivered);
    await all.waitFor(1 + names.length);
    expect(delivered).toEqual([2, 2, 1, 2, 1, 1, 1]);
    expect(filtered.events.slice(1).map((e) => e.event)).toEqual([
      'ticket.created',
      'order.created',
      'ticket.comment.added',
    ]);
    // Nothing was held back on the wire either.
    expect(filtered.text()).not.toContain('order.updated');
  });

  it('accepts the token in an Authorization: Bearer header', async () => {
    const { token } = await issueToken(server, { channels: ['bearer'] });
    const stream = await open(`${server.url}/push/stream`, { authorization: `Bearer ${token}` });
    expect(stream.status).toBe(200);
    await stream.waitFor(1);
    expect((await publish(server, { channel: 'bearer', event: 'x', data: 1 })).body.delivered).toBe(1);
    expect((await stream.waitFor(2))[1]?.data).toBe('1');
  });

  it('closes the stream when the token expires, with a final expired event', async () => {
    // 2 s: lifetimes count from a floored issue time, so a 1 s token can be born nearly expired.
    const { token, expiresAt } = await issueToken(server, { channels: ['expiring'], ttlSeconds: 2 });
    const stream = await open(streamUrl(token));
    await stream.waitFor(1);
    await stream.ended;
    const last = stream.events[stream.events.length - 1];
    expect(last?.event).toBe('expired');
    const data = JSON.parse(last?.data ?? '{}') as { reason: string; expiredAt: string };
    expect(data.reason).toBe('token_expired');
    expect(Date.parse(data.expiredAt)).toBe(Date.parse(expiresAt));
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(expiresAt));
    // The expired token is then refused.
    const again = await open(streamUrl(token));
    expect(again.status).toBe(401);
    expect(JSON.parse(again.text())).toEqual({ error: { code: 'TOKEN_EXPIRED', message: expect.any(String) } });
  });
});

describe('tenants', () => {
  it('never deliver an event of one tenant to another on the same channel name', async () => {
    const acme = await issueToken(server, { channels: ['orders:shared'] }, server.tenants.acme);
    const globex = await issueToken(server, { channels: ['orders:shared'] }, server.tenants.globex);
    const a = await open(streamUrl(acme.token));
    const g = await open(streamUrl(globex.token));
    await Promise.all([a.waitFor(1), g.waitFor(1)]);
    const fromGlobex = await publish(
      server,
      { channel: 'orders:shared', event: 'x', data: { from: 'globex' } },
      { apiKey: server.tenants.globex },
    );
    const fromAcme = await publish(server, { channel: 'orders:shared', event: 'x', data: { from: 'acme' } });
    expect(fromGlobex.body.delivered).toBe(1);
    expect(fromAcme.body.delivered).toBe(1);
    const [, ga] = await g.waitFor(2);
    const [, aa] = await a.waitFor(2);
    expect(JSON.parse(ga?.data ?? '')).toEqual({ from: 'globex' });
    expect(JSON.parse(aa?.data ?? '')).toEqual({ from: 'acme' });
    // A third event on acme proves globex's stream saw nothing more in the meantime.
    await publish(server, { channel: 'orders:shared', event: 'y', data: {} });
    await a.waitFor(3);
    await publish(server, { channel: 'orders:shared', event: 'y', data: {} }, { apiKey: server.tenants.globex });
    await g.waitFor(3);
    expect(g.events.map((e) => JSON.parse(e.data).from)).toEqual([undefined, 'globex', undefined]);
  });

  it('list only their own sessions, by channel and by userId', async () => {
    const u1 = await issueToken(server, { channels: ['room:1', 'user:u1'], userId: 'u1' });
    const u2 = await issueToken(server, { channels: ['room:1'], userId: 'u2' });
    const other = await issueToken(server, { channels: ['room:1'], userId: 'u1' }, server.tenants.globex);
    const s = await Promise.all([open(streamUrl(u1.token)), open(streamUrl(u2.token)), open(streamUrl(other.token))]);
    await Promise.all(s.map((x) => x.waitFor(1)));
    const list = async (q: string, key = server.apiKey) => {
      const res = await fetch(`${server.url}/push/sessions?${q}`, { headers: { authorization: `Bearer ${key}` } });
      expect(res.status).toBe(200);
      return (
        (await res.json()) as {
          sessions: Array<{ id: string; userId: string | null; channels: string[]; connectedAt: string }>;
        }
      ).sessions;
    };
    const room = await list('channel=room:1');
    expect(room.map((x) => x.userId).sort()).toEqual(['u1', 'u2']);
    for (const x of room) {
      expect(Object.keys(x).sort()).toEqual(['channels', 'connectedAt', 'id', 'userId']);
      expect(Number.isNaN(Date.parse(x.connectedAt))).toBe(false);
    }
    const byUser = await list('userId=u1');
    expect(byUser).toHaveLength(1);
    expect(byUser[0]?.channels).toEqual(['room:1', 'user:u1']);
    expect((await list('userId=u1', server.tenants.globex)).map((x) => x.channels)).toEqual([['room:1']]);
    s[1]?.close();
    await s[1]?.ended;
    const deadline = Date.now() + 5000;
    let after = await list('channel=room:1');
    while (after.length > 1 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 25));
      after = await list('channel=room:1');
    }
    expect(after.map((x) => x.userId)).toEqual(['u1']);
  });
});

describe('publishing', () => {
  it('counts delivered as the connections that received the event', async () => {
    const { token } = await issueToken(server, { channels: ['count'] });
    expect((await publish(server, { channel: 'count', event: 'x', data: 0 })).body.delivered).toBe(0);
    const a = await open(streamUrl(token));
    const b = await open(streamUrl(token));
    await Promise.all([a.waitFor(1), b.waitFor(1)]);
    expect((await publish(server, { channel: 'count', event: 'x', data: 1 })).body.delivered).toBe(2);
    expect((await publish(server, { channel: 'count-other', event: 'x', data: 1 })).body.delivered).toBe(0);
  });

  it('publishes a batch in order, one result per event', async () => {
    const { token } = await issueToken(server, { channels: ['batch:a', 'batch:b'] });
    const stream = await open(streamUrl(token));
    await stream.waitFor(1);
    const events = Array.from({ length: 100 }, (_, i) => ({
      channel: i % 2 ? 'batch:a' : 'batch:b',
      event: 'n',
      data: { i },
    }));
    const res = await fetch(`${server.url}/push/publish/batch`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ events }),
    });
    expect(res.status).toBe(200);
    const { results } = (await res.json()) as {
      results: Array<{ messageId: string; eventId: string; delivered: number; creditsUsed: number }>;
    };
    expect(results).toHaveLength(100);
    expect(results.every((r) => r.delivered === 1 && r.creditsUsed === 0)).toBe(true);
    const got = (await stream.waitFor(101)).slice(1);
    expect(got.map((e) => JSON.parse(e.data).i)).toEqual([...Array(100).keys()]);
    expect(got.map((e) => e.id)).toEqual(results.map((r) => r.eventId));
  });

  it('validates a batch as a whole: one bad event or one too many publishes nothing', async () => {
    const { token } = await issueToken(server, { channels: ['batch:bad'] });
    const stream = await open(streamUrl(token));
    await stream.waitFor(1);
    const post = (events: unknown[]) =>
      fetch(`${server.url}/push/publish/batch`, {
        method: 'POST',
        headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ events }),
      });
    const good = { channel: 'batch:bad', event: 'ok', data: {} };
    const bad = await post([good, good, { channel: 'batch:bad', event: 'bad name', data: {} }]);
    expect(bad.status).toBe(400);
    const badBody = (await bad.json()) as { error: { code: string; message: string } };
    expect(badBody.error.code).toBe('INVALID_EVENT_NAME');
    expect(badBody.error.message).toContain('events[2]');
    const tooMany = await post(Array.from({ length: 101 }, () => good));
    expect(tooMany.status).toBe(400);
    expect(((await tooMany.json()) as { error: { code: string } }).error.code).toBe('BATCH_TOO_LARGE');
    // A marker event proves nothing from the refused batches arrived before it.
    await publish(server, { channel: 'batch:bad', event: 'marker', data: {} });
    const got = await stream.waitFor(2);
    expect(got[1]?.event).toBe('marker');
  });

  it('publishes an idempotency key once and answers the first result with duplicate: true', async () => {
    const { token } = await issueToken(server, { channels: ['idem'] });
    const stream = await open(streamUrl(token));
    await stream.waitFor(1);
    const body = { channel: 'idem', event: 'paid', data: { n: 1 }, idempotencyKey: 'pay-42' };
    const first = await publish(server, body);
    const again = await publish(server, body);
    const viaHeader = await publish(
      server,
      { channel: 'idem', event: 'paid', data: { n: 1 } },
      { headers: { 'Idempotency-Key': 'pay-42' } },
    );
    expect(first.body.duplicate).toBeUndefined();
    for (const dup of [again, viaHeader]) {
      expect(dup.status).toBe(200);
      expect(dup.body).toEqual({ ...first.body, duplicate: true });
    }
    const otherTenant = await publish(server, body, { apiKey: server.tenants.globex });
    expect(otherTenant.body.duplicate).toBeUndefined();
    await publish(server, { channel: 'idem', event: 'marker', data: {} });
    const got = await stream.waitFor(3);
    expect(got.slice(1).map((e) => e.event)).toEqual(['paid', 'marker']);
  });
});

describe('CORS', () => {
  it('answers a preflight for the stream with Authorization and Last-Event-ID from an allowed origin', async () => {
    const res = await fetch(`${server.url}/push/stream`, {
      method: 'OPTIONS',
      headers: {
        origin: ORIGIN,
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'authorization,last-event-id',
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    const allowed = (res.headers.get('access-control-allow-headers') ?? '').toLowerCase().split(/\s*,\s*/);
    expect(allowed).toEqual(expect.arrayContaining(['authorization', 'last-event-id']));
    expect(res.headers.get('access-control-allow-methods')).toContain('GET');
  });

  it('lets an allowed origin read the stream, and gives a disallowed origin no CORS headers', async () => {
    const { token } = await issueToken(server, { channels: ['cors'] });
    const ok = await open(`${server.url}/push/stream`, {
      origin: 'http://localhost:5173',
      authorization: `Bearer ${token}`,
    });
    expect(ok.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
    await ok.waitFor(1);
    const denied = await open(`${server.url}/push/stream`, {
      origin: 'https://evil.example',
      authorization: `Bearer ${token}`,
    });
    expect(denied.headers.get('access-control-allow-origin')).toBeNull();
    const pre = await fetch(`${server.url}/push/stream`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://evil.example',
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'authorization',
      },
    });
    expect(pre.headers.get('access-control-allow-origin')).toBeNull();
    expect(pre.headers.get('access-control-allow-headers')).toBeNull();
    const err = await fetch(`${server.url}/push/stream`, { headers: { origin: ORIGIN } });
    expect(err.status).toBe(401);
    expect(err.headers.get('access-control-allow-origin')).toBe(ORIGIN);
  });
});
