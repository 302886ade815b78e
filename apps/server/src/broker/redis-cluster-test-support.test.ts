import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisCluster, type TestRedisCluster } from './redis-cluster-test-support.js';
import { slotOf } from './redis/slot.js';

describe('the test Redis Cluster', () => {
  let cluster: TestRedisCluster;
  let client: Cluster;
  beforeAll(async () => {
    cluster = await startRedisCluster();
    client = new Cluster(
      cluster.ports.map((port) => ({ host: '127.0.0.1', port })),
      {
        clusterRetryStrategy: () => 100,
        redisOptions: { maxRetriesPerRequest: 1 },
      },
    );
  }, 60_000);
  afterAll(async () => {
    client?.disconnect();
    await cluster?.stop();
  });

  it('has three masters on loopback, none on 6379, named as CAST_REDIS_URL names a cluster', () => {
    expect(cluster.ports).toHaveLength(3);
    expect(cluster.ports).not.toContain(6379);
    expect(cluster.url).toBe(`redis+cluster://${cluster.ports.map((p) => `127.0.0.1:${p}`).join(',')}`);
  });

  it('agrees with slotOf on the slot of a key, hash tags included', async () => {
    for (const key of ['cast:{acme}:log', 'cast:{zoë}:live', 'cast:nodes', 'a{}b', '{}', 'x{y', 'p:{a}{b}', '']) {
      expect(slotOf(key), key).toBe(await cluster.slotOf(key));
    }
  });

  it('moves a slot with its keys to another master', async () => {
    await client.set('{move}:a', '1');
    const slot = await cluster.slotOf('{move}:a');
    const from = await cluster.portOfSlot(slot);
    const to = cluster.ports.find((p) => p !== from) as number;
    await cluster.moveSlot(slot, to);
    expect(await cluster.portOfSlot(slot)).toBe(to);
    expect(await client.get('{move}:a')).toBe('1');
  }, 30_000);

  it('kills one master: its slots fail, the others keep answering; a restart brings it back', async () => {
    const tags = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
    const owners = await Promise.all(tags.map(async (t) => cluster.portOfSlot(await cluster.slotOf(`{${t}}`))));
    const victim = owners[0] as number;
    const survivor = tags[owners.findIndex((p) => p !== victim)] as string;
    await client.set(`{${survivor}}:k`, 'v');
    await cluster.kill(victim);
    await expect(client.set(`{${tags[0]}}:k`, 'v')).rejects.toThrow();
    expect(await client.get(`{${survivor}}:k`)).toBe('v');
    await cluster.restart(victim);
    await cluster.waitOk();
    await expect.poll(() => client.set(`{${tags[0]}}:k`, 'v').catch(() => 'no'), { timeout: 15_000 }).toBe('OK');
  }, 60_000);
});
