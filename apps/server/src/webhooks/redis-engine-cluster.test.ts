import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startRedisCluster, type TestRedisCluster } from '../broker/redis-cluster-test-support.js';
import { slotOf } from '../broker/redis/slot.js';
import { testPrefix } from '../broker/redis-test-support.js';
import { createRedisWebhookEngine, type RedisWebhookEngine, webhookStreamKey } from './redis-engine.js';
import { startTestReceiver, type TestReceiver } from './test-receiver.js';

const SECRET = 'r'.repeat(40);
let redis: TestRedisCluster;
const engines: RedisWebhookEngine[] = [];
let receiver: TestReceiver | undefined;

beforeAll(async () => {
  redis = await startRedisCluster();
}, 60_000);
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
  await receiver?.stop();
});
afterAll(async () => {
  await redis?.stop();
});

describe('the Redis webhook engine on a Redis Cluster', () => {
  it('delivers each event of tenants on different shards once for the whole cluster', async () => {
    receiver = await startTestReceiver(SECRET);
    const url = receiver.url;
    const prefix = testPrefix();
    // Two tenants whose streams sit on two different shards.
    const owners = new Map<number, string>();
    for (let i = 0; owners.size < 2 && i < 200; i++) {
      const port = await redis.portOfSlot(slotOf(webhookStreamKey(prefix, `t${i}`, url)));
      if (!owners.has(port)) owners.set(port, `t${i}`);
    }
    const tenants = [...owners.values()];
    for (let n = 0; n < 3; n++) {
      engines.push(
        createRedisWebhookEngine({
          url: redis.url,
          prefix,
          nodeId: `node-${n}`,
          endpoints: tenants.map((tenant) => ({ tenant, url, secret: SECRET })),
          maxPending: 100_000,
          retryBaseMs: 50,
          leaseMs: 900,
          pollMs: 100,
          log: () => {},
        }),
      );
    }
    await new Promise((done) => setTimeout(done, 300));
    for (let i = 0; i < 100; i++) {
      const tenant = tenants[i % 2] as string;
      (engines[i % 3] as RedisWebhookEngine).lifecycle({
        type: 'presence.join',
        tenant,
        channel: 'room',
        userId: String(i),
        at: Date.now(),
      });
    }
    await receiver.until(() => receiver!.acked().length >= 100);
    await new Promise((done) => setTimeout(done, 500));
    const ids = receiver.acked().map((e) => e.id);
    expect(new Set(ids).size).toBe(100);
    expect(ids).toHaveLength(100);
  }, 30_000);
});
