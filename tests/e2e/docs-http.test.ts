import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO, runSample, snippet, startSample } from './docs-helpers.js';
import { type TestServer, startServer } from './helpers/server.js';

// The curl samples of the docs, run through bash against a real server.
describe('docs: HTTP samples', () => {
  let server: TestServer;
  let env: Record<string, string>;

  beforeAll(async () => {
    server = await startServer();
    env = { CAST_URL: server.url, CAST_API_KEY: server.apiKey };
  });
  afterAll(() => server.stop());

  async function token(): Promise<string> {
    const { stdout, code } = await runSample('http/issue-token.sh', { env });
    expect(code).toBe(0);
    return (JSON.parse(stdout) as { token: string }).token;
  }

  it('http/issue-token.sh answers a token for the channels it asked for', async () => {
    const { stdout } = await runSample('http/issue-token.sh', { env });
    const body = JSON.parse(stdout) as { token: string; expiresAt: string; channels: string[] };
    expect(body.channels).toEqual(['orders', 'user:user_123']);
    expect(body.token.split('.')).toHaveLength(3);
    const ttl = (Date.parse(body.expiresAt) - Date.now()) / 1000;
    expect(ttl).toBeGreaterThan(3500);
    expect(ttl).toBeLessThanOrEqual(3600);
  });

  it('http/stream.sh receives what http/publish.sh publishes, as the docs show it', async () => {
    const TOKEN = await token();
    const stream = startSample('http/stream.sh', { env: { ...env, TOKEN } });
    try {
      await stream.waitFor('data: {"channels":["orders","user:user_123"]}');
      expect(stream.output()).toMatch(/^retry: 1000\nevent: connected\n/);
      const { stdout } = await runSample('http/publish.sh', { env });
      const answer = JSON.parse(stdout) as {
        messageId: string;
        eventId: string;
        delivered: number;
        creditsUsed: number;
      };
      expect(answer.delivered).toBe(1);
      expect(answer.creditsUsed).toBe(0);
      expect(answer.eventId).toMatch(/^\d+-\d+\/orders$/);
      await stream.waitFor('event: order.created');
      expect(stream.output()).toContain(
        `id: ${answer.eventId}\nevent: order.created\ndata: {"orderId":"abc123","total":4999,"currency":"AOA"}\n\n`,
      );
    } finally {
      await stream.stop();
    }
  });

  it('http/stream-resume.sh replays what was missed after LAST_EVENT_ID, filtered by types', async () => {
    const TOKEN = await token();
    const first = JSON.parse((await runSample('http/publish.sh', { env })).stdout) as { eventId: string };
    const missed = JSON.parse((await runSample('http/publish.sh', { env })).stdout) as { eventId: string };
    const stream = startSample('http/stream-resume.sh', { env: { ...env, TOKEN, LAST_EVENT_ID: first.eventId } });
    try {
      await stream.waitFor(`id: ${missed.eventId}\n`);
      expect(stream.output()).toContain('"recovered":true');
      expect(stream.output()).not.toContain(`id: ${first.eventId}\n`);
    } finally {
      await stream.stop();
    }
  });

  it('http/publish-idempotent.sh delivers once however often it runs', async () => {
    const one = JSON.parse((await runSample('http/publish-idempotent.sh', { env })).stdout);
    const two = JSON.parse((await runSample('http/publish-idempotent.sh', { env })).stdout);
    expect(one.duplicate).toBeUndefined();
    expect(two).toEqual({ ...one, duplicate: true });
  });

  it('http/publish-batch.sh answers one result per event, in order', async () => {
    const { stdout } = await runSample('http/publish-batch.sh', { env });
    const { results } = JSON.parse(stdout) as { results: Array<{ eventId: string }> };
    expect(results.map((r) => r.eventId.split('/')[1])).toEqual(['order:abc123', 'user:user_123']);
  });

  it('http/sessions.sh lists the open stream of user_123', async () => {
    const TOKEN = await token();
    const stream = startSample('http/stream.sh', { env: { ...env, TOKEN } });
    try {
      await stream.waitFor('event: connected');
      const { sessions } = JSON.parse((await runSample('http/sessions.sh', { env })).stdout) as {
        sessions: Array<{ id: string; userId: string; channels: string[]; connectedAt: string }>;
      };
      expect(sessions).toHaveLength(1);
      expect(sessions[0]).toMatchObject({ userId: 'user_123', channels: ['orders', 'user:user_123'] });
    } finally {
      await stream.stop();
    }
  });

  it('http/revoke.sh ends the stream of user_123 with revoked, and its token is refused after', async () => {
    const TOKEN = await token();
    const stream = startSample('http/stream.sh', { env: { ...env, TOKEN } });
    try {
      await stream.waitFor('event: connected');
      const { stdout } = await runSample('http/revoke.sh', { env });
      expect(JSON.parse(stdout)).toEqual({ revoked: 1 });
      await stream.waitFor('event: revoked\ndata: {"reason":"token_revoked"}\n\n');
      const again = await fetch(`${server.url}/push/stream?token=${encodeURIComponent(TOKEN)}`);
      expect(again.status).toBe(401);
      expect(((await again.json()) as { error: { code: string } }).error.code).toBe('TOKEN_REVOKED');
    } finally {
      await stream.stop();
    }
  });

  it('http/disconnect.sh ends the stream of user_123 with disconnected and reconnect true', async () => {
    const TOKEN = await token();
    const stream = startSample('http/stream.sh', { env: { ...env, TOKEN } });
    try {
      await stream.waitFor('event: connected');
      const { stdout } = await runSample('http/disconnect.sh', { env });
      expect(JSON.parse(stdout)).toEqual({ disconnected: 1 });
      await stream.waitFor('event: disconnected\ndata: {"reason":"disconnected_by_server","reconnect":true}\n\n');
    } finally {
      await stream.stop();
    }
  });

  it('http/presence-token.sh streams with presence; http/presence.sh and http/channels.sh show the member and the channel', async () => {
    const { stdout } = await runSample('http/presence-token.sh', { env });
    const TOKEN = (JSON.parse(stdout) as { token: string }).token;
    const stream = startSample('http/stream.sh', { env: { ...env, TOKEN } });
    try {
      await stream.waitFor('event: presence.sync');
      const presence = JSON.parse((await runSample('http/presence.sh', { env })).stdout) as unknown;
      expect(presence).toEqual({
        channel: 'room:1',
        members: [{ userId: 'ada', userInfo: { name: 'Ada' }, connections: 1 }],
        connections: 1,
      });
      const channels = JSON.parse((await runSample('http/channels.sh', { env })).stdout) as unknown;
      expect(channels).toEqual({ channels: [{ channel: 'room:1', connections: 1, users: 1 }], cursor: null });
    } finally {
      await stream.stop();
    }
  });

  it('http/ops.sh shows health, readiness and the connections gauge', async () => {
    const { stdout, code } = await runSample('http/ops.sh', { env });
    expect(code).toBe(0);
    expect(stdout).toContain('{"status":"ok"}');
    expect(stdout).toContain('{"status":"ready","broker":"memory"}');
    expect(stdout).toMatch(/^cast_connections\{broker="memory"\} \d+$/m);
  });

  it('http/error.sh shows a JSON error with its status', async () => {
    const { stdout } = await runSample('http/error.sh', { env });
    expect(stdout).toMatch(/^HTTP\/1\.1 400 /);
    const body = JSON.parse(stdout.slice(stdout.indexOf('{')));
    expect(body.error.code).toBe('RESERVED_EVENT_NAME');
  });

  it('server/cli.sh issues a token and publishes twice, the second once only', async () => {
    const { stdout, stderr, code } = await runSample('server/cli.sh', { env, cwd: REPO });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const [tokenLine, first, second] = stdout.trim().split('\n');
    expect(tokenLine?.split('.')).toHaveLength(3);
    expect(first).toMatch(/^published order\.created to orders: /);
    expect(second).toMatch(/^published status\.changed to order:abc123: /);
    const again = await runSample('server/cli.sh', { env, cwd: REPO });
    expect(again.stdout.trim().split('\n')[2]).toContain(', duplicate)');
  });

  it('server/cli-admin.sh shows who is present, disconnects and revokes', async (test) => {
    const auth = { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' };
    const revoke = await fetch(`${server.url}/push/revoke`, { method: 'POST', headers: auth, body: '{}' });
    const channels = await fetch(`${server.url}/push/channels`, { headers: auth });
    // Presence and revocation are server routes of their own (issue 14): nothing to run without both.
    if (revoke.status === 404 || channels.status === 404) test.skip();
    const { stdout, stderr, code } = await runSample('server/cli-admin.sh', { env, cwd: REPO });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^order:abc123: \d+ members?, \d+ connections?$/);
    expect(lines).toContainEqual(
      expect.stringMatching(/^disconnected \d+ streams? \(the clients were told not to reconnect\)$/),
    );
    expect(lines.at(-1)).toMatch(/^revoked: closed \d+ streams?$/);
  });

  it('server/cli-webhooks.sh prints a signed delivery and refuses a forged one', async () => {
    const { signWebhook } = await import('@cast/server-sdk');
    const secret = 'whsec_docs_cli_secret_0123456789abcdef01';
    const receiver = startSample('server/cli-webhooks.sh', {
      env: { CAST_WEBHOOK_SECRET: secret, WEBHOOK_PORT: '0' },
      cwd: REPO,
    });
    try {
      await receiver.waitFor('receiving webhooks on http://127.0.0.1:');
      const url = /receiving webhooks on (http:\/\/\S+)/.exec(receiver.all())?.[1] as string;
      const body = JSON.stringify({
        events: [
          {
            id: 'wh_1',
            type: 'presence.join',
            tenant: 'acme',
            channel: 'order:abc123',
            userId: 'user_123',
            at: '2030-01-01T00:00:00.000Z',
          },
        ],
      });
      const ok = await fetch(url, {
        method: 'POST',
        body,
        headers: { 'cast-signature': await signWebhook(body, secret) },
      });
      expect(ok.status).toBe(200);
      await receiver.waitFor('2030-01-01T00:00:00.000Z presence.join order:abc123 user user_123 (wh_1)');
      const forged = await fetch(url, {
        method: 'POST',
        body,
        headers: { 'cast-signature': await signWebhook(body, `${secret}x`) },
      });
      expect(forged.status).toBe(401);
      await receiver.waitFor('refused a delivery');
    } finally {
      await receiver.stop();
    }
  });

  it('server/cli-listen.sh prints the events it is filtered to', async () => {
    const listen = startSample('server/cli-listen.sh', { env });
    try {
      await listen.waitFor('cast: listening on orders, order:abc123');
      await runSample('http/publish.sh', { env });
      await runSample('http/publish-batch.sh', { env }); // status.changed on order:abc123 passes the filter
      await listen.waitFor('status.changed order:abc123 {"status":"packed"}');
      expect(listen.output()).toContain('order.created orders {"orderId":"abc123","total":4999,"currency":"AOA"}');
    } finally {
      await listen.stop();
    }
  });
});

describe('docs: quick start and self-hosting samples', () => {
  it('quick-start/env.sh finds the development key, and http/publish.sh works with it', async () => {
    const home = mkdtempSync(join(tmpdir(), 'cast-docs-qs-'));
    const dataDir = join(home, 'apps/server/.cast');
    mkdirSync(dataDir, { recursive: true });
    const server = await startServer({ env: { CAST_API_KEYS: '', CAST_SIGNING_SECRET: '', CAST_DATA_DIR: dataDir } });
    try {
      expect(snippet('quick-start/env.sh')).toContain('http://127.0.0.1:8080');
      const { stdout, stderr } = await runSample(['quick-start/env.sh', 'http/publish.sh'], {
        cwd: home,
        replace: [['http://127.0.0.1:8080', server.url]],
      });
      expect(stderr).toBe('');
      expect(JSON.parse(stdout)).toMatchObject({ delivered: 0, creditsUsed: 0 });
    } finally {
      await server.stop();
    }
  });

  it('self-hosting/run.sh starts a server for the configured tenant', async () => {
    const key = `sk_live_${'a'.repeat(24)}`;
    const run = startSample('self-hosting/run.sh', {
      env: { ACME_SECRET_KEY: key, CAST_SIGNING_SECRET: 'b'.repeat(40) },
      // Loopback and a free port in the test; the sample shows a production bind.
      replace: [
        ['HOST=0.0.0.0', 'HOST=127.0.0.1'],
        ['PORT=8080', 'PORT=0'],
      ],
    });
    try {
      const out = await run.waitFor(/listening on (http:\/\/\S+)/);
      const url = /listening on (http:\/\/\S+)/.exec(out)?.[1] as string;
      const res = await fetch(`${url}/push/publish`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ channel: 'orders', event: 'order.created', data: {} }),
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await run.stop();
    }
  });
});

describe('docs: proxy configurations', () => {
  // No nginx or Caddy in the test environment: check the settings the page explains.
  it('proxy/nginx.conf turns buffering off and outlasts the heartbeat', () => {
    const conf = snippet('proxy/nginx.conf');
    const stream = conf.slice(conf.indexOf('location /push/stream'), conf.indexOf('location / {'));
    expect(stream).toContain('proxy_buffering off;');
    expect(stream).toContain('proxy_http_version 1.1;');
    expect(stream).toContain('proxy_set_header Connection "";');
    expect(stream).toMatch(/proxy_read_timeout (\d+h|\d{3,}s?);/);
  });

  it('proxy/Caddyfile flushes at once', () => {
    expect(snippet('proxy/Caddyfile')).toMatch(/reverse_proxy 127\.0\.0\.1:8080 \{\s+#[^\n]*\n\s+flush_interval -1/);
  });
});
