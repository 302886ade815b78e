import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startCluster, type TestCluster } from './helpers/cluster.js';
import { issueToken, publish, type TestServer } from './helpers/server.js';
import { openConnected, type RawEvent, type RawStream } from './helpers/sse.js';

// Three real server processes on the machine's Redis, with this file's own key prefix.
let cluster: TestCluster;
let nodes: TestServer[];
const streams: RawStream[] = [];

beforeAll(async () => {
  cluster = await startCluster({ size: 3 });
  nodes = cluster.nodes;
});
afterAll(async () => {
  for (const s of streams) s.close();
  await cluster?.stop();
});

function as(node: TestServer, tenant = 'acme') {
  return { url: node.url, apiKey: cluster.tenants[tenant] as string };
}

async function subscribe(
  node: TestServer,
  channels: string[],
  opts: { tenant?: string; userId?: string; types?: string } = {},
): Promise<RawStream> {
  const { token } = await issueToken(as(node, opts.tenant), {
    channels,
    ...(opts.userId ? { userId: opts.userId } : {}),
  });
  const filter = opts.types === undefined ? '' : `&types=${encodeURIComponent(opts.types)}`;
  const s = await openConnected(`${node.url}/push/stream?token=${encodeURIComponent(token)}${filter}`);
  streams.push(s);
  return s;
}

const live = (s: RawStream) => s.events.filter((e) => e.event !== 'connected');
const ids = (events: RawEvent[]) => events.map((e) => e.id as string);
const position = (id: string) => id.slice(0, id.indexOf('/')).split('-').map(Number) as [number, number];

function expectIncreasing(list: string[]): void {
  for (let i = 1; i < list.length; i++) {
    const [a, b] = [position(list[i - 1] as string), position(list[i] as string)];
    expect(a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]), `${list[i - 1]} before ${list[i]}`).toBe(true);
  }
}

async function sessionsOn(
  node: TestServer,
  query: string,
  tenant = 'acme',
): Promise<Array<{ id: string; userId: string | null; channels: string[] }>> {
  const res = await fetch(`${node.url}/push/sessions?${query}`, {
    headers: { authorization: `Bearer ${cluster.tenants[tenant]}` },
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { sessions: Array<{ id: string; userId: string | null; channels: string[] }> })
    .sessions;
}

describe('cluster fan-out', () => {
  it('says it runs the Redis broker and is ready', async () => {
    for (const node of nodes) {
      const res = await fetch(`${node.url}/readyz`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: 'ready', broker: 'redis' });
    }
  });

  it('delivers an event published on any node to subscribers on all three, and counts them all', async () => {
    const subs = await Promise.all(nodes.map((n, i) => subscribe(n, ['fan:orders'], { userId: `fan-user-${i}` })));
    // The sessions listing covers every node, whichever node is asked.
    for (const node of nodes) {
      await vi.waitFor(async () =>
        expect((await sessionsOn(node, 'channel=fan:orders')).map((s) => s.userId).sort()).toEqual([
          'fan-user-0',
          'fan-user-1',
          'fan-user-2',
        ]),
      );
    }
    const published = [];
    for (const node of nodes) {
      const res = await publish(as(node), { channel: 'fan:orders', event: 'order.created', data: { from: node.port } });
      expect(res.status).toBe(200);
      expect(res.body.delivered).toBe(3);
      published.push(res.body.eventId as string);
    }
    for (const s of subs) {
      await s.waitFor(4);
      expect(ids(live(s))).toEqual(published);
      expect(live(s).map((e) => JSON.parse(e.data).from)).toEqual(nodes.map((n) => n.port));
    }
  });

  it('counts in delivered only the streams whose types filter takes the event, whichever node holds them', async () => {
    const [n0, n1, n2] = nodes as [TestServer, TestServer, TestServer];
    const orders = await subscribe(n0, ['typed'], { types: 'order.*' });
    const tickets = await subscribe(n1, ['typed'], { types: 'ticket.*,order.paid' });
    const all = await subscribe(n2, ['typed']);
    const sent: Array<[TestServer, string, number]> = [
      [n0, 'order.created', 2],
      [n1, 'order.paid', 3],
      [n2, 'ticket.closed', 2],
      [n1, 'note', 1],
    ];
    for (const [node, event, delivered] of sent) {
      const res = await publish(as(node), { channel: 'typed', event, data: 1 });
      expect(res.status).toBe(200);
      expect({ event, delivered: res.body.delivered }).toEqual({ event, delivered });
    }
    await all.waitFor(5);
    expect(live(all).map((e) => e.event)).toEqual(['order.created', 'order.paid', 'ticket.closed', 'note']);
    await orders.waitFor(3);
    await tickets.waitFor(3);
    expect(live(orders).map((e) => e.event)).toEqual(['order.created', 'order.paid']);
    expect(live(tickets).map((e) => e.event)).toEqual(['order.paid', 'ticket.closed']);
  });

  it('gives concurrent publishers on different nodes one order that every subscriber sees', async () => {
    const subs = (
      await Promise.all(nodes.map((n) => Promise.all([subscribe(n, ['race']), subscribe(n, ['race'])])))
    ).flat();
    const perNode = 20;
    const results = await Promise.all(
      nodes.map(async (node, k) => {
        const out: string[] = [];
        for (let i = 0; i < perNode; i++) {
          const res = await publish(as(node), { channel: 'race', event: 'tick', data: { node: k, i } });
          expect(res.status).toBe(200);
          out.push(res.body.eventId as string);
        }
        return out;
      }),
    );
    const total = perNode * nodes.length;
    for (const s of subs) await s.waitFor(total + 1, { timeoutMs: 15_000 });
    const reference = ids(live(subs[0] as RawStream));
    expect(reference).toHaveLength(total);
    expectIncreasing(reference);
    expect([...reference].sort()).toEqual(results.flat().sort());
    for (const s of subs) expect(ids(live(s))).toEqual(reference);
    // Each publisher's own events keep its order within the one order.
    for (const [k, mine] of results.entries()) {
      expect(
        live(subs[0] as RawStream)
          .filter((e) => JSON.parse(e.data).node === k)
          .map((e) => e.id),
      ).toEqual(mine);
    }
  });

  it('keeps tenants apart across nodes: same channel name, separate events, sessions and ids', async () => {
    const acmeOn0 = await subscribe(nodes[0] as TestServer, ['shared']);
    const globexOn1 = await subscribe(nodes[1] as TestServer, ['shared'], { tenant: 'globex', userId: 'g-user' });
    const acmeOn1 = await subscribe(nodes[1] as TestServer, ['shared'], { userId: 'a-user' });
    const a = await publish(as(nodes[2] as TestServer), { channel: 'shared', event: 'who', data: 'acme' });
    const g = await publish(as(nodes[2] as TestServer, 'globex'), { channel: 'shared', event: 'who', data: 'globex' });
    expect(a.status).toBe(200);
    expect(g.status).toBe(200);
    await acmeOn0.waitFor(2);
    await acmeOn1.waitFor(2);
    await globexOn1.waitFor(2);
    const marker = await publish(as(nodes[0] as TestServer), { channel: 'shared', event: 'who', data: 'acme-2' });
    await acmeOn0.waitFor(3);
    await acmeOn1.waitFor(3);
    expect(live(acmeOn0).map((e) => e.data)).toEqual(['"acme"', '"acme-2"']);
    expect(live(acmeOn1).map((e) => e.data)).toEqual(['"acme"', '"acme-2"']);
    expect(live(globexOn1).map((e) => e.data)).toEqual(['"globex"']);
    expect(marker.body.delivered).toBe(2);
    expect((await sessionsOn(nodes[0] as TestServer, 'userId=g-user', 'globex')).map((s) => s.userId)).toEqual([
      'g-user',
    ]);
    expect(await sessionsOn(nodes[0] as TestServer, 'userId=g-user')).toEqual([]);
    expect((await sessionsOn(nodes[2] as TestServer, 'channel=shared', 'globex')).length).toBe(1);
  });

  it('honours an idempotency key whichever node the retry reaches', async () => {
    const sub = await subscribe(nodes[2] as TestServer, ['idem']);
    const key = `order-${Date.now()}`;
    const first = await publish(
      as(nodes[0] as TestServer),
      { channel: 'idem', event: 'paid', data: 1 },
      { headers: { 'idempotency-key': key } },
    );
    const retry = await publish(
      as(nodes[1] as TestServer),
      { channel: 'idem', event: 'paid', data: 1 },
      { headers: { 'idempotency-key': key } },
    );
    expect(first.status).toBe(200);
    expect(retry.status).toBe(200);
    expect(retry.body.duplicate).toBe(true);
    expect(retry.body.messageId).toBe(first.body.messageId);
    expect(retry.body.eventId).toBe(first.body.eventId);
    const after = await publish(as(nodes[1] as TestServer), { channel: 'idem', event: 'paid', data: 2 });
    await sub.waitFor(3);
    expect(ids(live(sub))).toEqual([first.body.eventId, after.body.eventId]);
  });

  it('exposes metrics per node', async () => {
    const before = await Promise.all(nodes.map((n) => metric(n, 'cast_events_published_total')));
    await publish(as(nodes[1] as TestServer), { channel: 'metrics', event: 'x', data: 1 });
    await publish(as(nodes[1] as TestServer), { channel: 'metrics', event: 'x', data: 2 });
    const after = await Promise.all(nodes.map((n) => metric(n, 'cast_events_published_total')));
    expect(after.map((v, i) => v - (before[i] as number))).toEqual([0, 2, 0]);
    const text = await (await fetch(`${(nodes[0] as TestServer).url}/metrics`)).text();
    expect(text).toMatch(/^cast_connections\{broker="redis"\} \d+$/m);
  });
});

async function metric(node: TestServer, name: string): Promise<number> {
  const text = await (await fetch(`${node.url}/metrics`)).text();
  const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
  if (!m) throw new Error(`no ${name} in /metrics`);
  return Number(m[1]);
}
