import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DOCS, SNIPPETS } from './docs-helpers.js';
import { issueToken, startServer, type TestServer } from './helpers/server.js';
import { skipWhenMissing } from './helpers/skip.js';
import { openRaw } from './helpers/sse.js';
import { castSignature, postSigned } from './helpers/webhooks.js';

// The plain Node receiver of the webhooks guide, run in this process.
const SECRET = 'docs-webhook-secret-0123456789abcdef';

describe('docs: the plain Node webhook receiver', () => {
  let server: Server;
  let url: string;
  const logged: string[] = [];

  beforeAll(async () => {
    vi.stubEnv('CAST_WEBHOOK_SECRET', SECRET);
    vi.stubEnv('PORT', '0');
    vi.spyOn(console, 'log').mockImplementation((line: string) => void logged.push(line));
    ({ server } = await import('../../docs/snippets/webhooks/receiver-node.js'));
    if (!server.listening) await new Promise((r) => server.once('listening', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/cast-webhooks`;
  });
  afterAll(() => {
    server?.close();
    vi.unstubAllEnvs();
    vi.restoreAllMocks();
  });

  const event = (id: string) => ({
    id,
    type: 'channel.occupied' as const,
    tenant: 'acme',
    channel: 'order:7',
    at: new Date().toISOString(),
  });

  it('acknowledges a signed batch and handles each event once', async () => {
    expect(await postSigned(url, [event('wh_a'), event('wh_b')], SECRET)).toBe(204);
    expect(await postSigned(url, [event('wh_a')], SECRET)).toBe(204);
    expect(logged.filter((l) => l === 'channel.occupied order:7')).toHaveLength(2);
  });

  it('refuses a wrong secret, a changed body and an old signature', async () => {
    expect(await postSigned(url, [event('wh_c')], 'not-the-secret-0123456789abcdef0123')).toBe(400);
    const signedFor = castSignature(JSON.stringify({ events: [event('wh_d')] }), SECRET);
    expect(await postSigned(url, [event('wh_e')], SECRET, signedFor)).toBe(400);
    const body = JSON.stringify({ events: [event('wh_f')] });
    expect(
      await postSigned(url, [event('wh_f')], SECRET, castSignature(body, SECRET, Math.floor(Date.now() / 1000) - 301)),
    ).toBe(400);
    expect(logged.filter((l) => l.startsWith('channel.occupied'))).toHaveLength(2);
  });
});

// The Python verification of the webhooks guide, as the guide shows it, run with python3.
const GUIDE = readFileSync(join(DOCS, 'guide/webhooks.md'), 'utf8');
const HAS_PYTHON = spawnSync('python3', ['--version']).status === 0;

/** The sample file the guide's Python section includes. */
function pythonSample(): string {
  const m = /^### Python\n[\s\S]*?^<<< @\/snippets\/(\S+\.py)$/m.exec(GUIDE);
  if (!m) throw new Error('the webhooks guide has no Python sample under "### Python"');
  return join(SNIPPETS, m[1] as string);
}

/**
 * Calls the sample's `verify(raw_body, header, secret)` with the body on stdin; `now` (unix
 * seconds) stands in for the clock, for the guide's fixed test vector.
 */
function pythonVerify(body: string, header: string, secret: string, now?: number): boolean {
  const harness = [
    'import importlib.util, sys, time',
    'spec = importlib.util.spec_from_file_location("sample", sys.argv[1])',
    'sample = importlib.util.module_from_spec(spec)',
    'spec.loader.exec_module(sample)',
    'if sys.argv[4]: time.time = lambda: float(sys.argv[4])',
    'print(sample.verify(sys.stdin.buffer.read(), sys.argv[2], sys.argv[3]))',
  ].join('\n');
  const run = spawnSync(
    'python3',
    ['-c', harness, pythonSample(), header, secret, now === undefined ? '' : String(now)],
    {
      input: Buffer.from(body, 'utf8'),
      encoding: 'utf8',
      timeout: 10_000,
    },
  );
  if (run.status !== 0) throw new Error(`python3 failed: ${run.stderr}`);
  const answer = run.stdout.trim();
  if (answer !== 'True' && answer !== 'False') throw new Error(`verify printed ${JSON.stringify(answer)}`);
  return answer === 'True';
}

describe.skipIf(skipWhenMissing(!HAS_PYTHON))('docs: the Python webhook verification (needs python3)', () => {
  it('accepts the test vector of the guide, and refuses it changed or too old', () => {
    expect(pythonSample()).toBe(join(SNIPPETS, 'webhooks/verify.py'));
    const vector =
      /A test vector[\s\S]*?the secret `([^`]+)`,\s*`t=(\d+)`[\s\S]*?```text\n(.*)\n```[\s\S]*?`Cast-Signature: (t=\d+,v1=[0-9a-f]{64})`/.exec(
        GUIDE,
      );
    expect(vector, 'the test vector of the guide').not.toBeNull();
    const [, secret, t, body, header] = vector as unknown as [string, string, string, string, string];
    // The vector and the Node signer agree, so the Python function is checked against the server's scheme.
    expect(castSignature(body, secret, Number(t))).toBe(header);
    expect(pythonVerify(body, header, secret, Number(t))).toBe(true);
    expect(pythonVerify(body, header, secret, Number(t) + 300)).toBe(true);
    expect(pythonVerify(body, header, secret, Number(t) + 301)).toBe(false);
    expect(pythonVerify(body.replace('order:abc123', 'order:abc124'), header, secret, Number(t))).toBe(false);
    expect(pythonVerify(body, header, `${secret}x`, Number(t))).toBe(false);
    expect(pythonVerify(body, header.replace('v1=', 'v2='), secret, Number(t))).toBe(false);
  });

  describe('with a Cast server delivering to a receiver', () => {
    const secret = 'docs-python-webhook-secret-0123456789';
    const got: Array<{ body: string; header: string }> = [];
    let receiver: Server;
    let cast: TestServer;

    beforeAll(async () => {
      receiver = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          got.push({ body: Buffer.concat(chunks).toString('utf8'), header: String(req.headers['cast-signature']) });
          res.writeHead(204).end();
        });
      });
      await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
      cast = await startServer({ env: { CAST_WEBHOOKS: `acme=${url}`, CAST_WEBHOOK_SECRET: secret } });
    });
    afterAll(async () => {
      await cast?.stop();
      receiver?.closeAllConnections();
      await new Promise((r) => receiver?.close(r));
    });

    it('accepts a request the server signed, and refuses it with a changed body, secret or signature', async () => {
      const { token } = await issueToken(cast, { channels: ['order:42'] });
      const stream = await openRaw(`${cast.url}/push/stream?token=${encodeURIComponent(token)}`);
      try {
        const end = Date.now() + 10_000;
        while (got.length === 0) {
          if (Date.now() > end) throw new Error('no webhook delivery within 10 s');
          await new Promise((r) => setTimeout(r, 20));
        }
      } finally {
        stream.close();
      }
      const [{ body, header }] = got as [{ body: string; header: string }];
      expect(JSON.parse(body).events[0]).toMatchObject({ type: 'channel.occupied', channel: 'order:42' });
      expect(pythonVerify(body, header, secret)).toBe(true);
      expect(pythonVerify(body.replace('order:42', 'order:43'), header, secret)).toBe(false);
      expect(pythonVerify(`${body} `, header, secret)).toBe(false);
      expect(pythonVerify(body, header, 'another-secret-of-at-least-32-chars')).toBe(false);
      const v1 = /v1=([0-9a-f]{64})/.exec(header)?.[1] as string;
      const flipped = `${v1.slice(0, -1)}${v1.endsWith('0') ? '1' : '0'}`;
      expect(pythonVerify(body, header.replace(v1, flipped), secret)).toBe(false);
    });
  });
});
