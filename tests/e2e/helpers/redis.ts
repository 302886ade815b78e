import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from '../../../apps/server/src/broker/redis-cluster-test-support.js';

/** The machine's Redis, shared by test files (each uses its own key prefix). */
export const SHARED_REDIS_URL = process.env.CAST_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A key prefix (CAST_REDIS_PREFIX) no other test run uses. */
export function randomPrefix(): string {
  return `cast-e2e-${randomBytes(6).toString('hex')}`;
}

/** Deletes every key under a prefix (bounded scan). */
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

/** A redis-server process of the test's own, on its own port and folder. */
export interface PrivateRedis {
  url: string;
  port: number;
  /** Stops Redis like a crash of the service (`SHUTDOWN NOSAVE`; with AOF the log on disk stays). */
  stop(): Promise<void>;
  /** Starts it again on the same port and folder. */
  start(): Promise<void>;
  /** Stops it for good and removes its folder. */
  dispose(): Promise<void>;
}

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

async function waitForPing(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const probe = new Redis(url, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      connectTimeout: 500,
    });
    probe.on('error', () => {});
    try {
      await probe.connect();
      if ((await probe.ping()) === 'PONG') return;
    } catch {
      // not up yet
    } finally {
      probe.disconnect();
    }
    if (Date.now() > deadline) throw new Error(`redis-server at ${url} did not answer within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Starts a private redis-server (the binary on PATH) on a free loopback port,
 * so a test can stop and restart it without disturbing anyone else.
 *
 * @param options.persistent - keep an append-only file (fsync always), so a restart keeps the data
 * @example
 * ```ts
 * const redis = await startPrivateRedis()
 * afterAll(() => redis.dispose())
 * ```
 */
export async function startPrivateRedis(options: { persistent?: boolean } = {}): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'cast-redis-'));
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--dir',
    dir,
    '--appendonly',
    options.persistent ? 'yes' : 'no',
    '--appendfsync',
    'always',
  ];
  const start = async () => {
    const proc = spawn('redis-server', args, { stdio: 'ignore' });
    children.add(proc);
    proc.once('exit', () => children.delete(proc));
    child = proc;
    await waitForPing(url, 5000);
  };
  const stop = async () => {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    const admin = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    admin.on('error', () => {});
    try {
      await admin.connect();
      await admin.call('SHUTDOWN', 'NOSAVE').catch(() => {});
    } catch {
      proc.kill('SIGKILL');
    } finally {
      admin.disconnect();
    }
    const timer = setTimeout(() => proc.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  };
  await start();
  return {
    url,
    port,
    stop,
    start,
    async dispose() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
