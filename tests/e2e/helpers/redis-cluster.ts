/**
 * A three-master Redis Cluster on free loopback ports, for the multi-node
 * tests: the same helper the broker's unit tests use (one place for it).
 */
export {
  startRedisCluster,
  type StartRedisClusterOptions,
  type TestRedisCluster,
} from '../../../apps/server/src/broker/redis-cluster-test-support.js';
export { slotOf } from '../../../apps/server/src/broker/redis/slot.js';
