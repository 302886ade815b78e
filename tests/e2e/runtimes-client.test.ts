import { skipWhenMissing } from './helpers/skip.js';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bundleForBrowser } from './helpers/browser.js';
import { type TestServer, issueToken, publish, startServer } from './helpers/server.js';

// The built client (what npm users get) in Deno, Bun and Vercel's edge VM, each installed from the npm
// registry as a devDependency of this package, against the real server, across a server restart.
const here = dirname(fileURLToPath(import.meta.url));
const FIXTURES = join(here, 'fixtures/runtimes');
const SUBSCRIBER = join(FIXTURES, 'subscriber.js');
const CLIENT_DIST = resolve(here, '../../packages/realtime-client/dist/index.js');
const require = createRequire(import.meta.url);

/** The first path that exists and is a real binary (bun's npm launcher is a small stub until its postinstall ran). */
function binary(candidates: Array<() => string>): string | undefined {
  for (const candidate of candidates) {
    try {
      const path = candidate();
      if (existsSync(path) && statSync(path).size > 1_000_000) return path;
    } catch {
      // not installed in this layout; try the next one
    }
  }
  return undefined;
}
const packageDir = (name: string, from?: string) =>
  dirname(require.resolve(`${name}/package.json`, from ? { paths: [from] } : undefined));

const BUN = binary([
  () => join(packageDir('bun'), 'bin/bun.exe'),
  () => join(packageDir('@oven/bun-linux-x64', packageDir('bun')), 'bin/bun'),
]);
const DENO = binary([
  () => join(packageDir('deno'), 'deno'),
  () => join(packageDir('@deno/linux-x64-glibc', packageDir('deno')), 'deno'),
]);

interface Line {
  kind: 'globals' | 'event' | 'state' | 'resume' | 'error' | 'done';
  [key: string]: unknown;
}

/** A fixture process and the JSON lines it printed. */
interface Subscriber {
  lines: Line[];
  stderr: string[];
  exit: Promise<number | null>;
  child: ChildProcess;
}

const children = new Set<ChildProcess>();
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  for (const child of children) child.kill('SIGKILL');
  children.clear();
});

function run(command: string, args: string[]): Subscriber {
  const child = spawn(command, args, {
    cwd: FIXTURES,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? tmpdir(),
      NO_COLOR: '1',
      // Deno's cache in a scratch folder, and no look-up of newer releases.
      DENO_DIR: join(scratch, 'deno'),
      DENO_NO_UPDATE_CHECK: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const lines: Line[] = [];
  const stderr: string[] = [];
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (text) => {
    if (text.startsWith('{')) lines.push(JSON.parse(text) as Line);
    else stderr.push(text);
  });
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { lines, stderr, exit, child };
}

async function waitFor(sub: Subscriber, check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline || sub.child.exitCode !== null) {
      throw new Error(
        `timed out waiting for ${what}\nlines: ${JSON.stringify(sub.lines)}\nstderr: ${sub.stderr.join('')}`,
      );
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The exit code, or 'still running' after `timeoutMs`. */
async function exitWithin(sub: Subscriber, timeoutMs: number): Promise<number | null | 'still running'> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<'still running'>((r) => {
    timer = setTimeout(() => r('still running'), timeoutMs);
  });
  try {
    return await Promise.race([sub.exit, late]);
  } finally {
    clearTimeout(timer);
  }
}

const of = (sub: Subscriber, kind: Line['kind']) => sub.lines.filter((l) => l.kind === kind);
const connects = (sub: Subscriber) => of(sub, 'state').filter((l) => l.state === 'connected').length;

async function send(s: TestServer, channel: string, event: string, n: number): Promise<void> {
  const res = await publish(s, { channel, event, data: { n } });
  expect(res.status).toBe(200);
}

/** A folder for the edge bundle and Deno's cache, removed after the suite. */
let scratch = '';
let edgeBundle = '';
beforeAll(async () => {
  if (!existsSync(CLIENT_DIST)) throw new Error('build the client first: pnpm --filter @cast/realtime-client build');
  scratch = mkdtempSync(join(tmpdir(), 'cast-runtimes-'));
  // Edge platforms take one script: the fixture and the built client (with its dependencies) in one file.
  edgeBundle = join(scratch, 'subscriber.js');
  writeFileSync(edgeBundle, await bundleForBrowser(SUBSCRIBER, { format: 'iife', target: 'es2022' }));
});
afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

interface Runtime {
  name: string;
  /** What the fixture finds itself running in. */
  id: string;
  skip: string | false;
  /** Whether the runtime itself offers no Node globals (so the client cannot be leaning on them). */
  bare: boolean;
  start: (config: string) => Subscriber;
}

const runtimes: Runtime[] = [
  {
    name: 'Deno',
    id: 'deno',
    skip: DENO ? false : 'the deno package is not installed',
    bare: false,
    // Network to the loopback only; nothing else is granted.
    start: (config) => run(DENO as string, ['run', '--no-prompt', '--allow-net=127.0.0.1', SUBSCRIBER, config]),
  },
  {
    name: 'Bun',
    id: 'bun',
    skip: BUN ? false : 'the bun package is not installed (or its postinstall did not run)',
    bare: false,
    start: (config) => run(BUN as string, ['--no-install', SUBSCRIBER, config]),
  },
  {
    name: 'the edge runtime',
    id: 'edge-runtime',
    skip: false,
    bare: true,
    start: (config) => run(process.execPath, [join(FIXTURES, 'edge-host.js'), edgeBundle, config]),
  },
];

describe.each(runtimes)('the built client in $name', ({ name, id, skip, bare, start }) => {
  it.skipIf(skipWhenMissing(Boolean(skip)))(
    'receives wildcard events in order, resumes after a server restart, and stops cleanly',
    async () => {
      const s = await startServer({ env: { CAST_HEARTBEAT_MS: '300' } });
      cleanups.push(() => s.kill());
      const { token } = await issueToken(s, { channels: ['orders', 'support'] });
      const sub = start(JSON.stringify({ url: s.url, token, pattern: 'order.*' }));

      await waitFor(sub, () => connects(sub) === 1, `${name}: connected`);
      // Events of two channels; the `ticket.*` ones must not reach the `order.*` handler.
      await send(s, 'orders', 'order.created', 1);
      await send(s, 'support', 'ticket.opened', 2);
      await send(s, 'support', 'order.refunded', 3);
      await send(s, 'orders', 'order.paid', 4);
      await waitFor(sub, () => of(sub, 'event').length === 3, `${name}: events 1, 3, 4`);

      await s.restart();
      await waitFor(sub, () => connects(sub) === 2, `${name}: the reconnect after the restart`);
      await send(s, 'orders', 'order.created', 5);
      await send(s, 'support', 'ticket.closed', 6);
      await send(s, 'orders', 'order.shipped', 7);
      await send(s, 'orders', 'control.stop', 8);
      expect(await exitWithin(sub, 20_000)).toBe(0);

      const events = of(sub, 'event');
      expect(events.map((e) => [e.type, e.channel, e.data])).toEqual([
        ['order.created', 'orders', { n: 1 }],
        ['order.refunded', 'support', { n: 3 }],
        ['order.paid', 'orders', { n: 4 }],
        ['order.created', 'orders', { n: 5 }],
        ['order.shipped', 'orders', { n: 7 }],
      ]);
      for (const e of events) expect(e.id).toMatch(new RegExp(`^\\d+-\\d+/${String(e.channel)}$`));
      expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
      // The embedded broker's history is in memory: after a restart it cannot vouch for the gap, and says so.
      expect(of(sub, 'resume').map((l) => l.recovered)).toEqual([false]);
      const errors = of(sub, 'error');
      expect(errors.length).toBeGreaterThan(0);
      expect(errors.every((l) => l.retryable === true)).toBe(true);
      expect(of(sub, 'done')).toEqual([{ kind: 'done', state: 'closed' }]);
      // Exiting on its own (code 0 above) means destroy() left no socket or timer behind.
      const [globals, ...more] = of(sub, 'globals');
      expect(more).toEqual([]);
      expect(globals?.runtime).toBe(id);
      if (bare) expect(globals).toMatchObject({ process: 'undefined', Buffer: 'undefined', require: 'undefined' });
    },
  );
});
