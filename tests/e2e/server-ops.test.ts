import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { issueToken, publish, SERVER_ENTRY, startServer, type TestServer } from './helpers/server.js';
import { openRaw, type RawStream } from './helpers/sse.js';

const run = promisify(execFile);
const children = new Set<ChildProcess>();
const streams: RawStream[] = [];
afterAll(() => {
  for (const s of streams) s.close();
  for (const c of children) c.kill('SIGKILL');
});

/** Runs the built server with exactly this environment until it prints `until` or exits. */
function spawnServer(
  env: Record<string, string>,
  until?: RegExp,
): Promise<{ code: number | null; out: string; err: string; child: ChildProcess }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SERVER_ENTRY], {
      env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no exit within 10 s:\n${out}${err}`));
    }, 10_000);
    const check = () => {
      if (until && until.test(out)) {
        clearTimeout(timer);
        resolve({ code: null, out, err, child });
      }
    };
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      check();
    });
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.once('exit', (code) => {
      children.delete(child);
      clearTimeout(timer);
      resolve({ code, out, err, child });
    });
  });
}

function stopChild(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((r) => {
    child.once('exit', (code) => r(code));
    child.kill('SIGTERM');
  });
}

const VALID = { CAST_API_KEYS: 'acme=sk_test_0123456789abcdef', CAST_SIGNING_SECRET: 'x'.repeat(32) };

describe('configuration of the real process', () => {
  it.each([
    [{ PORT: 'eighty' }, 'PORT'],
    [{ CAST_HEARTBEAT_MS: '5' }, 'CAST_HEARTBEAT_MS'],
    [{ CAST_MAX_PAYLOAD_BYTES: 'big' }, 'CAST_MAX_PAYLOAD_BYTES'],
    [{ CAST_API_KEYS: 'acme' }, 'CAST_API_KEYS'],
    [{ CAST_SIGNING_SECRET: 'short' }, 'CAST_SIGNING_SECRET'],
    [{ CAST_API_KEYS: 'acme=sk_test_0123456789abcdef', CAST_SIGNING_SECRET: '' }, 'CAST_SIGNING_SECRET'],
    [{ CAST_CORS_ORIGINS: 'not an origin' }, 'CAST_CORS_ORIGINS'],
  ])('refuses %j with one line naming %s and exit code 1', async (override, name) => {
    const { code, out, err } = await spawnServer({
      ...VALID,
      CAST_DATA_DIR: mkdtempSync(join(tmpdir(), 'cast-e2e-')),
      ...override,
    });
    expect(code).toBe(1);
    expect(out).toBe('');
    const lines = err.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^cast: invalid configuration: ${name}\\b`));
    expect(err).not.toMatch(/\bat .+:\d+:\d+/);
  });

  it('says in one line when the port is taken', async () => {
    const first = await startServer();
    try {
      const { code, err } = await spawnServer({
        ...VALID,
        PORT: String(first.port),
        CAST_DATA_DIR: mkdtempSync(join(tmpdir(), 'cast-e2e-')),
      });
      expect(code).toBe(1);
      expect(err.trimEnd().split('\n')).toEqual([expect.stringMatching(/port \d+ is already in use; set PORT/)]);
    } finally {
      await first.stop();
    }
  });

  it('creates development credentials, prints a curl that works, and reuses them after a restart', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'cast-e2e-'));
    const first = await spawnServer({ CAST_DATA_DIR: dataDir }, /Publish:\n.*curl[^\n]*\n/);
    expect(first.code).toBeNull();
    const key = /API key: (\S+)/.exec(first.out)?.[1] as string;
    expect(key).toMatch(/^sk_dev_/);
    const stored = JSON.parse(readFileSync(join(dataDir, 'dev-credentials.json'), 'utf8')) as { apiKey: string };
    expect(stored.apiKey).toBe(key);
    const curls = first.out.split('\n').filter((l) => l.trim().startsWith('curl '));
    expect(curls).toHaveLength(2);
    for (const c of curls) expect(c).toContain(key);
    // The printed commands, pasted as they are.
    const token = JSON.parse((await run('sh', ['-c', `${curls[0]} --silent --max-time 5`])).stdout) as {
      token: string;
      channels: string[];
    };
    expect(token.channels).toEqual(['orders']);
    const published = JSON.parse((await run('sh', ['-c', `${curls[1]} --silent --max-time 5`])).stdout) as {
      creditsUsed: number;
    };
    expect(published.creditsUsed).toBe(0);
    expect(await stopChild(first.child)).toBe(0);

    const second = await spawnServer({ CAST_DATA_DIR: dataDir }, /Publish:\n.*curl[^\n]*\n/);
    expect(/API key: (\S+)/.exec(second.out)?.[1]).toBe(key);
    const url = /listening on (\S+)/.exec(second.out)?.[1] as string;
    // A token from the first run still verifies: the signing secret was kept too.
    const s = await openRaw(`${url}/push/stream?token=${encodeURIComponent(token.token)}`);
    streams.push(s);
    expect(s.status).toBe(200);
    s.close();
    expect(await stopChild(second.child)).toBe(0);
  });
});

describe('start banner', () => {
  /** Starts the server, reads its console's status, stops it: everything it printed until it exited. */
  async function startAndStop(env: Record<string, string>): Promise<{ url: string; lines: string[]; status: number }> {
    const started = await spawnServer(
      { ...VALID, CAST_DATA_DIR: mkdtempSync(join(tmpdir(), 'cast-e2e-')), ...env },
      /listening on \S+ \(/,
    );
    expect(started.code).toBeNull();
    let out = started.out;
    started.child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const url = /listening on (\S+) \(/.exec(out)?.[1] as string;
    const status = (await fetch(`${url}/console/`)).status;
    expect(await stopChild(started.child)).toBe(0);
    const lines = out.split('\n');
    // The whole banner was read: the stop line comes after it.
    expect(lines).toContain('cast: SIGTERM received, closing streams');
    return { url, lines, status };
  }

  it("names the console's URL, which serves the console", async () => {
    const { url, lines, status } = await startAndStop({});
    // `Console: <url>/console/ (subscribe and publish ...)`: the address is the line's second word.
    expect(lines.filter((l) => l.startsWith('Console:')).map((l) => l.split(' ')[1])).toEqual([`${url}/console/`]);
    expect(status).toBe(200);
  });

  it('prints no console line with CAST_CONSOLE=off', async () => {
    const { lines, status } = await startAndStop({ CAST_CONSOLE: 'off' });
    expect(lines.filter((l) => /console/i.test(l))).toEqual([]);
    expect(status).toBe(404);
  });
});

describe('operations endpoints', () => {
  let server: TestServer;
  afterAll(async () => {
    await server?.stop();
  });

  it('answers /healthz and /readyz', async () => {
    server = await startServer();
    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', broker: 'memory' });
  });

  it('exposes the named series in the Prometheus text format, counting what happened', async () => {
    const { token } = await issueToken(server, { channels: ['m'] });
    const a = await openRaw(`${server.url}/push/stream?token=${encodeURIComponent(token)}`);
    const b = await openRaw(`${server.url}/push/stream?token=${encodeURIComponent(token)}`);
    streams.push(a, b);
    await Promise.all([a.waitFor(1), b.waitFor(1)]);
    const first = await publish(server, { channel: 'm', event: 'x', data: 1 });
    await publish(server, { channel: 'm', event: 'x', data: 2 });
    const resumed = await openRaw(`${server.url}/push/stream?token=${encodeURIComponent(token)}`, {
      'last-event-id': first.body.eventId,
    });
    streams.push(resumed);
    await resumed.waitFor(2);

    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const value = (series: string) => {
      const line = text.split('\n').find((l) => l.startsWith(`${series} `) || l.startsWith(`${series}{`));
      expect(line, series).toBeDefined();
      return Number(line?.split(' ').at(-1));
    };
    // Every sample line is `name{labels} value` and every family has HELP and TYPE.
    for (const line of text.trimEnd().split('\n')) {
      expect(line).toMatch(
        /^(# (HELP|TYPE) [a-z_][a-z0-9_]* .+|[a-z_][a-z0-9_]*(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [0-9.e+-]+)$/,
      );
    }
    expect(text).toMatch(/^# TYPE cast_connections gauge$/m);
    expect(text).toMatch(/^# TYPE cast_publish_duration_seconds histogram$/m);
    expect(value('cast_connections')).toBe(3);
    expect(value('cast_events_published_total')).toBe(2);
    expect(value('cast_deliveries_total')).toBe(4);
    expect(value('cast_replays_total')).toBe(1);
    expect(value('cast_replayed_events_total')).toBe(1);
    expect(value('cast_slow_consumer_drops_total')).toBe(0);
    expect(value('cast_publish_duration_seconds_count')).toBe(2);
    expect(text).toMatch(/^cast_publish_duration_seconds_bucket\{le="\+Inf"\} 2$/m);
    expect(value('cast_tokens_issued_total')).toBe(1);
    // The process's own figures, under the names the usual Node.js exporters use.
    expect(value('process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(value('process_resident_memory_bytes')).toBeGreaterThan(1 << 20);
    expect(value('nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(text).toMatch(/^# TYPE nodejs_gc_duration_seconds histogram$/m);
    expect(text).toMatch(/^# TYPE cast_event_loop_delay_seconds summary$/m);
    expect(value('cast_event_loop_delay_seconds_count')).toBeGreaterThan(0);
    expect(value('cast_event_loop_delay_max_seconds')).toBeGreaterThanOrEqual(0);
  });

  it('allows any origin by default', async () => {
    const res = await fetch(`${server.url}/healthz`, { headers: { origin: 'https://anything.example' } });
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
  });
});

describe('SIGTERM', () => {
  it('ends every stream cleanly and exits 0, without waiting for the grace period', async () => {
    const server = await startServer({ env: { CAST_SHUTDOWN_GRACE_MS: '30000' } });
    const { token } = await issueToken(server, { channels: ['bye'] });
    // Read each stream to its end by hand, to tell a clean end from a reset.
    const outcomes = Array.from({ length: 5 }, async () => {
      const res = await fetch(`${server.url}/push/stream?token=${encodeURIComponent(token)}`);
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      let text = '';
      const first = await reader.read();
      text += new TextDecoder().decode(first.value);
      return {
        text,
        end: (async () => {
          try {
            for (;;) {
              const { value, done } = await reader.read();
              if (done) return 'clean';
              text += new TextDecoder().decode(value);
            }
          } catch (err) {
            return `error: ${(err as Error).message}`;
          }
        })(),
      };
    });
    const opened = await Promise.all(outcomes);
    expect(opened.every((o) => o.text.includes('event: connected'))).toBe(true);
    // A stream the client gave up on: Node's fetch then keeps a spare connection with no request
    // open, which must not hold the exit for the grace period either.
    const gone = new AbortController();
    const abandoned = await fetch(`${server.url}/push/stream?token=${encodeURIComponent(token)}`, {
      signal: gone.signal,
    });
    expect(abandoned.status).toBe(200);
    gone.abort();
    const started = Date.now();
    const code = await server.stop();
    expect(code).toBe(0);
    expect(await Promise.all(opened.map((o) => o.end))).toEqual(['clean', 'clean', 'clean', 'clean', 'clean']);
    // Well under the 4 s after which the client itself would drop its spare connection.
    expect(Date.now() - started).toBeLessThan(3000);
    expect(server.output()).toContain('SIGTERM received');
  }, 20_000);
});
