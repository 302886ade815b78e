import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startCluster, type TestCluster } from './helpers/cluster.js';
import { issueToken, publish, type TestServer } from './helpers/server.js';
import { openRaw, type RawEvent, type RawStream } from './helpers/sse.js';

// Three real server processes on the machine's Redis; this file kills and restarts one of them.
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

const acme = (node: TestServer) => ({ url: node.url, apiKey: cluster.tenants.acme as string });
const live = (s: RawStream) => s.events.filter((e) => e.event !== 'connected');
const connectedData = (s: RawStream) =>
  JSON.parse(s.events[0]?.data ?? '{}') as { channels: string[]; recovered?: boolean };

async function open(node: TestServer, token: string, lastEventId?: string): Promise<RawStream> {
  const s = await openRaw(
    `${node.url}/push/stream?token=${encodeURIComponent(token)}`,
    lastEventId ? { 'last-event-id': lastEventId } : {},
  );
  streams.push(s);
  expect(s.status).toBe(200);
  await s.waitFor(1);
  return s;
}

async function sessionUsers(node: TestServer, channel: string): Promise<string[]> {
  const res = await fetch(`${node.url}/push/sessions?channel=${channel}`, {
    headers: { authorization: `Bearer ${cluster.tenants.acme}` },
  });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { sessions: Array<{ userId: string | null }> };
  return body.sessions.map((s) => s.userId as string).sort();
}

describe('cluster failover', () => {
  it('moves a client to another node mid-stream with no event lost or repeated', async () => {
    const [a, b, c] = nodes as [TestServer, TestServer, TestServer];
    const { token } = await issueToken(acme(a), { channels: ['move'] });
    const first = await open(a, token);
    // A steady publisher on the third node while the client moves from a to b.
    const total = 60;
    const published: string[] = [];
    const publisher = (async () => {
      for (let i = 0; i < total; i++) {
        const res = await publish(acme(c), { channel: 'move', event: 'n', data: i });
        expect(res.status).toBe(200);
        published.push(res.body.eventId as string);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await first.waitFor(1 + 15, { timeoutMs: 15_000 });
    first.close();
    await first.ended;
    const seenOnA = live(first);
    const last = seenOnA[seenOnA.length - 1] as RawEvent;
    const second = await open(b, token, last.id);
    expect(connectedData(second)).toEqual({ channels: ['move'], recovered: true });
    await publisher;
    await second.waitFor(1 + total - seenOnA.length, { timeoutMs: 15_000 });
    const all = [...seenOnA, ...live(second)];
    expect(all.map((e) => e.id)).toEqual(published);
    expect(all.map((e) => JSON.parse(e.data))).toEqual(Array.from({ length: total }, (_, i) => i));
  });

  it('lets the clients of a killed node resume on another node, forgets its sessions, and takes it back after a restart', async () => {
    const [a, b, c] = nodes as [TestServer, TestServer, TestServer];
    const tokenOf = async (userId: string) => (await issueToken(acme(a), { channels: ['crash'], userId })).token;
    const onC = await open(c, await tokenOf('on-c'));
    const onB = await open(b, await tokenOf('on-b'));
    await vi.waitFor(async () => expect(await sessionUsers(a, 'crash')).toEqual(['on-b', 'on-c']));

    const before = await publish(acme(a), { channel: 'crash', event: 'n', data: 'before' });
    await onC.waitFor(2);
    await cluster.nodes[2]?.kill();
    await onC.ended;
    // Published while the client has no stream.
    const missed = await publish(acme(a), { channel: 'crash', event: 'n', data: 'missed' });
    expect(missed.status).toBe(200);

    const resumed = await open(b, await tokenOf('on-c'), live(onC)[0]?.id);
    expect(connectedData(resumed).recovered).toBe(true);
    await resumed.waitFor(2);
    expect(live(resumed).map((e) => e.id)).toEqual([missed.body.eventId]);

    // The dead node's session stays listed until its heartbeat entry expires (15 s), then goes.
    expect(await sessionUsers(a, 'crash')).toEqual(['on-b', 'on-c', 'on-c']);
    await vi.waitFor(async () => expect(await sessionUsers(a, 'crash')).toEqual(['on-b', 'on-c']), {
      timeout: 25_000,
      interval: 500,
    });

    // Restarted on the same port, the node takes part again.
    await c.restart();
    const again = await open(c, await tokenOf('back-on-c'));
    const after = await publish(acme(b), { channel: 'crash', event: 'n', data: 'after' });
    await again.waitFor(2);
    expect(live(again).map((e) => e.id)).toEqual([after.body.eventId]);
    const fromC = await publish(acme(c), { channel: 'crash', event: 'n', data: 'from-c' });
    expect(fromC.status).toBe(200);
    expect(fromC.body.delivered).toBe(3);
    await onB.waitFor(5);
    expect(live(onB).map((e) => e.id)).toEqual([
      before.body.eventId,
      missed.body.eventId,
      after.body.eventId,
      fromC.body.eventId,
    ]);
  });
});
