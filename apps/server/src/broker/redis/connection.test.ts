import type { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CommandClient, createCommandClient, createPubSub, type PubSub } from './connection.js';
import { startRedisCluster, type TestRedisCluster } from '../redis-cluster-test-support.js';
import { dropPrefix, TEST_REDIS_URL, testPrefix } from '../redis-test-support.js';
import { slotOf } from './slot.js';
import { parseRedisUrl } from './url.js';

describe('sharded pub/sub on a Redis Cluster', () => {
  let cluster: TestRedisCluster;
  let cmd: CommandClient;
  let pubsub: PubSub;
  const received: string[] = [];
  const lost: string[] = [];
  let ups = 0;
  /** One tenant tag per master. */
  const tags = new Map<number, string>();

  beforeAll(async () => {
    cluster = await startRedisCluster();
    const target = parseRedisUrl(cluster.url);
    const options = { timeoutMs: 1000, name: 'cast-test' };
    cmd = createCommandClient(target, options);
    cmd.on('error', () => {});
    pubsub = createPubSub(target, cmd, options, {
      message: (channel, message) => received.push(`${channel} ${message.toString()}`),
      lost: (channels) => lost.push(...channels),
      up: () => ups++,
      error: () => {},
    });
    await cmd.connect();
    await pubsub.connect();
    for (let i = 0; tags.size < 3 && i < 100; i++) {
      const port = await cluster.portOfSlot(slotOf(`{t${i}}`));
      if (!tags.has(port)) tags.set(port, `t${i}`);
    }
  }, 60_000);
  afterAll(async () => {
    pubsub?.close();
    cmd?.disconnect();
    await cluster?.stop();
  });

  const live = (tag: string) => `p:{${tag}}:live`;
  const publish = (tag: string, text: string) =>
    cmd.eval("return redis.call('SPUBLISH', KEYS[1], ARGV[1])", 1, live(tag), text);

  it("batches each shard connection's writes of one turn, as on one Redis", async () => {
    await Promise.all([...tags.values()].map((tag) => cmd.set(`p:{${tag}}:k`, tag)));
    const masters = (cmd as Cluster).nodes('master');
    expect(masters).toHaveLength(3);
    const sends = masters.map((node) => {
      const pending = node.get(`p:{${tags.get(node.options.port as number) ?? 'none'}}:k`);
      return { node, pending, corked: node.stream.writableCorked };
    });
    expect(sends.map((s) => s.corked)).toEqual([1, 1, 1]);
    expect((await Promise.all(sends.map((s) => s.pending))).sort()).toEqual([...tags.values()].sort());
  });

  it('subscribes each channel on its shard; SPUBLISH from a script reaches only it', async () => {
    const channels = [...tags.values()].map(live);
    expect((await pubsub.subscribe(channels)).sort()).toEqual([...channels].sort());
    for (const tag of tags.values()) expect(await publish(tag, `hello ${tag}`)).toBe(1);
    await expect.poll(() => received.length).toBe(3);
    expect(received.sort()).toEqual([...tags.values()].map((t) => `${live(t)} hello ${t}`).sort());
  });

  it('reports a channel lost when its slot moves, and subscribes it again on the new shard', async () => {
    const tag = tags.get(cluster.ports[0] as number) as string;
    await cluster.moveSlot(slotOf(live(tag)), cluster.ports[1] as number);
    await expect.poll(() => lost).toContain(live(tag));
    expect(lost).toHaveLength(1);
    await expect.poll(async () => pubsub.subscribe([live(tag)]), { timeout: 10_000 }).toEqual([live(tag)]);
    received.length = 0;
    expect(await publish(tag, 'moved')).toBe(1);
    await expect.poll(() => received).toEqual([`${live(tag)} moved`]);
  }, 30_000);

  it("reports only the killed shard's channels lost; the others still receive", async () => {
    lost.length = 0;
    const victim = cluster.ports[2] as number;
    const dead = tags.get(victim) as string;
    const alive = tags.get(cluster.ports[1] as number) as string;
    await cluster.kill(victim);
    await expect.poll(() => lost).toEqual([live(dead)]);
    expect(await pubsub.subscribe([live(dead)])).toEqual([]);
    received.length = 0;
    expect(await publish(alive, 'still here')).toBe(1);
    await expect.poll(() => received).toEqual([`${live(alive)} still here`]);
    await cluster.restart(victim);
    await expect
      .poll(async () => pubsub.subscribe([live(dead)]), { timeout: 15_000, interval: 200 })
      .toEqual([live(dead)]);
  }, 60_000);
});

describe('the command connection to one Redis', () => {
  const prefix = testPrefix();
  let cmd: Redis;
  beforeAll(async () => {
    cmd = createCommandClient(parseRedisUrl(TEST_REDIS_URL), { timeoutMs: 1000, name: 'cast-test' }) as Redis;
    await cmd.connect();
  });
  afterAll(async () => {
    cmd?.disconnect();
    await dropPrefix(TEST_REDIS_URL, prefix);
  });

  it('writes the commands of one turn together at its end, each answered in order, turn after turn', async () => {
    const key = `${prefix}:n`;
    for (const turn of [0, 1]) {
      const replies = Array.from({ length: 200 }, () => cmd.incr(key));
      // Held in the socket until the turn ends, not written one by one.
      expect(cmd.stream.writableCorked).toBe(1);
      expect(cmd.stream.writableLength).toBeGreaterThan(200 * 10);
      await new Promise<void>((resolve) => setImmediate(resolve));
      expect(cmd.stream.writableCorked).toBe(0);
      expect(await Promise.all(replies)).toEqual(Array.from({ length: 200 }, (_, i) => turn * 200 + i + 1));
    }
  });
});
