import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CastServer } from '@cast/server-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from './helpers/server.js';
import { openRaw, type RawStream } from './helpers/sse.js';

const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '../../packages/server-sdk/dist/cli.js');

let server: TestServer;
let cast: CastServer;
const streams: RawStream[] = [];
const children = new Set<ChildProcess>();

beforeAll(async () => {
  server = await startServer();
  cast = new CastServer({ apiKey: server.apiKey, baseUrl: server.url });
});

afterAll(async () => {
  for (const s of streams) s.close();
  for (const child of children) child.kill('SIGKILL');
  await server?.stop();
});

function env(): Record<string, string> {
  return { PATH: process.env.PATH ?? '', CAST_API_KEY: server.apiKey, CAST_URL: server.url };
}

/** Runs `cast ...` to completion. */
function run(args: string[], options: { stdin?: string; env?: Record<string, string> } = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((done, fail) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: options.env ?? env(), stdio: 'pipe' });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(new Error(`cast ${args.join(' ')} did not finish in 15 s:\n${stdout}\n${stderr}`));
    }, 15_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      children.delete(child);
      done({ code, stdout, stderr });
    });
    child.stdin.end(options.stdin ?? '');
  });
}

async function subscribe(channels: string[]): Promise<RawStream> {
  const { token } = await cast.tokens.create({ channels });
  const sse = await openRaw(`${server.url}/push/stream?token=${encodeURIComponent(token)}`);
  streams.push(sse);
  await sse.waitFor(1, { match: (e) => e.event === 'connected' });
  return sse;
}

/** Resolves when the text a child printed on `source` matches, or rejects after `timeoutMs`. */
function until(
  source: NodeJS.ReadableStream,
  text: () => string,
  pattern: RegExp,
  what: string,
  timeoutMs = 15_000,
): Promise<void> {
  return new Promise((done, fail) => {
    const check = (): void => {
      if (!pattern.test(text())) return;
      clearTimeout(timer);
      source.off('data', onData);
      done();
    };
    // Runs after the collector listener added at spawn time, so text() already holds the chunk.
    const onData = (): void => check();
    const timer = setTimeout(() => {
      source.off('data', onData);
      fail(new Error(`timed out waiting for ${what}; got:\n${text()}`));
    }, timeoutMs);
    source.on('data', onData);
    check();
  });
}

describe('cast token', () => {
  it('prints a token that opens a stream on the channels asked for', async () => {
    const { code, stdout, stderr } = await run([
      'token',
      '--channels',
      'cli:a,cli:b',
      '--user',
      'cli_user',
      '--ttl',
      '120',
    ]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const token = stdout.trim();
    expect(token.split('.')).toHaveLength(3);
    const sse = await openRaw(`${server.url}/push/stream?token=${encodeURIComponent(token)}`);
    streams.push(sse);
    const [hello] = await sse.waitFor(1);
    expect(JSON.parse(hello?.data ?? '{}')).toEqual({ channels: ['cli:a', 'cli:b'] });
    expect(await cast.sessions.list({ userId: 'cli_user' })).toHaveLength(1);
  });

  it('--json prints the server answer; a wrong key fails with its code and exit 1', async () => {
    const ok = await run(['token', '--channels', 'cli:json', '--json']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ channels: ['cli:json'], token: expect.any(String) });

    const bad = await run(['token', '--channels', 'cli:json', '--key', 'sk_wrong']);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toBe('');
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toContain('INVALID_API_KEY');
  });

  it('without a key or URL it says which is missing, exit 2', async () => {
    const { code, stderr } = await run(['token', '--channels', 'a'], { env: { PATH: process.env.PATH ?? '' } });
    expect(code).toBe(2);
    expect(stderr).toContain('CAST_API_KEY');
  });
});

describe('cast publish', () => {
  it('publishes the JSON argument and standard input to the stream', async () => {
    const sse = await subscribe(['cli:pub']);
    const first = await run(['publish', 'cli:pub', 'order.created', '{"id":"a1","total":4999}', '--json']);
    expect(first.code).toBe(0);
    const answer = JSON.parse(first.stdout) as { eventId: string; delivered: number };
    expect(answer.delivered).toBe(1);

    const second = await run(['publish', 'cli:pub', 'order.paid', '-'], { stdin: '{"id":"a1"}\n' });
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('delivered to 1 connection');

    const received = await sse.waitFor(2, { match: (e) => e.event !== 'connected' });
    expect(received).toEqual([
      { id: answer.eventId, event: 'order.created', data: '{"id":"a1","total":4999}' },
      { id: expect.stringMatching(/\/cli:pub$/), event: 'order.paid', data: '{"id":"a1"}' },
    ]);
  });

  it('the same --idempotency-key twice is delivered once', async () => {
    const sse = await subscribe(['cli:idem']);
    const args = ['publish', 'cli:idem', 'job.done', '{"n":1}', '--idempotency-key', 'cli-job-1', '--json'];
    const a = await run(args);
    const b = await run(args);
    expect(JSON.parse(b.stdout)).toMatchObject({ messageId: JSON.parse(a.stdout).messageId, duplicate: true });
    await run(['publish', 'cli:idem', 'sentinel', '{}']);
    await sse.waitFor(1, { match: (e) => e.event === 'sentinel' });
    expect(sse.events.filter((e) => e.event === 'job.done')).toHaveLength(1);
  });
});

describe('cast disconnect', () => {
  /** Opens a stream of `userId`, runs `cast disconnect --user <userId> ...flags`, returns its final event's data. */
  async function disconnect(userId: string, flags: string[]) {
    const { token } = await cast.tokens.create({ channels: ['cli:kick'], userId });
    const sse = await openRaw(`${server.url}/push/stream?token=${encodeURIComponent(token)}`);
    streams.push(sse);
    await sse.waitFor(1, { match: (e) => e.event === 'connected' });
    const { code, stdout, stderr } = await run(['disconnect', '--user', userId, ...flags]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const [last] = await sse.waitFor(1, { match: (e) => e.event === 'disconnected' });
    await sse.ended;
    return { stdout: stdout.trim(), data: JSON.parse(last?.data ?? '{}') as { reconnect?: boolean } };
  }

  it('tells the clients not to reconnect, like the API, unless --reconnect asks them back', async () => {
    expect(await disconnect('cli_kick_1', [])).toEqual({
      stdout: 'disconnected 1 stream (the clients were told not to reconnect)',
      data: expect.objectContaining({ reconnect: false }),
    });
    expect(await disconnect('cli_kick_2', ['--reconnect'])).toEqual({
      stdout: 'disconnected 1 stream (the clients will reconnect)',
      data: expect.objectContaining({ reconnect: true }),
    });
    // Scripts written for the old default keep working.
    expect(await disconnect('cli_kick_3', ['--no-reconnect'])).toEqual({
      stdout: 'disconnected 1 stream (the clients were told not to reconnect)',
      data: expect.objectContaining({ reconnect: false }),
    });
  });
});

describe('cast listen', () => {
  it('prints events as they arrive, resumes after the server restarts, and exits 0 on Ctrl-C', async () => {
    const child = spawn(process.execPath, [CLI, 'listen', 'cli:listen', 'cli:other', '--json'], {
      env: env(),
      stdio: 'pipe',
    });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));

    await until(child.stderr, () => stderr, /listening on cli:listen, cli:other/, 'the listener to connect');
    await cast.publish({ channel: 'cli:listen', event: 'order.created', data: { id: 'L1' } });
    await cast.publish({ channel: 'cli:other', event: 'ticket.closed', data: { ticketId: 'T1' } });
    await until(child.stdout, () => stdout, /T1/, 'two events');
    const lines = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toEqual([
      { id: expect.stringMatching(/\/cli:listen$/), channel: 'cli:listen', event: 'order.created', data: { id: 'L1' } },
      {
        id: expect.stringMatching(/\/cli:other$/),
        channel: 'cli:other',
        event: 'ticket.closed',
        data: { ticketId: 'T1' },
      },
    ]);

    await server.restart();
    await until(child.stderr, () => stderr, /resumed on cli:listen, cli:other/, 'the listener to resume');
    await cast.publish({ channel: 'cli:listen', event: 'order.created', data: { id: 'L2' } });
    await until(child.stdout, () => stdout, /L2/, 'the event after the restart');

    child.kill('SIGINT');
    expect(await exited).toBe(0);
    children.delete(child);
    expect(stderr).toMatch(/stream dropped/);
  });
  it('says which URL it cannot reach and why, keeps trying, and exits 0 on Ctrl-C', async () => {
    // A loopback port that nothing listens on.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const { port } = probe.address() as { port: number };
    await new Promise<void>((r) => probe.close(() => r()));
    const url = `http://127.0.0.1:${port}`;

    const child = spawn(process.execPath, [CLI, 'listen', 'cli:nowhere', '--url', url], { env: env(), stdio: 'pipe' });
    children.add(child);
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));

    const said = `cast: cannot reach ${url.replace(/[.]/g, '\\.')} \\(connect ECONNREFUSED [^)]*\\); retrying`;
    // Said on every failed attempt, not once: the second line shows it kept trying.
    await until(
      child.stderr,
      () => stderr,
      new RegExp(`${said}\\n[\\s\\S]*${said}`),
      'two attempts that could not reach the server',
    );
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    children.delete(child);
  });
});

describe("cast webhooks listen, as the server's webhook receiver", () => {
  it('prints the signed deliveries of a real server: occupied, join, leave, vacated', async () => {
    const secret = 'whsec_cli_e2e_0123456789abcdef0123456789';
    const listener = spawn(process.execPath, [CLI, 'webhooks', 'listen', '--port', '0', '--secret', secret], {
      env: env(),
      stdio: 'pipe',
    });
    children.add(listener);
    let out = '';
    listener.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    listener.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const waitOut = async (pattern: RegExp, what: string) => {
      const deadline = Date.now() + 15_000;
      while (!pattern.test(out)) {
        if (Date.now() > deadline) throw new Error(`cast webhooks listen did not print ${what}:\n${out}`);
        await new Promise((r) => setTimeout(r, 25));
      }
      return pattern.exec(out) as RegExpExecArray;
    };
    const url = (await waitOut(/receiving webhooks on (http:\/\/\S+)/, 'its address'))[1] as string;
    const hooked = await startServer({
      env: { CAST_WEBHOOKS: `acme=${url}`, CAST_WEBHOOK_SECRET: secret, CAST_PRESENCE_GRACE_MS: '200' },
      tenants: { acme: server.apiKey },
    });
    try {
      const sdk = new CastServer({ apiKey: hooked.apiKey, baseUrl: hooked.url });
      const { token } = await sdk.tokens.create({ channels: ['order:9'], userId: 'user_9' });
      const sse = await openRaw(`${hooked.url}/push/stream?token=${encodeURIComponent(token)}`);
      await sse.waitFor(1, { match: (e) => e.event === 'connected' });
      await waitOut(/ channel\.occupied order:9 \(/, 'channel.occupied');
      await waitOut(/ presence\.join order:9 user user_9 \(/, 'presence.join');
      sse.close();
      await waitOut(/ presence\.leave order:9 user user_9 \(/, 'presence.leave');
      await waitOut(/ channel\.vacated order:9 \(/, 'channel.vacated');
      expect(out).not.toContain('refused a delivery');
    } finally {
      await hooked.stop();
      listener.kill('SIGINT');
    }
  });
});
