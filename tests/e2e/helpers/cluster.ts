import { randomBytes } from 'node:crypto';
import { dropPrefix, randomPrefix, SHARED_REDIS_URL } from './redis.js';
import { startServer, type TestServer } from './server.js';

/** Several server nodes sharing one Redis, as a test started them. */
export interface TestCluster {
  nodes: TestServer[];
  /** Tenant → secret key, the same on every node. */
  tenants: Record<string, string>;
  signingSecret: string;
  redisUrl: string;
  /** The key prefix of this cluster (CAST_REDIS_PREFIX). */
  prefix: string;
  /** Stops every node still running and deletes the cluster's keys. */
  stop(): Promise<void>;
}

/** Options of {@link startCluster}. */
export interface StartClusterOptions {
  /** Nodes to start. @defaultValue 3 */
  size?: number;
  /** @defaultValue the machine's Redis */
  redisUrl?: string;
  /** Tenants and keys. @defaultValue `acme` and `globex` with random keys */
  tenants?: Record<string, string>;
  /** Extra environment for every node (a `CAST_REDIS_PREFIX` here is the cluster's prefix). */
  env?: Record<string, string>;
}

/**
 * Starts a cluster of real server processes on one Redis (or a Redis Cluster:
 * `redisUrl` `redis+cluster://…`), with a fresh key prefix, the same tenants
 * and the same signing secret on every node.
 *
 * @example
 * ```ts
 * const cluster = await startCluster()
 * afterAll(() => cluster.stop())
 * ```
 */
export async function startCluster(options: StartClusterOptions = {}): Promise<TestCluster> {
  // The prefix the nodes use, so `prefix` (for slots, and for the keys dropped at the end) is theirs.
  const prefix = options.env?.CAST_REDIS_PREFIX ?? randomPrefix();
  const redisUrl = options.redisUrl ?? SHARED_REDIS_URL;
  const tenants = options.tenants ?? {
    acme: `sk_test_${randomBytes(12).toString('hex')}`,
    globex: `sk_test_${randomBytes(12).toString('hex')}`,
  };
  const signingSecret = randomBytes(32).toString('hex');
  const env = { CAST_REDIS_URL: redisUrl, CAST_REDIS_PREFIX: prefix, ...options.env };
  const nodes: TestServer[] = [];
  const stopAll = async () => {
    await Promise.all(nodes.map((n) => n.stop().catch(() => null)));
    // A Redis Cluster a test started is private to it and discarded whole.
    if (!redisUrl.includes('+cluster://')) await dropPrefix(redisUrl, prefix).catch(() => {});
  };
  try {
    for (let i = 0; i < (options.size ?? 3); i++) nodes.push(await startServer({ env, tenants, signingSecret }));
  } catch (err) {
    await stopAll();
    throw err;
  }
  return { nodes, tenants, signingSecret, redisUrl, prefix, stop: stopAll };
}
