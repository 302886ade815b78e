import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startCluster, type TestCluster } from './helpers/cluster.js';
import { REDIS_BACKENDS, type RedisBackend } from './helpers/redis-cluster.js';
import { startPrivateRedis } from './helpers/redis.js';
import { issueToken, publish, startServer, type TestServer } from './helpers/server.js';
import { openRaw, type RawEvent, type RawStream } from './helpers/sse.js';

interface Member {
  userId: string;
  userInfo: Record<string, unknown> | null;
  connections: number;
}

const GRACE_MS = 600;
const NODE_TTL_MS = 900;
const streams: RawStream[] = [];
afterAll(() => {
  for (const s of streams) s.close();
});

async function open(
  node: Pick<TestServer, 'url' | 'apiKey'>,
  body: Parameters<typeof issueToken>[1],
  lastEventId?: string,
): Promise<RawStream> {
  const { token } = await issueToken(node, body);
  const s = await openRaw(
    `${node.url}/push/stream?token=${encodeURIComponent(token)}`,
    lastEventId ? { 'last-event-id': lastEventId } : {},
  );
  streams.push(s);
  expect(s.status).toBe(200);
  await s.waitFor(1);
  return s;
}

const presenceEvents = (s: RawStream, channel = 'room') =>
  s.events.filter(
    (e) => e.event.startsWith('presence.') && (JSON.parse(e.data) as { channel: string }).channel === channel,
  );

/** The membership a client keeps: the last sync, then the joins and leaves after it. */
function membership(s: RawStream, channel = 'room'): string[] {
  let members = new Set<string>();
  for (const e of presenceEvents(s, channel)) {
    const data = JSON.parse(e.data) as { userId?: string; members?: Member[] };
    if (e.event === 'presence.sync') members = new Set((data.members ?? []).map((m) => m.userId));
    if (e.event === 'presence.join') members.add(data.userId as string);
    if (e.event === 'presence.leave') members.delete(data.userId as string);
  }
  return [...members].sort();
}

async function getPresence(
  node: Pick<TestServer, 'url' | 'apiKey'>,
  channel = 'room',
): Promise<{ channel: string; members: Member[]; connections: number }> {
  const res = await fetch(`${node.url}/push/presence?channel=${channel}`, {
    headers: { authorization: `Bearer ${node.apiKey}` },
  });
  expect(res.status).toBe(200);
  return (await res.json()) as { channel: string; members: Member[]; connections: number };
}

const users = (p: { members: Member[] }) => p.members.map((m) => m.userId).sort();
const changes = (s: RawStream, channel = 'room') =>
  presenceEvents(s, channel)
    .filter((e) => e.event !== 'presence.sync')
    .map((e) => `${e.event.slice(9)} ${JSON.parse(e.data).userId}`);

/** How often a stream saw each join and leave (`{"join bob": 1}`), so that a duplicate of any of them shows. */
function tally(s: RawStream, channel = 'room'): Record<string, number> {
  const out: Record<string, number> = {};
  for (const change of changes(s, channel)) out[change] = (out[change] ?? 0) + 1;
  return out;
}

/** The users of a stream's syncs, one list per sync. */
const syncs = (s: RawStream, channel = 'room') =>
  presenceEvents(s, channel)
    .filter((e) => e.event === 'presence.sync')
    .map((e) => ((JSON.parse(e.data) as { members: Member[] }).members ?? []).map((m) => m.userId).sort());

/** Resolves with the time the stream receives a matching join or leave. */
async function arrival(s: RawStream, change: string, channel = 'room', timeoutMs = 10_000): Promise<number> {
  await s.waitFor(1, {
    timeoutMs,
    match: (e) =>
      e.event.startsWith('presence.') &&
      `${e.event.slice(9)} ${(JSON.parse(e.data) as { userId?: string }).userId}` === change &&
      (JSON.parse(e.data) as { channel: string }).channel === channel,
  });
  return Date.now();
}

describe('presence on one node', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ env: { CAST_PRESENCE_GRACE_MS: String(GRACE_MS) } });
  });
  afterAll(() => server?.stop());

  it('syncs, then joins and leaves once per user, equal to GET /push/presence at every point; streams without presence get none', async () => {
    const ada = await open(server, { channels: ['room'], userId: 'ada', presence: true, userInfo: { name: 'Ada' } });
    await ada.waitFor(2);
    const sync = ada.events[1] as RawEvent;
    expect(sync.event).toBe('presence.sync');
    expect(JSON.parse(sync.data)).toEqual({
      channel: 'room',
      members: [{ userId: 'ada', userInfo: { name: 'Ada' }, connections: 1 }],
    });
    expect(sync.id).toMatch(/^\d+-\d+\/room$/);
    expect(membership(ada)).toEqual(users(await getPresence(server)));

    // A user without the presence flag counts as present but gets no presence traffic.
    const carol = await open(server, { channels: ['room'], userId: 'carol' });
    await vi.waitFor(() => expect(membership(ada)).toEqual(['ada', 'carol']));
    expect(membership(ada)).toEqual(users(await getPresence(server)));
    const bob1 = await open(server, { channels: ['room'], userId: 'bob', presence: true });
    const bob2 = await open(server, { channels: ['room'], userId: 'bob', presence: true });
    await vi.waitFor(() => expect(membership(ada)).toEqual(['ada', 'bob', 'carol']));
    await bob2.waitFor(2);
    expect(membership(bob2)).toEqual(['ada', 'bob', 'carol']);
    const now = await getPresence(server);
    expect(membership(ada)).toEqual(users(now));
    expect(now.members.find((m) => m.userId === 'bob')?.connections).toBe(2);
    expect(now.connections).toBe(4);

    // One of bob's two tabs closes: no leave. Both close: one leave after the grace period.
    bob1.close();
    await new Promise((r) => setTimeout(r, GRACE_MS * 2));
    expect(changes(ada)).toEqual(['join carol', 'join bob']);
    bob2.close();
    await vi.waitFor(() => expect(changes(ada)).toEqual(['join carol', 'join bob', 'leave bob']), { timeout: 5000 });
    expect(membership(ada)).toEqual(users(await getPresence(server)));

    const { status } = await publish(server, { channel: 'room', event: 'note', data: 1 });
    expect(status).toBe(200);
    await carol.waitFor(2);
    expect(carol.events.map((e) => e.event)).toEqual(['connected', 'note']);
  });

  it('changes nothing when a user reconnects within the grace period', async () => {
    const watcher = await open(server, { channels: ['grace'], userId: 'w', presence: true });
    const first = await open(server, { channels: ['grace'], userId: 'dan' });
    await vi.waitFor(() => expect(membership(watcher, 'grace')).toEqual(['dan', 'w']));
    const before = presenceEvents(watcher, 'grace').length;
    first.close();
    await new Promise((r) => setTimeout(r, GRACE_MS / 3));
    await open(server, { channels: ['grace'], userId: 'dan' });
    await new Promise((r) => setTimeout(r, GRACE_MS * 2));
    expect(presenceEvents(watcher, 'grace')).toHaveLength(before);
  });

  it('replays presence on resume: recovered streams get the missed joins and leaves without a new sync', async () => {
    const eve = await open(server, { channels: ['resume'], userId: 'eve', presence: true });
    await eve.waitFor(2);
    const lastId = eve.events[1]?.id as string;
    eve.close();
    await open(server, { channels: ['resume'], userId: 'fay' });
    const again = await open(server, { channels: ['resume'], userId: 'eve', presence: true }, lastId);
    await vi.waitFor(() => expect(membership(again, 'resume')).toContain('fay'));
    expect(JSON.parse(again.events[0]?.data as string)).toMatchObject({ recovered: true });
    expect(again.events.filter((e) => e.event === 'presence.sync')).toEqual([]);

    // Without presence, a resume replays the channel's other events but none of its presence events.
    await publish(server, { channel: 'resume', event: 'note', data: 1 });
    const plain = await open(server, { channels: ['resume'], userId: 'gil' }, lastId);
    await plain.waitFor(2);
    await new Promise((r) => setTimeout(r, 200));
    expect(plain.events.map((e) => e.event)).toEqual(['connected', 'note']);

    // A resume that cannot be recovered starts again from a sync.
    const lost = await open(server, { channels: ['resume'], userId: 'eve', presence: true }, '1-0/resume');
    await lost.waitFor(1, { match: (e) => e.event === 'presence.sync' });
    expect(JSON.parse(lost.events[0]?.data as string)).toMatchObject({ recovered: false });
    // What could be replayed comes in log order: the sync sits at its position, after the older events, with no presence event before it.
    expect(lost.events.map((e) => e.event)).toEqual(['connected', 'note', 'presence.sync']);
    expect(membership(lost, 'resume')).toEqual(users(await getPresence(server, 'resume')));
  });

  it('answers bad input on the presence fields and routes with 400 and what to fix', async () => {
    const post = async (body: string) => {
      const res = await fetch(`${server.url}/push/tokens`, {
        method: 'POST',
        headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' },
        body,
      });
      return { status: res.status, error: ((await res.json()) as { error: { code: string; message: string } }).error };
    };
    const get = async (path: string) => {
      const res = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${server.apiKey}` } });
      return { status: res.status, error: ((await res.json()) as { error: { code: string; message: string } }).error };
    };
    expect(await post(JSON.stringify({ channels: ['room'], userId: 'ada', userInfo: 'Ada' }))).toMatchObject({
      status: 400,
      error: { code: 'INVALID_USER_INFO', message: expect.stringContaining('"userInfo" must be a JSON object') },
    });
    expect(
      await post(JSON.stringify({ channels: ['room'], userId: 'ada', userInfo: { bio: 'x'.repeat(2000) } })),
    ).toMatchObject({
      status: 400,
      error: { code: 'INVALID_USER_INFO', message: expect.stringContaining('at most 1024 bytes') },
    });
    expect(await post(JSON.stringify({ channels: ['room'], presence: 1 }))).toMatchObject({
      status: 400,
      error: { code: 'BAD_REQUEST', message: '"presence" must be true or false.' },
    });
    expect((await post('')).status).toBe(400);
    expect(await get('/push/presence')).toMatchObject({
      status: 400,
      error: { code: 'BAD_REQUEST', message: '"channel" is required.' },
    });
    expect(await get('/push/channels?limit=5000')).toMatchObject({
      status: 400,
      error: { message: expect.stringContaining('"limit" must be a whole number from 1 to 1000') },
    });
    expect(await get('/push/channels?cursor=nonsense%20')).toMatchObject({
      status: 400,
      error: { message: expect.stringContaining('"cursor" is not one this server gave') },
    });
    expect(await publish(server, { channel: 'room', event: 'presence.join', data: {} })).toMatchObject({
      status: 400,
      body: { error: { code: 'RESERVED_EVENT_NAME' } },
    });
  });

  it('lists occupied channels by prefix, page by page', async () => {
    for (const ch of ['list:c', 'list:a', 'list:b']) await open(server, { channels: [ch], userId: `u-${ch}` });
    const seen: Array<{ channel: string; connections: number; users: number }> = [];
    let cursor: string | null = null;
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${server.url}/push/channels?prefix=list:&limit=2${cursor ? `&cursor=${cursor}` : ''}`, {
        headers: { authorization: `Bearer ${server.apiKey}` },
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { channels: typeof seen; cursor: string | null };
      seen.push(...body.channels);
      cursor = body.cursor;
      if (cursor === null) break;
    }
    expect(seen).toEqual(['list:a', 'list:b', 'list:c'].map((channel) => ({ channel, connections: 1, users: 1 })));
  });
});

describe.each(REDIS_BACKENDS)('presence on three nodes over $on', ({ start }) => {
  let backend: RedisBackend | undefined;
  let cluster: TestCluster;
  let nodes: TestServer[];
  const acme = (node: TestServer) => ({ url: node.url, apiKey: cluster.tenants.acme as string });

  beforeAll(async () => {
    backend = await start();
    cluster = await startCluster({
      size: 3,
      ...(backend.url ? { redisUrl: backend.url } : {}),
      env: { CAST_PRESENCE_GRACE_MS: String(GRACE_MS), CAST_NODE_TTL_MS: String(NODE_TTL_MS) },
    });
    nodes = cluster.nodes;
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
    await backend?.stop();
  });

  it('changes nothing when a user reconnects to another node within the grace period, and leaves once after it when gone for good', async () => {
    const [a, b, c] = nodes as [TestServer, TestServer, TestServer];
    const watcher = await open(acme(c), { channels: ['hop'], userId: 'wat', presence: true });
    const onA = await open(acme(a), { channels: ['hop'], userId: 'dan' });
    await arrival(watcher, 'join dan', 'hop');
    expect(syncs(watcher, 'hop')).toEqual([['wat']]);

    // Dan's stream on a closes; he comes back through b within the grace (the token is ready beforehand,
    // so only the reconnect itself counts against the grace).
    const { token } = await issueToken(acme(b), { channels: ['hop'], userId: 'dan' });
    onA.close();
    const closedAt = Date.now();
    await new Promise((r) => setTimeout(r, GRACE_MS / 3));
    const onB = await openRaw(`${b.url}/push/stream?token=${encodeURIComponent(token)}`);
    streams.push(onB);
    expect(onB.status).toBe(200);
    await onB.waitFor(1);
    const reconnectMs = Date.now() - closedAt;
    expect(reconnectMs, 'the reconnect must land within the grace for this test to mean anything').toBeLessThan(
      GRACE_MS,
    );
    // Well past the grace of the closed stream on a: no leave, no second join, anywhere.
    await new Promise((r) => setTimeout(r, GRACE_MS * 2));
    expect(tally(watcher, 'hop')).toEqual({ 'join dan': 1 });
    for (const node of nodes) {
      const now = await getPresence(acme(node), 'hop');
      expect(now.members.find((m) => m.userId === 'dan')?.connections, node.url).toBe(1);
    }

    // Dan leaves for good: one leave, and not before the grace.
    onB.close();
    const goneAt = Date.now();
    const leftAt = await arrival(watcher, 'leave dan', 'hop');
    expect(leftAt - goneAt).toBeGreaterThanOrEqual(GRACE_MS);
    await new Promise((r) => setTimeout(r, GRACE_MS * 2));
    expect(tally(watcher, 'hop')).toEqual({ 'join dan': 1, 'leave dan': 1 });
    expect(syncs(watcher, 'hop')).toEqual([['wat']]);
    expect(users(await getPresence(acme(a), 'hop'))).toEqual(['wat']);
  });

  it('shows every join and leave once to every member on every node, equal to GET /push/presence; a killed node’s users leave once, within its TTL plus the grace', async () => {
    const [a, b, c] = nodes as [TestServer, TestServer, TestServer];
    const onA = await open(acme(a), { channels: ['room'], userId: 'ada', presence: true });
    await onA.waitFor(2);
    const onB = await open(acme(b), { channels: ['room'], userId: 'bob', presence: true });
    await onB.waitFor(2);
    const onC = await open(acme(c), { channels: ['room'], userId: 'cid', presence: true });
    const everyone = [onA, onB, onC];
    await vi.waitFor(
      () => {
        for (const s of everyone) expect(membership(s)).toEqual(['ada', 'bob', 'cid']);
      },
      { timeout: 5000 },
    );
    for (const node of nodes) expect(users(await getPresence(acme(node)))).toEqual(['ada', 'bob', 'cid']);
    expect((await getPresence(acme(a))).connections).toBe(3);
    // Bob opens a second tab on another node: no second join anywhere.
    const bobOnC = await open(acme(c), { channels: ['room'], userId: 'bob', presence: true });
    await vi.waitFor(async () =>
      expect((await getPresence(acme(a))).members.find((m) => m.userId === 'bob')?.connections).toBe(2),
    );
    await bobOnC.waitFor(2);
    // Each stream starts from its sync and sees every later join exactly once, and nothing else.
    expect(syncs(onA)).toEqual([['ada']]);
    expect(syncs(onB)).toEqual([['ada', 'bob']]);
    expect(syncs(onC)).toEqual([['ada', 'bob', 'cid']]);
    expect(syncs(bobOnC)).toEqual([['ada', 'bob', 'cid']]);
    expect(tally(onA)).toEqual({ 'join bob': 1, 'join cid': 1 });
    expect(tally(onB)).toEqual({ 'join cid': 1 });
    expect(tally(onC)).toEqual({});
    expect(tally(bobOnC)).toEqual({});

    // c is killed: cid (only on c) leaves once for everyone; bob stays (his tab on b is open). The leave
    // comes once c's last heartbeat is older than the node TTL plus the grace; the reaper looks every third
    // of a TTL, so one more TTL covers its round and the delivery.
    const killedAt = Date.now();
    const left = Promise.all([onA, onB].map((s) => arrival(s, 'leave cid', 'room', 10_000)));
    await c.kill();
    const leftAt = await left;
    for (const at of leftAt) {
      // Never before the grace: a dead node's users get the same grace as anyone else.
      expect(at - killedAt).toBeGreaterThanOrEqual(GRACE_MS);
      expect(at - killedAt).toBeLessThan(NODE_TTL_MS + GRACE_MS + NODE_TTL_MS);
    }
    await new Promise((r) => setTimeout(r, 1500));
    expect(tally(onA)).toEqual({ 'join bob': 1, 'join cid': 1, 'leave cid': 1 });
    expect(tally(onB)).toEqual({ 'join cid': 1, 'leave cid': 1 });
    for (const s of [onA, onB]) expect(membership(s)).toEqual(['ada', 'bob']);
    expect(users(await getPresence(acme(b)))).toEqual(['ada', 'bob']);
  });

  it('lists the occupied channels of the cluster with counts across nodes', async () => {
    const [a, b] = nodes as [TestServer, TestServer];
    await open(acme(a), { channels: ['occ:1'], userId: 'u1' });
    await open(acme(b), { channels: ['occ:1'], userId: 'u2' });
    await open(acme(b), { channels: ['occ:2'] });
    await vi.waitFor(
      async () => {
        const res = await fetch(`${a.url}/push/channels?prefix=occ:`, {
          headers: { authorization: `Bearer ${cluster.tenants.acme}` },
        });
        expect(await res.json()).toEqual({
          channels: [
            { channel: 'occ:1', connections: 2, users: 2 },
            { channel: 'occ:2', connections: 1, users: 0 },
          ],
          cursor: null,
        });
      },
      { timeout: 5000 },
    );
  });
});

describe('presence with Redis down', () => {
  it('answers 503 UNAVAILABLE on the presence routes, keeps streams open, and catches up on what changed meanwhile', async () => {
    // Persistent, so the restart keeps the log and the streams stay (a Redis that lost its data ends them to resume).
    const redis = await startPrivateRedis({ persistent: true });
    const server = await startServer({
      env: { CAST_REDIS_URL: redis.url, CAST_PRESENCE_GRACE_MS: String(GRACE_MS), CAST_NODE_TTL_MS: '900' },
    });
    try {
      const ada = await open(server, { channels: ['room'], userId: 'ada', presence: true });
      await ada.waitFor(2);
      await redis.stop();
      for (const path of ['/push/presence?channel=room', '/push/channels']) {
        const res = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${server.apiKey}` } });
        expect(res.status, path).toBe(503);
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe('UNAVAILABLE');
      }
      let ended = false;
      void ada.ended.then(() => {
        ended = true;
      });
      // Bob arrives while Redis is down: his join cannot be written yet.
      await open(server, { channels: ['room'], userId: 'bob' });
      await new Promise((r) => setTimeout(r, 300));
      expect(ended).toBe(false);
      await redis.start();
      await vi.waitFor(() => expect(membership(ada)).toEqual(['ada', 'bob']), { timeout: 10_000 });
      // The stream also gets a fresh sync once the node's part is written again.
      await vi.waitFor(() => expect(ada.events.filter((e) => e.event === 'presence.sync')).toHaveLength(2), {
        timeout: 10_000,
      });
      expect(membership(ada)).toEqual(['ada', 'bob']);
      expect(users(await getPresence(server))).toEqual(['ada', 'bob']);
      expect(ended).toBe(false);
    } finally {
      await server.stop();
      await redis.dispose();
    }
  });
});
