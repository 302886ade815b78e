/**
 * A three-master Redis Cluster on free loopback ports, for the multi-node
 * tests: the same helper the broker's unit tests use (one place for it).
 */
import { startRedisCluster } from '../../../apps/server/src/broker/redis-cluster-test-support.js';

export {
  startRedisCluster,
  type StartRedisClusterOptions,
  type TestRedisCluster,
} from '../../../apps/server/src/broker/redis-cluster-test-support.js';
export { slotOf } from '../../../apps/server/src/broker/redis/slot.js';

/** Where the nodes of a multi-node test keep their log: a Redis URL (undefined: the machine's Redis) and how to stop it. */
export interface RedisBackend {
  url: string | undefined;
  stop(): Promise<void>;
}

/**
 * The two Redis setups a multi-node suite runs on, for `describe.each`: the
 * machine's Redis (with the suite's own key prefix) and a private
 * three-master Redis Cluster (each tenant's events then come from its own
 * shard).
 */
export const REDIS_BACKENDS = [
  { on: 'one Redis', start: async (): Promise<RedisBackend> => ({ url: undefined, stop: async () => {} }) },
  {
    on: 'a Redis Cluster',
    start: async (): Promise<RedisBackend> => {
      const redis = await startRedisCluster();
      return { url: redis.url, stop: () => redis.stop() };
    },
  },
];
