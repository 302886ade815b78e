import { type ChildProcess, spawn } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
/** The built server entry point (`pnpm test` builds it first). */
export const SERVER_ENTRY = resolve(here, '../../../apps/server/dist/main.js');

/** Options of {@link startServer}. */
export interface StartServerOptions {
  /** Extra environment variables (limits, CAST_REDIS_URL, ...). */
  env?: Record<string, string>;
  /** Tenants and their secret keys; default one tenant `acme` with a random key. */
  tenants?: Record<string, string>;
  /** A fixed port (to restart on the same one); default 0 (a free port). */
  port?: number;
  /** The signing secret; default a random one. */
  signingSecret?: string;
}

/** A server process started for a test. */
export interface TestServer {
  /** Base URL, e.g. http://127.0.0.1:43121 */
  url: string;
  port: number;
  /** The first tenant's name and secret key. */
  tenant: string;
  apiKey: string;
  /** Every tenant → key. */
  tenants: Record<string, string>;
  signingSecret: string;
  /** The environment the process was started with (to start a sibling node). */
  env: Record<string, string>;
  /** Everything the process printed so far. */
  output(): string;
  /** The process id of the running server (to read its memory, or signal its memory probe). */
  pid(): number | undefined;
  /** SIGTERM and wait for exit. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait for exit (a crash). */
  kill(): Promise<void>;
  /** Stop (gracefully, or kill with `{ kill: true }`) and start again on the same port and credentials. */
  restart(options?: { kill?: boolean }): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

function launch(
  env: Record<string, string>,
): Promise<{ child: ChildProcess; url: string; port: number; out: string[] }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [SERVER_ENTRY], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.add(child);
    const out: string[] = [];
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      child.kill('SIGKILL');
      reject(new Error(`server did not start within 15 s:\n${out.join('')}`));
    }, 15_000);
    const onData = (chunk: Buffer) => {
      out.push(chunk.toString());
      const m = /listening on (http:\/\/[^\s]+)/.exec(out.join(''));
      if (m && !settled) {
        settled = true;
        clearTimeout(timer);
        const url = m[1] as string;
        resolvePromise({ child, url, port: Number(new URL(url).port), out });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      running.delete(child);
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        reject(new Error(`server exited with ${code} before listening:\n${out.join('')}`));
      }
    });
  });
}

function waitExit(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((r) => child.once('exit', (code) => r(code)));
}

/**
 * Starts the real server as a child process on a free loopback port, with its
 * own tenants, signing secret and data folder.
 *
 * @example
 * ```ts
 * const server = await startServer()
 * afterAll(() => server.stop())
 * ```
 */
export async function startServer(options: StartServerOptions = {}): Promise<TestServer> {
  const tenants = options.tenants ?? { acme: `sk_test_${randomBytes(12).toString('hex')}` };
  const signingSecret = options.signingSecret ?? randomBytes(32).toString('hex');
  const env: Record<string, string> = {
    HOST: '127.0.0.1',
    PORT: String(options.port ?? 0),
    CAST_API_KEYS: Object.entries(tenants)
      .map(([t, k]) => `${t}=${k}`)
      .join(','),
    CAST_SIGNING_SECRET: signingSecret,
    CAST_DATA_DIR: mkdtempSync(join(tmpdir(), 'cast-e2e-')),
    CAST_SHUTDOWN_GRACE_MS: '2000',
    ...options.env,
  };
  let proc = await launch(env);
  // Restarts reuse the port the first start got.
  env.PORT = String(proc.port);
  const [tenant, apiKey] = Object.entries(tenants)[0] as [string, string];
  const server: TestServer = {
    url: proc.url,
    port: proc.port,
    tenant,
    apiKey,
    tenants,
    signingSecret,
    env,
    output: () => proc.out.join(''),
    pid: () => proc.child.pid,
    async stop() {
      proc.child.kill('SIGTERM');
      return waitExit(proc.child);
    },
    async kill() {
      proc.child.kill('SIGKILL');
      await waitExit(proc.child);
    },
    async restart(opts = {}) {
      if (opts.kill) await server.kill();
      else await server.stop();
      // The port may linger briefly in the kernel after a kill; retry a few times.
      for (let attempt = 0; ; attempt++) {
        try {
          proc = await launch(env);
          return;
        } catch (err) {
          if (attempt >= 20) throw err;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    },
  };
  return server;
}

/** Issues a token over HTTP, failing the test on a non-200 answer. */
export async function issueToken(
  server: Pick<TestServer, 'url' | 'apiKey'>,
  body: {
    channels: string[];
    userId?: string;
    ttlSeconds?: number;
    presence?: boolean;
    userInfo?: Record<string, unknown>;
  },
  apiKey = server.apiKey,
): Promise<{ token: string; expiresAt: string; channels: string[]; tokenId: string }> {
  const res = await fetch(`${server.url}/push/tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status !== 200) throw new Error(`token request failed: ${res.status} ${await res.text()}`);
  return (await res.json()) as { token: string; expiresAt: string; channels: string[]; tokenId: string };
}

/** Publishes one event over HTTP and returns the status and parsed body. */
export async function publish(
  server: Pick<TestServer, 'url' | 'apiKey'>,
  body: unknown,
  options: { apiKey?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: any }> {
  const res = await fetch(`${server.url}/push/publish`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${options.apiKey ?? server.apiKey}`,
      'content-type': 'application/json',
      ...options.headers,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

/** The time in seconds since the epoch, as token claims hold it. */
export const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/**
 * Stream-token claims as the issue route writes them (tenant `acme`, channel
 * `orders`, one minute), with `over` on top: the control for hand-made tokens.
 */
export function streamClaims(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    tid: 'acme',
    chs: ['orders'],
    iss: 'cast',
    aud: 'cast:stream',
    iat: nowSeconds(),
    exp: nowSeconds() + 60,
    ...over,
  };
}

/** A JWT built by hand with an HMAC-SHA256 signature (none when `secret` is undefined), for tokens signed offline or forged. */
export function handMadeJwt(header: object, claims: object, secret: string | undefined): string {
  const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const signingInput = `${enc(header)}.${enc(claims)}`;
  const sig = secret === undefined ? '' : createHmac('sha256', secret).update(signingInput).digest('base64url');
  return `${signingInput}.${sig}`;
}
