import { afterEach, describe, expect, it } from 'vitest';
import type { LifecycleEvent } from '../lifecycle.js';
import { createInProcessServer, type InProcessServer } from '../test-support.js';
import { readRevocation } from './revoke.js';

const KEY = 'sk_test_0123456789abcdef';
const servers: InProcessServer[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

async function setup() {
  const events: LifecycleEvent[] = [];
  const server = await createInProcessServer(
    { CAST_API_KEYS: `acme=${KEY},globex=sk_test_globex_0123456789`, CAST_SIGNING_SECRET: 's'.repeat(32) },
    { lifecycle: { lifecycle: (e) => events.push(e) } },
  );
  servers.push(server);
  const { app, deps } = server;
  const post = async (path: string, body: unknown, key = KEY) => {
    const res = await app.request(path, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return {
      status: res.status,
      body: (await res.json()) as Record<string, unknown> & { error?: { code: string; message: string } },
    };
  };
  const token = async (userId?: string, channels = ['orders']) => {
    const res = await post('/push/tokens', { channels, ...(userId ? { userId } : {}) });
    expect(res.status).toBe(200);
    return res.body as { token: string; tokenId: string };
  };
  return { app, deps, events, post, token };
}

/** Opens a stream and reads frames as text until the server ends it (or `limit` reads). */
async function open(app: InProcessServer['app'], token: string) {
  const res = await app.request(`/push/stream?token=${encodeURIComponent(token)}`);
  let text = '';
  let ended = false;
  const reader = res.status === 200 ? (res.body as ReadableStream<Uint8Array>).getReader() : undefined;
  const decoder = new TextDecoder();
  const pump = (async () => {
    if (!reader) return;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    ended = true;
  })().catch(() => {});
  return {
    res,
    text: () => text,
    ended: () => ended,
    done: pump,
    async until(needle: string) {
      for (let i = 0; i < 200 && !text.includes(needle); i++) await new Promise((r) => setTimeout(r, 5));
      expect(text).toContain(needle);
    },
    cancel: () => reader?.cancel().catch(() => {}),
  };
}

describe('POST /push/revoke', () => {
  it("ends the user's streams with a final revoked event, refuses the token after, and lets a token issued after work", async () => {
    const { app, post, token, events } = await setup();
    const before = await token('u1', ['orders', 'user:u1']);
    const bystander = await token('u2');
    const s1 = await open(app, before.token);
    const s2 = await open(app, bystander.token);
    await s1.until('event: connected');
    await s2.until('event: connected');

    const res = await post('/push/revoke', { userId: 'u1' });
    expect(res).toEqual({ status: 200, body: { revoked: 1 } });
    await s1.done;
    expect(s1.ended()).toBe(true);
    expect(s1.text().endsWith('event: revoked\ndata: {"reason":"token_revoked"}\n\n')).toBe(true);
    expect(s2.ended()).toBe(false);
    expect(events.map((e) => [e.type, e.tenant, e.channel, e.userId])).toEqual([
      ['connection.revoked', 'acme', 'orders', 'u1'],
      ['connection.revoked', 'acme', 'user:u1', 'u1'],
    ]);

    const again = await app.request(`/push/stream?token=${encodeURIComponent(before.token)}`);
    expect(again.status).toBe(401);
    expect(((await again.json()) as { error: { code: string } }).error.code).toBe('TOKEN_REVOKED');
    // Resuming is refused the same way.
    const resumed = await app.request(`/push/stream?token=${encodeURIComponent(before.token)}`, {
      headers: { 'last-event-id': '1-0/orders' },
    });
    expect(resumed.status).toBe(401);

    // The user signs in again: a token issued after the revocation works.
    await new Promise((r) => setTimeout(r, 2));
    const after = await token('u1');
    const s3 = await open(app, after.token);
    expect(s3.res.status).toBe(200);
    await s3.until('event: connected');
    s2.cancel();
    s3.cancel();
  });

  it("revokes one token by tokenId, leaving the user's other tokens", async () => {
    const { app, post, token } = await setup();
    const one = await token('u1');
    const other = await token('u1');
    const s1 = await open(app, one.token);
    const s2 = await open(app, other.token);
    await s1.until('event: connected');
    await s2.until('event: connected');
    expect(await post('/push/revoke', { tokenId: one.tokenId })).toEqual({ status: 200, body: { revoked: 1 } });
    await s1.done;
    expect(s1.text()).toContain('event: revoked');
    expect(s2.ended()).toBe(false);
    expect((await app.request(`/push/stream?token=${encodeURIComponent(one.token)}`)).status).toBe(401);
    s2.cancel();
  });

  it("revokes a tenant's tokens issued before a time, not another tenant's", async () => {
    const { app, post, token } = await setup();
    const acme = await token();
    const globex = await post('/push/tokens', { channels: ['orders'] }, 'sk_test_globex_0123456789');
    const s1 = await open(app, acme.token);
    const s2 = await open(app, (globex.body as { token: string }).token);
    await s1.until('event: connected');
    await s2.until('event: connected');
    const res = await post('/push/revoke', { issuedBefore: new Date(Date.now() + 1000).toISOString() });
    expect(res).toEqual({ status: 200, body: { revoked: 1 } });
    await s1.done;
    expect(s2.ended()).toBe(false);
    s2.cancel();
  });

  it('answers bad input with 400 and a message that says what to fix', async () => {
    const { post } = await setup();
    const cases: Array<[unknown, RegExp]> = [
      ['', /empty/],
      [{}, /userId.*tokenId.*issuedBefore/],
      [{ unknown: 1 }, /userId.*tokenId.*issuedBefore/],
      [{ userId: 'u1', tokenId: 't1' }, /"tokenId" alone/],
      [{ tokenId: 't1', issuedBefore: '2026-01-01T00:00:00Z' }, /"tokenId" alone/],
      [{ userId: 42 }, /"userId" must be a string/],
      [{ tokenId: 42 }, /"tokenId" must be a string/],
      [{ tokenId: '' }, /"tokenId" must be a string/],
      [{ issuedBefore: 'yesterday' }, /ISO 8601/],
      [{ issuedBefore: '2026-01-01T00:00:00' }, /ISO 8601/],
      [{ issuedBefore: 1735689600000 }, /ISO 8601/],
      [{ issuedBefore: '2999-01-01T00:00:00Z' }, /future/],
      [[], /JSON object/],
    ];
    for (const [body, message] of cases) {
      const res = await post('/push/revoke', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error?.code).toBe('BAD_REQUEST');
      expect(res.body.error?.message, JSON.stringify(body)).toMatch(message);
    }
    expect((await post('/push/revoke', '{"userId":')).body.error?.code).toBe('INVALID_JSON');
    // Unknown fields are ignored.
    expect((await post('/push/revoke', { userId: 'u1', note: 'x' })).status).toBe(200);
  });

  it('needs a secret API key', async () => {
    const { app } = await setup();
    const res = await app.request('/push/revoke', {
      method: 'POST',
      body: '{"userId":"u1"}',
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(401);
    const get = await app.request('/push/revoke', { headers: { authorization: `Bearer ${KEY}` } });
    expect(get.status).toBe(405);
  });
});

describe('the time rule at the boundary, on the stream route', () => {
  /** A token signed as another JWT library would, with the given claims and iat (seconds). */
  async function signed(claims: Record<string, unknown>, iat = Math.floor(Date.now() / 1000)) {
    const { SignJWT } = await import('jose');
    return new SignJWT({ tid: 'acme', chs: ['orders'], sub: 'u1', ...claims })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer('cast')
      .setAudience('cast:stream')
      .setIssuedAt(iat)
      .setExpirationTime(iat + 600)
      .sign(new TextEncoder().encode('s'.repeat(32)));
  }

  it('refuses a token issued one millisecond before the revocation time and accepts one issued at it', async () => {
    const { app, post } = await setup();
    const before = Date.now() - 2000;
    expect((await post('/push/revoke', { userId: 'u1', issuedBefore: new Date(before).toISOString() })).status).toBe(
      200,
    );
    const earlier = await app.request(
      `/push/stream?token=${await signed({ ims: before - 1 }, Math.floor((before - 1) / 1000))}`,
    );
    expect(earlier.status).toBe(401);
    expect(((await earlier.json()) as { error: { code: string } }).error.code).toBe('TOKEN_REVOKED');
    const same = await app.request(`/push/stream?token=${await signed({ ims: before }, Math.floor(before / 1000))}`);
    expect(same.status).toBe(200);
    await same.body?.cancel();
  });

  it('counts a token without ims as issued at the start of its iat second', async () => {
    const { app, post } = await setup();
    const iat = Math.floor(Date.now() / 1000);
    const token = await signed({}, iat);
    const iatMs = iat * 1000;
    // A revocation one millisecond into the token's second covers it; one at the second's start does not.
    expect((await post('/push/revoke', { userId: 'u1', issuedBefore: new Date(iatMs).toISOString() })).status).toBe(
      200,
    );
    const open1 = await app.request(`/push/stream?token=${token}`);
    expect(open1.status).toBe(200);
    await open1.body?.cancel();
    expect((await post('/push/revoke', { userId: 'u1', issuedBefore: new Date(iatMs + 1).toISOString() })).status).toBe(
      200,
    );
    expect((await app.request(`/push/stream?token=${token}`)).status).toBe(401);
  });

  it('counts revoked and disconnected streams in /metrics', async () => {
    const { app, post, token } = await setup();
    const s1 = await open(app, (await token('m1')).token);
    await s1.until('event: connected');
    await post('/push/disconnect', { userId: 'm1' });
    const s2 = await open(app, (await token('m1')).token);
    await s2.until('event: connected');
    await post('/push/revoke', { userId: 'm1' });
    await s2.done;
    const text = await (await app.request('/metrics')).text();
    expect(text).toContain('cast_streams_revoked_total 1\n');
    expect(text).toContain('cast_streams_disconnected_total 1\n');
  });
});

describe('readRevocation (the revocation time rule)', () => {
  const NOW = Date.parse('2026-06-01T12:00:00.500Z');

  it("revokes a user at the server's time now, or before the given time", () => {
    expect(readRevocation({ userId: 'u1' }, NOW)).toEqual({ kind: 'user', userId: 'u1', before: NOW });
    expect(readRevocation({ userId: 'u1', issuedBefore: '2026-06-01T11:00:00.250Z' }, NOW)).toEqual({
      kind: 'user',
      userId: 'u1',
      before: Date.parse('2026-06-01T11:00:00.250Z'),
    });
    expect(readRevocation({ issuedBefore: '2026-06-01T13:00:00+01:00' }, NOW)).toEqual({
      kind: 'all',
      before: Date.parse('2026-06-01T12:00:00Z'),
    });
    expect(readRevocation({ tokenId: 'tok' }, NOW)).toEqual({ kind: 'token', tokenId: 'tok', at: NOW });
  });

  it('counts an issuedBefore up to a minute ahead (clock skew) as now, and refuses one further ahead', () => {
    expect(readRevocation({ issuedBefore: new Date(NOW + 60_000).toISOString() }, NOW)).toEqual({
      kind: 'all',
      before: NOW,
    });
    expect(() => readRevocation({ issuedBefore: new Date(NOW + 60_001).toISOString() }, NOW)).toThrow(/future/);
  });
});

describe('POST /push/disconnect', () => {
  it("closes a user's streams with disconnected and reconnect false by default, and the token still works", async () => {
    const { app, post, token, events } = await setup();
    const t = await token('u1');
    const s1 = await open(app, t.token);
    await s1.until('event: connected');
    expect(await post('/push/disconnect', { userId: 'u1' })).toEqual({ status: 200, body: { disconnected: 1 } });
    await s1.done;
    expect(
      s1.text().endsWith('event: disconnected\ndata: {"reason":"disconnected_by_server","reconnect":false}\n\n'),
    ).toBe(true);
    expect(events.map((e) => e.type)).toEqual(['connection.revoked']);
    // A disconnect is not a revocation.
    const s2 = await open(app, t.token);
    expect(s2.res.status).toBe(200);
    s2.cancel();
  });

  it('closes one session, or only the streams holding a channel, and says reconnect true when asked', async () => {
    const { app, deps, post, token } = await setup();
    const orders = await open(app, (await token('u1', ['orders'])).token);
    const tickets = await open(app, (await token('u1', ['tickets'])).token);
    await orders.until('event: connected');
    await tickets.until('event: connected');
    expect(await post('/push/disconnect', { userId: 'u1', channel: 'tickets', reconnect: true })).toEqual({
      status: 200,
      body: { disconnected: 1 },
    });
    await tickets.done;
    expect(tickets.text()).toContain('data: {"reason":"disconnected_by_server","reconnect":true}');
    expect(orders.ended()).toBe(false);
    const [session] = await deps.broker.listSessions('acme', { userId: 'u1' });
    expect(await post('/push/disconnect', { sessionId: session?.id })).toEqual({
      status: 200,
      body: { disconnected: 1 },
    });
    await orders.done;
    expect(await post('/push/disconnect', { sessionId: session?.id })).toEqual({
      status: 200,
      body: { disconnected: 0 },
    });
  });

  it('answers bad input with 400 and a message that says what to fix', async () => {
    const { post } = await setup();
    const cases: Array<[unknown, RegExp]> = [
      ['', /empty/],
      [{}, /"userId"\} or \{"sessionId"\}/],
      [{ channel: 'orders' }, /"userId"\} or \{"sessionId"\}/],
      [{ userId: 'u1', sessionId: 's1' }, /not both/],
      [{ userId: 'u1', reconnect: 'yes' }, /"reconnect" must be true or false/],
      [{ userId: ['u1'] }, /"userId" must be a string/],
      [{ sessionId: 7 }, /"sessionId" must be a string/],
      [{ userId: 'u1', channel: 5 }, /"channel" must be a string/],
    ];
    for (const [body, message] of cases) {
      const res = await post('/push/disconnect', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error?.message, JSON.stringify(body)).toMatch(message);
    }
    expect((await post('/push/disconnect', { userId: 'u1', channel: 'bad channel!' })).body.error?.code).toBe(
      'INVALID_CHANNEL',
    );
  });
});
