import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type TestCluster } from './helpers/cluster.js';
import { startPrivateRedis, type PrivateRedis } from './helpers/redis.js';
import { issueToken, startServer, type TestServer } from './helpers/server.js';
import { openConnected, type RawStream } from './helpers/sse.js';

// Revocation and disconnect (issue 14) on real server processes: one node on
// the memory broker, three nodes on the machine's Redis (own key prefix).

const streams: RawStream[] = [];
afterAll(() => {
  for (const s of streams) s.close();
});

type Node = Pick<TestServer, 'url' | 'apiKey'>;

async function post(
  node: Node,
  path: string,
  body: unknown,
  apiKey = node.apiKey,
): Promise<{ status: number; body: any }> {
  const res = await fetch(`${node.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

async function open(node: Node, token: string): Promise<RawStream> {
  const s = await openConnected(`${node.url}/push/stream?token=${encodeURIComponent(token)}`);
  streams.push(s);
  return s;
}

/** Opens a stream expecting a refusal; returns the status and error code. */
async function refused(node: Node, token: string): Promise<string> {
  const res = await fetch(`${node.url}/push/stream?token=${encodeURIComponent(token)}`);
  const body = (await res.json().catch(() => ({}))) as { error?: { code?: string } };
  return `${res.status} ${body.error?.code}`;
}

/** Resolves true when the server ended the stream within `ms`. */
async function endsWithin(s: RawStream, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const ended = await Promise.race([
    s.ended.then(() => true),
    new Promise<boolean>((r) => {
      timer = setTimeout(() => r(false), ms);
    }),
  ]);
  clearTimeout(timer);
  return ended;
}

/** The stream's last event, after which it ended within a second. */
async function lastEvent(s: RawStream): Promise<{ event: string; data: unknown }> {
  expect(await endsWithin(s, 1000)).toBe(true);
  const last = s.events.at(-1);
  return { event: last?.event as string, data: JSON.parse(last?.data ?? 'null') };
}

const REVOKED = { event: 'revoked', data: { reason: 'token_revoked' } };
const disconnected = (reconnect: boolean) => ({
  event: 'disconnected',
  data: { reason: 'disconnected_by_server', reconnect },
});

describe('revocation on one node (memory broker)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(() => server?.stop());

  it('revokes a user: the stream gets revoked then ends, the token is refused after, a token issued after works', async () => {
    const old = await issueToken(server, { channels: ['rv:orders'], userId: 'rv-u1' });
    const bystander = await open(
      server,
      (await issueToken(server, { channels: ['rv:orders'], userId: 'rv-u2' })).token,
    );
    const s = await open(server, old.token);
    expect(await post(server, '/push/revoke', { userId: 'rv-u1' })).toEqual({ status: 200, body: { revoked: 1 } });
    expect(await lastEvent(s)).toEqual(REVOKED);
    expect(await refused(server, old.token)).toBe('401 TOKEN_REVOKED');
    const fresh = await issueToken(server, { channels: ['rv:orders'], userId: 'rv-u1' });
    await open(server, fresh.token);
    expect(await endsWithin(bystander, 100)).toBe(false);
  });

  it("revokes one token by tokenId and a tenant's tokens by issuedBefore", async () => {
    const a = await issueToken(server, { channels: ['rv:a'], userId: 'rv-u3' });
    const b = await issueToken(server, { channels: ['rv:a'], userId: 'rv-u3' });
    const sa = await open(server, a.token);
    const sb = await open(server, b.token);
    expect(await post(server, '/push/revoke', { tokenId: a.tokenId })).toEqual({ status: 200, body: { revoked: 1 } });
    expect(await lastEvent(sa)).toEqual(REVOKED);
    expect(await endsWithin(sb, 100)).toBe(false);
    expect(await refused(server, a.token)).toBe('401 TOKEN_REVOKED');

    const cut = new Date().toISOString();
    const res = await post(server, '/push/revoke', { issuedBefore: cut });
    expect(res.status).toBe(200);
    expect(res.body.revoked).toBeGreaterThanOrEqual(1);
    expect(await lastEvent(sb)).toEqual(REVOKED);
    expect(await refused(server, b.token)).toBe('401 TOKEN_REVOKED');
    await open(server, (await issueToken(server, { channels: ['rv:a'] })).token);
  });

  it('disconnects with reconnect false (the default) and true, and only streams holding the channel', async () => {
    const t1 = await issueToken(server, { channels: ['rv:d1'], userId: 'rv-d' });
    const t2 = await issueToken(server, { channels: ['rv:d2'], userId: 'rv-d' });
    const s1 = await open(server, t1.token);
    const s2 = await open(server, t2.token);
    expect(await post(server, '/push/disconnect', { userId: 'rv-d', channel: 'rv:d2', reconnect: true })).toEqual({
      status: 200,
      body: { disconnected: 1 },
    });
    expect(await lastEvent(s2)).toEqual(disconnected(true));
    expect(await endsWithin(s1, 100)).toBe(false);
    expect(await post(server, '/push/disconnect', { userId: 'rv-d' })).toEqual({
      status: 200,
      body: { disconnected: 1 },
    });
    expect(await lastEvent(s1)).toEqual(disconnected(false));
    // Not a revocation: the same token opens a stream again.
    await open(server, t1.token);
  });

  it('answers bad input with 400 and what to fix', async () => {
    const empty = await fetch(`${server.url}/push/revoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.apiKey}` },
    });
    expect(empty.status).toBe(400);
    expect(((await empty.json()) as { error: { message: string } }).error.message).toMatch(/body/);
    const two = await post(server, '/push/revoke', { userId: 'u', tokenId: 't' });
    expect(two.status).toBe(400);
    expect(two.body.error.message).toMatch(/"tokenId" alone/);
    const wrong = await post(server, '/push/revoke', { issuedBefore: 12 });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error.message).toMatch(/ISO 8601/);
    const both = await post(server, '/push/disconnect', { userId: 'u', sessionId: 's' });
    expect(both).toMatchObject({ status: 400, body: { error: { code: 'BAD_REQUEST' } } });
    expect(both.body.error.message).toMatch(/not both/);
    const flag = await post(server, '/push/disconnect', { userId: 'u', reconnect: 1 });
    expect(flag.status).toBe(400);
    expect(flag.body.error.message).toMatch(/"reconnect" must be true or false/);
    expect((await post(server, '/push/revoke', { userId: 'u' }, 'sk_wrong_key_0000000000')).status).toBe(401);
  });
});

describe('revocation across three nodes on Redis', () => {
  let cluster: TestCluster;
  let nodes: TestServer[];
  const as = (node: TestServer, tenant = 'acme'): Node => ({
    url: node.url,
    apiKey: cluster.tenants[tenant] as string,
  });

  beforeAll(async () => {
    cluster = await startCluster({ size: 3 });
    nodes = cluster.nodes;
  });
  afterAll(() => cluster?.stop());

  it('revokes a user on every node: each stream gets revoked then ends, every node refuses the token, a later token works', async () => {
    const old = await issueToken(as(nodes[0]!), { channels: ['c:orders'], userId: 'u1' });
    const subs = await Promise.all(nodes.map((n) => open(as(n), old.token)));
    const bystander = await open(
      as(nodes[1]!),
      (await issueToken(as(nodes[1]!), { channels: ['c:orders'], userId: 'u2' })).token,
    );
    const sent = Date.now();
    expect(await post(as(nodes[2]!), '/push/revoke', { userId: 'u1' })).toEqual({ status: 200, body: { revoked: 3 } });
    await Promise.all(subs.map((s) => s.ended));
    // Every node closed its stream within a second of the request.
    expect(Date.now() - sent).toBeLessThan(1000);
    for (const s of subs) expect(await lastEvent(s)).toEqual(REVOKED);
    for (const n of nodes) expect(await refused(as(n), old.token)).toBe('401 TOKEN_REVOKED');
    expect(await endsWithin(bystander, 100)).toBe(false);
    const fresh = await issueToken(as(nodes[1]!), { channels: ['c:orders'], userId: 'u1' });
    for (const n of nodes) await open(as(n), fresh.token);
  });

  it('revokes one token by tokenId on every node, and a node that never served the tenant refuses it too', async () => {
    const t = await issueToken(as(nodes[0]!, 'globex'), { channels: ['c:tok'], userId: 'g1' });
    const keep = await issueToken(as(nodes[0]!, 'globex'), { channels: ['c:tok'], userId: 'g1' });
    const subs = await Promise.all(nodes.slice(0, 2).map((n) => open(as(n, 'globex'), t.token)));
    const kept = await open(as(nodes[0]!, 'globex'), keep.token);
    expect(await post(as(nodes[1]!, 'globex'), '/push/revoke', { tokenId: t.tokenId })).toEqual({
      status: 200,
      body: { revoked: 2 },
    });
    for (const s of subs) expect(await lastEvent(s)).toEqual(REVOKED);
    expect(await endsWithin(kept, 100)).toBe(false);
    for (const n of nodes) expect(await refused(as(n, 'globex'), t.token)).toBe('401 TOKEN_REVOKED');
  });

  it("revokes a tenant's tokens issued before a time on every node, not another tenant's", async () => {
    const old = await issueToken(as(nodes[0]!), { channels: ['c:all'] });
    const subs = await Promise.all(nodes.map((n) => open(as(n), old.token)));
    const other = await open(
      as(nodes[0]!, 'globex'),
      (await issueToken(as(nodes[0]!, 'globex'), { channels: ['c:all'] })).token,
    );
    await new Promise((r) => setTimeout(r, 5));
    const res = await post(as(nodes[0]!), '/push/revoke', { issuedBefore: new Date().toISOString() });
    expect(res.status).toBe(200);
    // The acme streams still open from the first test (3 of the later token, the bystander) are covered too.
    expect(res.body.revoked).toBe(7);
    for (const s of subs) expect(await lastEvent(s)).toEqual(REVOKED);
    expect(await endsWithin(other, 100)).toBe(false);
    for (const n of nodes) expect(await refused(as(n), old.token)).toBe('401 TOKEN_REVOKED');
    const fresh = await issueToken(as(nodes[2]!), { channels: ['c:all'] });
    await open(as(nodes[0]!), fresh.token);
  });

  it('disconnects a user on every node with reconnect true, then false, and only streams holding a channel', async () => {
    const a = await issueToken(as(nodes[0]!), { channels: ['c:d1'], userId: 'dx' });
    const b = await issueToken(as(nodes[0]!), { channels: ['c:d2', 'c:d1'], userId: 'dx' });
    const onA = await Promise.all(nodes.map((n) => open(as(n), a.token)));
    const onB = await Promise.all(nodes.map((n) => open(as(n), b.token)));
    expect(await post(as(nodes[1]!), '/push/disconnect', { userId: 'dx', channel: 'c:d2', reconnect: true })).toEqual({
      status: 200,
      body: { disconnected: 3 },
    });
    for (const s of onB) expect(await lastEvent(s)).toEqual(disconnected(true));
    for (const s of onA) expect(await endsWithin(s, 50)).toBe(false);
    expect(await post(as(nodes[2]!), '/push/disconnect', { userId: 'dx', reconnect: false })).toEqual({
      status: 200,
      body: { disconnected: 3 },
    });
    for (const s of onA) expect(await lastEvent(s)).toEqual(disconnected(false));
    expect(await post(as(nodes[0]!), '/push/disconnect', { userId: 'dx' })).toEqual({
      status: 200,
      body: { disconnected: 0 },
    });
  });

  it('disconnects one session by id, whichever node holds it', async () => {
    const t = await issueToken(as(nodes[0]!), { channels: ['c:sess'], userId: 'sx' });
    const s = await open(as(nodes[2]!), t.token);
    const other = await open(as(nodes[1]!), t.token);
    const listed = await fetch(`${nodes[0]!.url}/push/sessions?userId=sx`, {
      headers: { authorization: `Bearer ${cluster.tenants.acme}` },
    });
    const sessions = ((await listed.json()) as { sessions: Array<{ id: string }> }).sessions;
    expect(sessions).toHaveLength(2);
    // Which listed session is the one on node 2: disconnect one, check which stream ended.
    expect(await post(as(nodes[0]!), '/push/disconnect', { sessionId: sessions[0]!.id })).toEqual({
      status: 200,
      body: { disconnected: 1 },
    });
    const [endedS, endedOther] = await Promise.all([endsWithin(s, 1000), endsWithin(other, 1000)]);
    expect([endedS, endedOther].filter(Boolean)).toHaveLength(1);
  });
});

describe('revocation with Redis down', () => {
  let redis: PrivateRedis;
  let server: TestServer;
  beforeAll(async () => {
    redis = await startPrivateRedis();
    server = await startServer({ env: { CAST_REDIS_URL: redis.url, CAST_REDIS_PREFIX: 'cast-e2e-down' } });
  });
  afterAll(async () => {
    await server?.stop();
    await redis?.dispose();
  });

  it('answers 503 UNAVAILABLE on both routes while Redis is down', async () => {
    expect((await post(server, '/push/revoke', { userId: 'u1' })).status).toBe(200);
    await redis.stop();
    for (const [path, body] of [
      ['/push/revoke', { userId: 'u1' }],
      ['/push/disconnect', { userId: 'u1' }],
    ] as const) {
      const res = await post(server, path, body);
      expect(res.status, path).toBe(503);
      expect(res.body.error.code).toBe('UNAVAILABLE');
    }
  });
});
