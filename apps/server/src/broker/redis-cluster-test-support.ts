import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';

const run = promisify(execFile);

/** A three-master Redis Cluster a test started on free loopback ports (never 6379). */
export interface TestRedisCluster {
  /** `redis+cluster://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3`, the form CAST_REDIS_URL takes. */
  readonly url: string;
  /** The masters' ports. */
  readonly ports: readonly number[];
  /** The hash slot of a key (`CLUSTER KEYSLOT`). */
  slotOf(key: string): Promise<number>;
  /** The port of the master that serves a slot now. */
  portOfSlot(slot: number): Promise<number>;
  /** Kills one master's process (SIGKILL, like a crash); its slots stay unserved until {@link restart}. */
  kill(port: number): Promise<void>;
  /** Starts a killed master again on its port with its cluster config (and its data, when persistent). */
  restart(port: number): Promise<void>;
  /**
   * Moves a slot, keys and all, to the master on `toPort` the way `redis-cli --cluster reshard`
   * does: IMPORTING/MIGRATING, MIGRATE in batches, then SETSLOT NODE on every master.
   *
   * @param options.pauseMs - wait this long between marking the slot and moving its keys, so
   *   clients meet ASK redirections and TRYAGAIN while the slot is half moved
   */
  moveSlot(slot: number, toPort: number, options?: { pauseMs?: number }): Promise<void>;
  /** Waits until every master reports `cluster_state:ok` (up to `timeoutMs`). */
  waitOk(timeoutMs?: number): Promise<void>;
  /** Stops every master and deletes their folders. */
  stop(): Promise<void>;
}

/** Options of {@link startRedisCluster}. */
export interface StartRedisClusterOptions {
  /** Keep an append-only file (fsync always), so a restarted master keeps its data. @defaultValue false */
  persistent?: boolean;
}

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/**
 * A free TCP port on loopback, for processes that cannot listen on port 0 (redis-server).
 *
 * @example
 * ```ts
 * const port = await freePort();
 * ```
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Free ports whose cluster bus ports (port + 10000) fit and are free too. */
async function clusterPorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  for (let tries = 0; ports.length < count && tries < 100; tries++) {
    const port = await freePort();
    if (port > 55_535 || port === 6379 || ports.includes(port)) continue;
    const bus = await new Promise<boolean>((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port + 10_000, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (bus) ports.push(port);
  }
  if (ports.length < count) throw new Error('no free loopback ports for a Redis Cluster');
  return ports;
}

function admin(port: number): Redis {
  const client = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 500,
  });
  client.on('error', () => {});
  return client;
}

/** Runs one command on one master with a fresh connection. */
async function on<T>(port: number, fn: (client: Redis) => Promise<T>): Promise<T> {
  const client = admin(port);
  try {
    await client.connect();
    return await fn(client);
  } finally {
    client.disconnect();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms`);
    await sleep(100);
  }
}

/**
 * Starts a Redis Cluster of three masters (no replicas) on free loopback
 * ports: `redis-server --cluster-enabled yes` three times, joined with
 * `redis-cli --cluster create`, waiting for `cluster_state:ok`. Full coverage
 * is not required (`cluster-require-full-coverage no`), so a killed master
 * stops only its own slots, as Cast's docs ask of a production cluster.
 *
 * @example
 * ```ts
 * const cluster = await startRedisCluster()
 * afterAll(() => cluster.stop())
 * const broker = createRedisBroker({ url: cluster.url, ... })
 * ```
 */
export async function startRedisCluster(options: StartRedisClusterOptions = {}): Promise<TestRedisCluster> {
  const ports = await clusterPorts(3);
  const dir = mkdtempSync(join(tmpdir(), 'cast-redis-cluster-'));
  const procs = new Map<number, ChildProcess>();

  const start = async (port: number) => {
    const args = [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      `nodes-${port}.conf`,
      '--cluster-node-timeout',
      '2000',
      '--cluster-require-full-coverage',
      'no',
      '--save',
      '',
      '--appendonly',
      options.persistent ? 'yes' : 'no',
      '--appendfsync',
      'always',
      '--appendfilename',
      `appendonly-${port}.aof`,
      '--appenddirname',
      `aof-${port}`,
      '--daemonize',
      'no',
    ];
    const proc = spawn('redis-server', args, { stdio: 'ignore' });
    children.add(proc);
    proc.once('exit', () => children.delete(proc));
    procs.set(port, proc);
    await until(`redis-server on ${port} did not answer`, 5000, () =>
      on(port, async (c) => (await c.ping()) === 'PONG'),
    );
  };

  const kill = async (port: number) => {
    const proc = procs.get(port);
    procs.delete(port);
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGKILL');
    await exited;
  };

  const stateOk = (port: number) =>
    on(port, async (c) => /cluster_state:ok/.test(String(await c.call('CLUSTER', 'INFO'))));

  const waitOk = async (timeoutMs = 15_000) => {
    await until('the Redis Cluster did not reach cluster_state:ok', timeoutMs, async () => {
      for (const port of procs.keys()) if (!(await stateOk(port))) return false;
      return true;
    });
  };

  const nodeIdOf = (port: number) => on(port, async (c) => String(await c.call('CLUSTER', 'MYID')));

  const portOfSlot = async (slot: number) => {
    for (const port of procs.keys()) {
      const slots = (await on(port, (c) => c.call('CLUSTER', 'SLOTS')).catch(() => undefined)) as
        Array<[number, number, [string, number, string]]> | undefined;
      if (!slots) continue;
      for (const [first, last, [, master]] of slots) if (slot >= first && slot <= last) return master;
    }
    throw new Error(`no master serves slot ${slot}`);
  };

  const stop = async () => {
    await Promise.all([...procs.keys()].map(kill));
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    await Promise.all(ports.map(start));
    await run(
      'redis-cli',
      ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'],
      { timeout: 30_000 },
    );
    await waitOk();
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    url: `redis+cluster://${ports.map((p) => `127.0.0.1:${p}`).join(',')}`,
    ports,
    slotOf: (key) =>
      on(ports.find((p) => procs.has(p)) as number, async (c) => Number(await c.call('CLUSTER', 'KEYSLOT', key))),
    portOfSlot,
    kill,
    async restart(port) {
      if (procs.has(port)) return;
      await start(port);
      await until(`the master on ${port} did not rejoin`, 15_000, () => stateOk(port));
    },
    async moveSlot(slot, toPort, moveOptions = {}) {
      const fromPort = await portOfSlot(slot);
      if (fromPort === toPort) return;
      const [fromId, toId] = await Promise.all([nodeIdOf(fromPort), nodeIdOf(toPort)]);
      await on(toPort, (c) => c.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', fromId));
      await on(fromPort, (c) => c.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', toId));
      if (moveOptions.pauseMs) await sleep(moveOptions.pauseMs);
      for (let round = 0; round < 10_000; round++) {
        const keys = (await on(fromPort, (c) => c.call('CLUSTER', 'GETKEYSINSLOT', slot, 100))) as string[];
        if (keys.length === 0) break;
        await on(fromPort, (c) => c.call('MIGRATE', '127.0.0.1', toPort, '', 0, 5000, 'KEYS', ...keys));
      }
      // The new owner first, then the old, then the rest (as redis-cli does).
      for (const port of [toPort, fromPort, ...ports.filter((p) => p !== toPort && p !== fromPort && procs.has(p))]) {
        await on(port, (c) => c.call('CLUSTER', 'SETSLOT', slot, 'NODE', toId));
      }
      await until(`slot ${slot} did not settle on ${toPort}`, 10_000, async () => {
        for (const port of procs.keys()) {
          const slots = (await on(port, (c) => c.call('CLUSTER', 'SLOTS'))) as Array<
            [number, number, [string, number]]
          >;
          if (!slots.some(([a, b, [, p]]) => slot >= a && slot <= b && p === toPort)) return false;
        }
        return true;
      });
    },
    waitOk,
    stop,
  };
}
