/**
 * Process plumbing of a run: the hubs under test, the load-generator child
 * processes, and what the kernel says about a process (CPU time, RSS, open
 * files). Linux `/proc` is read for the figures; elsewhere they are NaN.
 */
import { type ChildProcess, execFileSync, fork, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { WorkerReply } from './load/messages.js';
import { type PerfSplit, splitPerfScript } from './stats/perf-split.js';

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU time (ms) and memory of a process, from /proc. */
export interface ProcSample {
  userMs: number;
  systemMs: number;
  rssBytes: number;
  at: number;
}

/**
 * Samples a process.
 *
 * @param pid - the process id
 * @returns its CPU times and RSS
 * @example
 * ```ts
 * const before = sampleProcess(hub.pid);
 * ```
 */
export function sampleProcess(pid: number): ProcSample {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
    return {
      userMs: (Number(fields[11]) * 1000) / CLK_TCK,
      systemMs: (Number(fields[12]) * 1000) / CLK_TCK,
      rssBytes: rssKb * 1024,
      at: performance.now(),
    };
  } catch {
    return { userMs: Number.NaN, systemMs: Number.NaN, rssBytes: Number.NaN, at: performance.now() };
  }
}

/** CPU use between two samples, as a share of one core (1 = one core busy). */
export interface CpuShare {
  user: number;
  system: number;
  total: number;
}

/** Busy and total CPU time of the whole machine, in clock ticks (from /proc/stat). */
export interface MachineSample {
  busy: number;
  total: number;
}

/**
 * Samples the machine's CPU counters.
 *
 * @returns busy and total ticks (NaN off Linux)
 * @example
 * ```ts
 * const a = sampleMachine();
 * ```
 */
export function sampleMachine(): MachineSample {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return { busy: Number.NaN, total: Number.NaN };
  }
}

/**
 * How busy the whole machine was between two samples, in cores.
 *
 * @param a - the earlier sample
 * @param b - the later sample
 * @param cores - cores of the machine
 * @returns busy cores (0 … cores)
 * @example
 * ```ts
 * machineBusy(a, sampleMachine(), 2) // 1.9
 * ```
 */
export function machineBusy(a: MachineSample, b: MachineSample, cores: number): number {
  const total = b.total - a.total;
  return total > 0 ? ((b.busy - a.busy) / total) * cores : Number.NaN;
}

/**
 * CPU use between two samples.
 *
 * @param a - the earlier sample
 * @param b - the later sample
 * @returns user, system and total shares of one core
 * @example
 * ```ts
 * cpuBetween(before, sampleProcess(pid)).total // 0.97
 * ```
 */
export function cpuBetween(a: ProcSample, b: ProcSample): CpuShare {
  const wall = Math.max(1, b.at - a.at);
  const user = (b.userMs - a.userMs) / wall;
  const system = (b.systemMs - a.systemMs) / wall;
  return { user, system, total: user + system };
}

/**
 * A process's CPU per request between two samples, and its share of a core.
 *
 * @param a - the earlier sample
 * @param b - the later sample
 * @param requests - requests it answered between them
 * @returns µs of CPU (user and kernel) per request (NaN without requests), and the share of one core
 * @example
 * ```ts
 * costPerRequest(before, sampleProcess(pid), 25_000) // { us: 48.2, share: 0.4 }
 * ```
 */
export function costPerRequest(a: ProcSample, b: ProcSample, requests: number): { us: number; share: number } {
  const cpuMs = b.userMs + b.systemMs - (a.userMs + a.systemMs);
  return { us: requests > 0 ? (cpuMs * 1000) / requests : Number.NaN, share: cpuBetween(a, b).total };
}

/**
 * The open-files limit of a process and how many it has open.
 *
 * @param pid - the process id
 * @returns the soft limit and the current count
 * @example
 * ```ts
 * const { limit, open } = openFiles(hub.pid);
 * ```
 */
export function openFiles(pid: number): { limit: number; open: number } {
  try {
    const limits = readFileSync(`/proc/${pid}/limits`, 'utf8');
    const limit = Number(/Max open files\s+(\d+)/.exec(limits)?.[1] ?? Number.NaN);
    return { limit, open: readdirSync(`/proc/${pid}/fd`).length };
  } catch {
    return { limit: Number.NaN, open: Number.NaN };
  }
}

/** The command prefix that pins a hub to its core (empty when not pinned). */
let hubPrefix: string[] = [];

/**
 * Pins the run: every hub under test to core 0, this process (and so every
 * load generator it forks afterwards, and redis-server) to the other cores,
 * so a hub never competes with its own load for a core. Needs two or more
 * cores and `taskset` (util-linux).
 *
 * @returns what was done, for the run's output: pinned, or why not
 * @example
 * ```ts
 * log(pinCores()); // 'pinned: hubs on core 0, load generators on cores 1-1'
 * ```
 */
export function pinCores(): string {
  const cores = os.cpus().length;
  if (cores < 2) return `not pinned: this machine has ${cores} core (hubs and load share it)`;
  const rest = `1-${cores - 1}`;
  try {
    execFileSync('taskset', ['-a', '-p', '-c', rest, String(process.pid)], { stdio: 'ignore' });
  } catch {
    return 'not pinned: `taskset` (util-linux) is not available or not allowed here (hubs and load share every core)';
  }
  hubPrefix = ['taskset', '-c', '0'];
  return `pinned: every hub on core 0, the runner and load generators on cores ${rest}`;
}

/**
 * The core every hub runs on, when the run is pinned (see {@link pinCores}).
 *
 * @returns the core's number, or undefined when hubs are not pinned
 * @example
 * ```ts
 * const core = hubCore(); // 0 once pinCores() pinned the run
 * ```
 */
export function hubCore(): number | undefined {
  return hubPrefix.length > 0 ? 0 : undefined;
}

/** The Node.js flags that name JavaScript functions in `perf` samples (V8 writes `/tmp/perf-<pid>.map`). */
export const PERF_NODE_ARGS = ['--perf-basic-prof', '--interpreted-frames-native-stack'];

/** Samples taken per second of the hubs' core by {@link startPerf}. */
export const PERF_HZ = 999;

/**
 * Why `perf` cannot sample a whole core here, or undefined when it can (it
 * needs Linux `perf` and the right to sample every process on a core: root,
 * or `kernel.perf_event_paranoid` at 0 or below).
 *
 * @returns the reason, or undefined
 * @example
 * ```ts
 * const why = perfUnavailable(); if (why) exit(why)
 * ```
 */
export function perfUnavailable(): string | undefined {
  const dir = mkdtempSync(join(os.tmpdir(), 'cast-perf-'));
  try {
    execFileSync('perf', ['record', '-q', '-C', '0', '-o', join(dir, 'check.data'), '--', 'true'], { stdio: 'pipe' });
    return undefined;
  } catch (e) {
    const err = e as { code?: string; stderr?: Buffer };
    if (err.code === 'ENOENT') return '`perf` (linux-perf) is not installed';
    return `\`perf record -C 0\` is not allowed here: ${(err.stderr?.toString() ?? '').trim().split('\n')[0] ?? ''}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A `perf record` of one core, running until {@link PerfRecording.stop}. */
export interface PerfRecording {
  /**
   * Stops sampling and splits the samples of these processes (see
   * `stats/perf-split.ts`); removes the recording and the processes' symbol maps.
   */
  stop(pids: readonly number[]): Promise<Map<number, PerfSplit>>;
}

/**
 * Starts sampling every process on one core, with call stacks, at {@link PERF_HZ}.
 *
 * @param core - the core (the hubs', see {@link hubCore})
 * @returns the recording
 * @example
 * ```ts
 * const rec = await startPerf(0); await sleep(3000); const split = await rec.stop([hub.pid]);
 * ```
 */
export async function startPerf(core: number): Promise<PerfRecording> {
  const dir = mkdtempSync(join(os.tmpdir(), 'cast-perf-'));
  const file = join(dir, 'perf.data');
  const child = spawn('perf', ['record', '-q', '-g', '-F', String(PERF_HZ), '-C', String(core), '-o', file], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  // perf has its events open once it has run a moment; an early exit is an error.
  const early = await Promise.race([exited, sleep(500).then(() => 'running' as const)]);
  if (early !== 'running') {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`perf record exited with ${early}: ${stderr.trim()}`);
  }
  return {
    async stop(pids) {
      try {
        child.kill('SIGINT');
        let timer: NodeJS.Timeout | undefined;
        const code = await Promise.race([
          exited,
          new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), 30_000))),
        ]);
        clearTimeout(timer);
        if (code === 'timeout') {
          child.kill('SIGKILL');
          throw new Error('perf record did not stop within 30 s');
        }
        const script = spawn('perf', ['script', '-i', file, '-F', 'pid,ip,sym'], {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let scriptErr = '';
        script.stderr.on('data', (d: Buffer) => (scriptErr += d.toString()));
        const scriptDone = new Promise<void>((resolve, reject) => {
          script.on('error', reject);
          script.on('close', (c) =>
            c === 0 ? resolve() : reject(new Error(`perf script exited with ${c}: ${scriptErr.trim()}`)),
          );
        });
        const [split] = await Promise.all([
          splitPerfScript(createInterface({ input: script.stdout, crlfDelay: Infinity })),
          scriptDone,
        ]);
        const wanted = new Map<number, PerfSplit>();
        for (const pid of pids) {
          const s = split.get(pid);
          if (s) wanted.set(pid, s);
        }
        return wanted;
      } finally {
        rmSync(dir, { recursive: true, force: true });
        // V8 writes the maps to /tmp whatever the temporary directory; each grows with the hub's code.
        for (const pid of pids) rmSync(`/tmp/perf-${pid}.map`, { force: true });
      }
    },
  };
}

/** A hub process under test. */
export interface Hub {
  /** `http://host:port`. */
  url: string;
  pid: number;
  /** Stops it (SIGTERM, then SIGKILL after 3 s). */
  stop(): Promise<void>;
  /** Output lines it printed (the last 200). */
  output: string[];
}

/**
 * Starts a hub process and waits for its `listening on http://HOST:PORT` line.
 *
 * @param command - the executable (usually `process.execPath`)
 * @param args - its arguments
 * @param env - extra environment
 * @param timeoutMs - how long to wait for the line
 * @returns the running hub
 * @example
 * ```ts
 * const hub = await startHub(process.execPath, ['dist/baseline/main.js'], { PORT: '0' });
 * ```
 */
export function startHub(
  command: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs = 20_000,
): Promise<Hub> {
  return new Promise((resolve, reject) => {
    // `taskset` execs the hub, so the child's pid is the hub's.
    const [file, ...argv] = [...hubPrefix, command, ...args] as [string, ...string[]];
    const child = spawn(file, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const output: string[] = [];
    let done = false;
    const timer = setTimeout(
      () => finish(new Error(`hub did not start in ${timeoutMs} ms:\n${output.join('\n')}`)),
      timeoutMs,
    );
    const finish = (err?: Error, url?: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) {
        child.kill('SIGKILL');
        reject(err);
      } else resolve(hubOf(child, url!, output));
    };
    const onLine = (line: string): void => {
      output.push(line);
      if (output.length > 200) output.shift();
      const m = /listening on (http:\/\/[^\s]+)/.exec(line);
      if (m) finish(undefined, m[1]!.replace(/\/$/, '').replace('//0.0.0.0', '//127.0.0.1'));
    };
    for (const stream of [child.stdout, child.stderr]) {
      let buf = '';
      stream.setEncoding('utf8');
      stream.on('data', (d: string) => {
        buf += d;
        let nl: number;
        while ((nl = buf.indexOf('\n')) !== -1) {
          onLine(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
        }
      });
    }
    child.on('exit', (code) => finish(new Error(`hub exited with ${code}:\n${output.join('\n')}`)));
  });
}

function hubOf(child: ChildProcess, url: string, output: string[]): Hub {
  return {
    url,
    pid: child.pid!,
    output,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const kill = setTimeout(() => child.kill('SIGKILL'), 3000);
        child.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}

/** A load-generator child process with request/reply over IPC. */
export class Worker {
  private nextId = 1;
  private readonly waiting = new Map<number, (r: WorkerReply) => void>();
  private readonly child: ChildProcess;
  private exited = false;

  /**
   * Forks a worker script.
   *
   * @param script - path of the compiled worker
   */
  constructor(script: string) {
    this.child = fork(script, [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: ['--max-old-space-size=2048'],
    });
    this.child.on('message', (m) => {
      const reply = m as WorkerReply;
      const w = this.waiting.get(reply.id);
      this.waiting.delete(reply.id);
      w?.(reply);
    });
    this.child.on('exit', () => {
      this.exited = true;
      for (const w of this.waiting.values()) w({ type: 'ack', id: -1 });
      this.waiting.clear();
    });
  }

  /** The worker's process id. */
  get pid(): number {
    return this.child.pid!;
  }

  /**
   * Sends a command and waits for its reply.
   *
   * @param command - the command without its id
   * @param timeoutMs - how long to wait
   * @returns the reply
   */
  call<R extends WorkerReply>(command: Record<string, unknown> & { type: string }, timeoutMs = 120_000): Promise<R> {
    if (this.exited) return Promise.reject(new Error('worker has exited'));
    const id = this.nextId++;
    return new Promise<R>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`worker did not answer ${command.type} in ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, (r) => {
        clearTimeout(timer);
        if (r.id === -1) reject(new Error(`worker exited during ${command.type}`));
        else resolve(r as R);
      });
      this.child.send({ ...command, id });
    });
  }

  /** Ends the worker. */
  async stop(): Promise<void> {
    if (this.exited) return;
    await this.call({ type: 'exit' }, 5000).catch(() => this.child.kill('SIGKILL'));
  }
}

/**
 * Path of a compiled file next to this one (`dist/…`).
 *
 * @param relative - e.g. `load/subscriber-worker.js`
 * @returns the absolute path
 * @example
 * ```ts
 * new Worker(distPath('load/request-worker.js'));
 * ```
 */
export function distPath(relative: string): string {
  return fileURLToPath(new URL(relative, import.meta.url));
}

/**
 * A free TCP port on loopback (for processes that cannot listen on port 0, like redis-server).
 *
 * @returns the port
 * @example
 * ```ts
 * const port = await freePort();
 * ```
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * Waits.
 *
 * @param ms - how long
 * @returns a promise resolved after `ms`
 * @example
 * ```ts
 * await sleep(500);
 * ```
 */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
