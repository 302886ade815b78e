import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

/** The Redis the tests use (CAST_TEST_REDIS_URL, default the local one). */
export const TEST_REDIS_URL = process.env.CAST_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * A key prefix no other test run uses.
 *
 * @example
 * ```ts
 * const prefix = testPrefix() // 'cast-test-3f9a1c2b4d5e'
 * ```
 */
export function testPrefix(): string {
  return `cast-test-${randomBytes(6).toString('hex')}`;
}

/**
 * Deletes every key under a prefix (bounded: stops after 100 scan rounds).
 *
 * @example
 * ```ts
 * await dropPrefix(TEST_REDIS_URL, prefix)
 * ```
 */
export async function dropPrefix(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    for (let round = 0; round < 100; round++) {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
      if (cursor === '0') break;
    }
  } finally {
    redis.disconnect();
  }
}
