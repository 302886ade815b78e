import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type TestCluster } from './helpers/cluster.js';
import { REDIS_BACKENDS, type RedisBackend } from './helpers/redis-cluster.js';
import { issueToken, publish, type TestServer } from './helpers/server.js';
import { openConnected, type RawStream } from './helpers/sse.js';

// Three real server processes with this file's own key prefix, on each Redis setup.
describe.each(REDIS_BACKENDS)('three nodes on $on', ({ start }) => {
  let backend: RedisBackend | undefined;
  let cluster: TestCluster;
  let nodes: TestServer[];
  const streams: RawStream[] = [];

  beforeAll(async () => {
    backend = await start();
    cluster = await startCluster({ size: 3, ...(backend.url ? { redisUrl: backend.url } : {}) });
    nodes = cluster.nodes;
  }, 60_000);
  afterAll(async () => {
    for (const s of streams) s.close();
    await cluster?.stop();
    await backend?.stop();
  });

  function as(node: TestServer, tenant: string) {
    return { url: node.url, apiKey: cluster.tenants[tenant] as string };
  }

  async function open(node: TestServer, token: string): Promise<RawStream> {
    const s = await openConnected(`${node.url}/push/stream?token=${encodeURIComponent(token)}`);
    streams.push(s);
    return s;
  }

  describe('exact delivery across nodes', () => {
    // Each tenant is new to node A when its stream opens there: the case where a
    // node starting to listen used to pick up events published just before.
    it.each(['acme', 'globex'])(
      'gives a fresh stream only what followed its connected, and delivered counts exactly those streams (%s)',
      async (tenant) => {
        const [a, b, c] = nodes as [TestServer, TestServer, TestServer];
        const channel = `exact-${tenant}`;
        const onB = await open(b, (await issueToken(as(b, tenant), { channels: [channel] })).token);
        const { token: tokenA } = await issueToken(as(a, tenant), { channels: [channel] });

        const before = await publish(as(c, tenant), { channel, event: 'n', data: 'before' });
        expect(before.body.delivered).toBe(1);
        // Opened right after: within the time a joining node used to look back.
        const onA = await open(a, tokenA);

        const after: Array<{ eventId: string; delivered: number }> = [];
        for (const node of [a, b, c]) {
          const res = await publish(as(node, tenant), { channel, event: 'n', data: `after-${node.port}` });
          expect(res.status).toBe(200);
          after.push(res.body);
        }
        for (const res of after) expect(res.delivered).toBe(2);

        const gotA = (await onA.waitFor(4)).slice(1);
        const gotB = (await onB.waitFor(5)).slice(1);
        expect(gotB.map((e) => e.id)).toEqual([before.body.eventId, ...after.map((r) => r.eventId)]);
        expect(gotA.map((e) => e.id)).toEqual(after.map((r) => r.eventId));
        // Nothing else arrives late.
        await new Promise((r) => setTimeout(r, 300));
        expect(onA.events).toHaveLength(4);
        expect(onB.events).toHaveLength(5);
      },
    );
  });

  describe('idempotency keys across nodes', () => {
    it('answers a retry on another node as a duplicate and a reused key with 409 IDEMPOTENCY_KEY_REUSED', async () => {
      const [a, b] = nodes as [TestServer, TestServer];
      const headers = { 'idempotency-key': 'order-42-created' };
      const first = await publish(
        as(a, 'acme'),
        { channel: 'idem', event: 'order.created', data: { id: 42 } },
        { headers },
      );
      expect(first.status).toBe(200);
      const retry = await publish(
        as(b, 'acme'),
        { channel: 'idem', event: 'order.created', data: { id: 42 } },
        { headers },
      );
      expect(retry.status).toBe(200);
      expect(retry.body).toMatchObject({
        messageId: first.body.messageId,
        eventId: first.body.eventId,
        duplicate: true,
      });
      for (const body of [
        { channel: 'idem-other', event: 'order.created', data: { id: 42 } },
        { channel: 'idem', event: 'order.updated', data: { id: 42 } },
        { channel: 'idem', event: 'order.created', data: { id: 43 } },
      ]) {
        const reused = await publish(as(b, 'acme'), body, { headers });
        expect(reused.status).toBe(409);
        expect(reused.body.error.code).toBe('IDEMPOTENCY_KEY_REUSED');
      }
    });
  });
});
