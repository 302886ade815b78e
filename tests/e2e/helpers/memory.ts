import { fileURLToPath } from 'node:url';
import type { TestServer } from './server.js';

const PROBE = fileURLToPath(new URL('../fixtures/memory-probe.cjs', import.meta.url));

/** What the memory probe of a server says: bytes its JavaScript holds now, and the most since the last reading. */
export interface LiveMemory {
  live: number;
  peak: number;
}

/**
 * The environment that starts a server with the memory probe preloaded (merge
 * it into `startServer`'s `env`), for {@link liveMemory}.
 *
 * @example
 * ```ts
 * const server = await startServer({ env: probedEnv({ CAST_HEARTBEAT_MS: '500' }) })
 * ```
 */
export function probedEnv(env: Record<string, string> = {}): Record<string, string> {
  return { ...env, NODE_OPTIONS: `--expose-gc --require ${PROBE}` };
}

/**
 * Reads a probed server's live memory (heap used + ArrayBuffers after a full
 * collection, sampled every 50 ms): now, and its peak since the last reading,
 * which starts the next peak. Unlike RSS it counts neither garbage waiting for
 * a collection nor memory the allocator keeps after it was freed.
 *
 * @example
 * ```ts
 * const base = await liveMemory(server)
 * // … load …
 * expect((await liveMemory(server)).peak - base.live).toBeLessThan(32 * 1024 * 1024)
 * ```
 */
export async function liveMemory(server: TestServer, timeoutMs = 5000): Promise<LiveMemory> {
  const readings = () => [...server.output().matchAll(/^cast-memory-probe (\d+) live=(\d+) peak=(\d+)$/gm)];
  const seen = readings().length;
  const pid = server.pid();
  if (pid === undefined) throw new Error('liveMemory: the server is not running');
  process.kill(pid, 'SIGUSR2');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const all = readings();
    const m = all[seen];
    if (m) return { live: Number(m[2]), peak: Number(m[3]) };
    if (Date.now() > deadline) throw new Error('liveMemory: no reading from the probe (started with probedEnv?)');
    await new Promise((r) => setTimeout(r, 20));
  }
}
