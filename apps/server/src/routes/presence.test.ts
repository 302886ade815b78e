import { afterEach, describe, expect, it } from 'vitest';
import { createInProcessServer, type InProcessServer } from '../test-support.js';

const KEY = 'sk_test_0123456789abcdef';
const auth = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' };

const servers: InProcessServer[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

async function server(): Promise<InProcessServer> {
  const s = await createInProcessServer({ CAST_API_KEYS: `acme=${KEY}`, CAST_SIGNING_SECRET: 's'.repeat(32) });
  servers.push(s);
  return s;
}

async function error(res: Response): Promise<{ status: number; code: string; message: string }> {
  const body = (await res.json()) as { error: { code: string; message: string } };
  return { status: res.status, ...body.error };
}

describe('POST /push/tokens with presence', () => {
  it('signs presence and userInfo into the token', async () => {
    const s = await server();
    const res = await s.app.request('/push/tokens', {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ channels: ['room'], userId: 'ada', presence: true, userInfo: { name: 'Ada' } }),
    });
    expect(res.status).toBe(200);
    const { token } = (await res.json()) as { token: string };
    const grant = await s.deps.tokens.verify(token);
    expect(grant.presence).toBe(true);
    expect(JSON.parse(grant.userInfo as string)).toEqual({ name: 'Ada' });
  });

  it('refuses a userInfo that is not an object, too large, or without a userId, and a presence that is not a boolean', async () => {
    const s = await server();
    const post = (body: unknown) =>
      s.app.request('/push/tokens', { method: 'POST', headers: auth, body: JSON.stringify(body) });
    for (const userInfo of ['Ada', 42, ['a'], true]) {
      const e = await error(await post({ channels: ['room'], userId: 'ada', userInfo }));
      expect(e, JSON.stringify(userInfo)).toMatchObject({ status: 400, code: 'INVALID_USER_INFO' });
      expect(e.message).toContain('must be a JSON object');
    }
    const big = await error(await post({ channels: ['room'], userId: 'ada', userInfo: { bio: 'x'.repeat(1100) } }));
    expect(big).toMatchObject({ status: 400, code: 'INVALID_USER_INFO' });
    expect(big.message).toContain('at most 1024 bytes');
    // Exactly 1 KiB is fine.
    const fits = { b: 'x'.repeat(1024 - '{"b":""}'.length) };
    expect((await post({ channels: ['room'], userId: 'ada', userInfo: fits })).status).toBe(200);
    expect(await error(await post({ channels: ['room'], userInfo: { name: 'Ada' } }))).toMatchObject({
      status: 400,
      code: 'INVALID_USER_INFO',
    });
    const flag = await error(await post({ channels: ['room'], presence: 'yes' }));
    expect(flag).toMatchObject({ status: 400, code: 'BAD_REQUEST', message: '"presence" must be true or false.' });
  });
});

describe('GET /push/presence and /push/channels', () => {
  it('answer the members and the occupied channels', async () => {
    const s = await server();
    const { presence, broker } = s.deps;
    const at = new Date().toISOString();
    broker.addSession({ tenant: 'acme', id: 's1', userId: 'ada', channels: ['room:1'], connectedAt: at });
    presence?.opened({ tenant: 'acme', channels: ['room:1'], userId: 'ada', userInfo: '{"name":"Ada"}' });
    await presence?.settled('acme');
    const res = await s.app.request('/push/presence?channel=room:1', { headers: auth });
    expect(await res.json()).toEqual({
      channel: 'room:1',
      members: [{ userId: 'ada', userInfo: { name: 'Ada' }, connections: 1 }],
      connections: 1,
    });
    const list = await s.app.request('/push/channels?prefix=room', { headers: auth });
    expect(await list.json()).toEqual({ channels: [{ channel: 'room:1', connections: 1, users: 1 }], cursor: null });
  });

  it('pages with an opaque cursor', async () => {
    const s = await server();
    const { presence, broker } = s.deps;
    const at = new Date().toISOString();
    for (const ch of ['c', 'a', 'b']) {
      broker.addSession({ tenant: 'acme', id: ch, userId: null, channels: [ch], connectedAt: at });
      presence?.opened({ tenant: 'acme', channels: [ch], userId: null, userInfo: null });
    }
    await presence?.settled('acme');
    const seen: string[] = [];
    let cursor: string | null = '';
    for (let i = 0; i < 5 && cursor !== null; i++) {
      const res = await s.app.request(`/push/channels?limit=2${cursor ? `&cursor=${cursor}` : ''}`, { headers: auth });
      const body = (await res.json()) as { channels: Array<{ channel: string }>; cursor: string | null };
      seen.push(...body.channels.map((c) => c.channel));
      cursor = body.cursor;
    }
    expect(seen).toEqual(['a', 'b', 'c']);
  });

  it('answer bad input with 400 and what to fix, and no key with 401', async () => {
    const s = await server();
    const get = async (path: string) => error(await s.app.request(path, { headers: auth }));
    expect(await get('/push/presence')).toMatchObject({
      status: 400,
      code: 'BAD_REQUEST',
      message: '"channel" is required.',
    });
    expect(await get('/push/presence?channel=no%20spaces')).toMatchObject({ status: 400, code: 'INVALID_CHANNEL' });
    expect((await get('/push/channels?prefix=%20x')).message).toContain('"prefix" must be the start of a channel name');
    expect((await get('/push/channels?cursor=!!')).message).toContain('"cursor" is not one this server gave');
    expect((await get('/push/channels?limit=0')).message).toContain('"limit" must be a whole number from 1 to 1000');
    expect((await get('/push/channels?limit=abc')).status).toBe(400);
    expect((await s.app.request('/push/presence?channel=room')).status).toBe(401);
    expect((await s.app.request('/push/channels')).status).toBe(401);
    expect((await s.app.request('/push/channels', { method: 'POST', headers: auth })).status).toBe(405);
  });

  it('refuses to publish the presence event names', async () => {
    const s = await server();
    for (const event of ['presence.sync', 'presence.join', 'presence.leave']) {
      const res = await s.app.request('/push/publish', {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ channel: 'room', event, data: {} }),
      });
      expect(await error(res), event).toMatchObject({ status: 400, code: 'RESERVED_EVENT_NAME' });
    }
  });
});
