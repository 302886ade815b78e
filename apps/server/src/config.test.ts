import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, NUMBER_SETTINGS } from './config.js';

const SECRET = 's'.repeat(32);
const BASE = { CAST_API_KEYS: 'acme=sk_test_0123456789abcdef', CAST_SIGNING_SECRET: SECRET };

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cast-config-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function errorOf(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(env)}`);
}

describe('loadConfig', () => {
  it('uses the documented defaults', () => {
    const c = loadConfig(BASE);
    expect(c).toMatchObject({
      port: 8080,
      host: '127.0.0.1',
      historySize: 10_000,
      heartbeatMs: 15_000,
      retryMs: 1000,
      maxPayloadBytes: 64 * 1024,
      maxChannelsPerToken: 100,
      maxTokenTtlSeconds: 86_400,
      connectionBufferBytes: 1024 * 1024,
      maxBatch: 100,
      idempotencyWindowSeconds: 86_400,
      corsOrigins: ['*'],
      signingSecret: SECRET,
      dev: undefined,
    });
    expect(c.keys.get('sk_test_0123456789abcdef')).toEqual({ tenant: 'acme', kind: 'secret' });
  });

  it('reads every numeric setting from its variable', () => {
    for (const s of NUMBER_SETTINGS) {
      const value = Math.max(s.min, Math.min(s.max, s.default === s.min ? s.min + 1 : s.min));
      expect(loadConfig({ ...BASE, [s.env]: String(value) })[s.key], s.env).toBe(value);
    }
  });

  it('parses several tenants and public keys', () => {
    const c = loadConfig({
      ...BASE,
      CAST_API_KEYS: 'a=key_aaaaaaaaaaaaaaaa, b=key_bbbbbbbbbbbbbbbb',
      CAST_PUBLIC_KEYS: 'a=pk_aaaaaaaaaaaaaaaa',
    });
    expect(c.keys.get('key_bbbbbbbbbbbbbbbb')).toEqual({ tenant: 'b', kind: 'secret' });
    expect(c.keys.get('pk_aaaaaaaaaaaaaaaa')).toEqual({ tenant: 'a', kind: 'public' });
  });

  it('reads allowed CORS origins', () => {
    expect(
      loadConfig({ ...BASE, CAST_CORS_ORIGINS: 'https://app.example.com, http://localhost:3000' }).corsOrigins,
    ).toEqual(['https://app.example.com', 'http://localhost:3000']);
  });

  it.each([
    [{ PORT: 'abc' }, /^PORT must be a whole number/],
    [{ PORT: '70000' }, /^PORT must be between 0 and 65535/],
    [{ PORT: '-1' }, /^PORT/],
    [{ CAST_HEARTBEAT_MS: '10' }, /^CAST_HEARTBEAT_MS must be between/],
    [{ CAST_MAX_PAYLOAD_BYTES: '1.5' }, /^CAST_MAX_PAYLOAD_BYTES must be a whole number/],
    [{ CAST_HISTORY_SIZE: '1e3' }, /^CAST_HISTORY_SIZE/],
    [{ CAST_CONNECTION_BUFFER_BYTES: '5' }, /^CAST_CONNECTION_BUFFER_BYTES/],
    [{ CAST_API_KEYS: 'acme' }, /^CAST_API_KEYS: "acme" is not tenant=key/],
    [{ CAST_API_KEYS: 'ac me=sk_test_0123456789abcdef' }, /tenant "ac me"/],
    [{ CAST_API_KEYS: 'acme=short' }, /at least 16 characters/],
    [{ CAST_API_KEYS: 'a=sk_test_0123456789abcdef,b=sk_test_0123456789abcdef' }, /used twice/],
    [{ CAST_API_KEYS: ',,' }, /no tenant=key pair/],
    [{ CAST_SIGNING_SECRET: '' }, /CAST_SIGNING_SECRET is required/],
    [{ CAST_SIGNING_SECRET: 'short' }, /CAST_SIGNING_SECRET must be at least 32 characters/],
    [{ CAST_CORS_ORIGINS: 'https://app.example.com/path' }, /^CAST_CORS_ORIGINS/],
    [{ CAST_REDIS_URL: 'http://x' }, /^CAST_REDIS_URL/],
    [
      { CAST_REDIS_URL: 'redis+cluster://h:7000,nope:port' },
      /^CAST_REDIS_URL: a Redis Cluster URL lists host:port seeds/,
    ],
    [{ CAST_REDIS_PREFIX: 'cast{eu}' }, /^CAST_REDIS_PREFIX must not contain "\{" or "\}"/],
    [{ CAST_REDIS_PREFIX: 'eu}' }, /^CAST_REDIS_PREFIX must not contain/],
    [{ CAST_DATABASE_URL: 'mysql://x' }, /^CAST_DATABASE_URL/],
    [{ CAST_WATCH_TABLES: 'orders' }, /CAST_WATCH_TABLES needs CAST_DATABASE_URL/],
  ])('refuses %j with one line naming the variable', (override, pattern) => {
    const message = errorOf({ ...BASE, ...override });
    expect(message).toMatch(pattern);
    expect(message).not.toContain('\n');
  });
});

describe('CAST_REDIS_PREFIX', () => {
  it('defaults to cast and takes any prefix without braces', () => {
    expect(loadConfig(BASE).redisPrefix).toBe('cast');
    expect(loadConfig({ ...BASE, CAST_REDIS_PREFIX: ' cast:eu-1 ' }).redisPrefix).toBe('cast:eu-1');
  });
});

describe('CAST_REDIS_URL', () => {
  it('names one Redis or a Redis Cluster by its seeds', () => {
    expect(loadConfig({ ...BASE, CAST_REDIS_URL: 'redis://127.0.0.1:6379' }).redisUrl).toBe('redis://127.0.0.1:6379');
    expect(loadConfig({ ...BASE, CAST_REDIS_URL: 'redis+cluster://10.0.0.5:7000,10.0.0.6:7000' }).redisUrl).toBe(
      'redis+cluster://10.0.0.5:7000,10.0.0.6:7000',
    );
  });
});

describe('development credentials', () => {
  it('are created when no keys are configured, kept in a private file and reused', () => {
    const dir = tempDir();
    const first = loadConfig({ CAST_DATA_DIR: dir });
    expect(first.dev).toBeDefined();
    const file = join(dir, 'dev-credentials.json');
    expect(first.dev?.file).toBe(file);
    const stored = JSON.parse(readFileSync(file, 'utf8')) as { tenant: string; apiKey: string; signingSecret: string };
    expect(stored.apiKey).toBe(first.dev?.apiKey);
    expect(stored.signingSecret).toBe(first.signingSecret);
    expect(first.signingSecret.length).toBeGreaterThanOrEqual(32);
    expect(first.keys.get(stored.apiKey)).toEqual({ tenant: stored.tenant, kind: 'secret' });
    expect(statSync(file).mode & 0o077).toBe(0);

    const second = loadConfig({ CAST_DATA_DIR: dir });
    expect(second.dev?.apiKey).toBe(first.dev?.apiKey);
    expect(second.signingSecret).toBe(first.signingSecret);
  });

  it('are not used when keys are configured', () => {
    const dir = tempDir();
    expect(loadConfig({ ...BASE, CAST_DATA_DIR: dir }).dev).toBeUndefined();
    expect(() => readFileSync(join(dir, 'dev-credentials.json'))).toThrow();
  });

  it('are replaced when the file is unreadable', () => {
    const dir = tempDir();
    const first = loadConfig({ CAST_DATA_DIR: join(dir, 'x') });
    rmSync(join(dir, 'x', 'dev-credentials.json'));
    const second = loadConfig({ CAST_DATA_DIR: join(dir, 'x') });
    expect(second.dev?.apiKey).not.toBe(first.dev?.apiKey);
  });
});

describe('webhook settings', () => {
  const WH = {
    ...BASE,
    CAST_API_KEYS: 'acme=sk_test_0123456789abcdef,globex=sk_test_abcdef0123456789',
    CAST_WEBHOOK_SECRET: 'h'.repeat(32),
  };

  it('are off without CAST_WEBHOOKS, with the documented defaults', () => {
    const c = loadConfig(BASE);
    expect(c.webhooks).toBeUndefined();
    expect(c.webhookMaxPending).toBe(100_000);
    expect(c.webhookRetryBaseMs).toBe(1000);
  });

  it('read several URLs per tenant, the shared secret and per-tenant secrets', () => {
    const c = loadConfig({
      ...WH,
      CAST_WEBHOOKS: 'acme=https://a.example.com/hooks, acme=http://127.0.0.1:9000/x?y=1,globex=https://g.example.com/',
      CAST_WEBHOOK_SECRETS: `globex=${'g'.repeat(40)}`,
    });
    expect(c.webhooks?.endpoints).toEqual([
      { tenant: 'acme', url: 'https://a.example.com/hooks', secret: 'h'.repeat(32) },
      { tenant: 'acme', url: 'http://127.0.0.1:9000/x?y=1', secret: 'h'.repeat(32) },
      { tenant: 'globex', url: 'https://g.example.com/', secret: 'g'.repeat(40) },
    ]);
  });

  it('accept per-tenant secrets without a shared one', () => {
    const c = loadConfig({
      ...WH,
      CAST_WEBHOOK_SECRET: '',
      CAST_WEBHOOKS: 'acme=https://a.example.com',
      CAST_WEBHOOK_SECRETS: `acme=${'a'.repeat(32)}`,
    });
    expect(c.webhooks?.endpoints[0]?.secret).toBe('a'.repeat(32));
  });

  it.each([
    [{ CAST_WEBHOOKS: 'acme' }, /^CAST_WEBHOOKS: "acme" is not tenant=url/],
    [
      { CAST_WEBHOOKS: 'acme=ftp://x.example.com' },
      /^CAST_WEBHOOKS: "ftp:\/\/x.example.com" \(tenant "acme"\) must be an http/,
    ],
    [{ CAST_WEBHOOKS: 'acme=not a url' }, /^CAST_WEBHOOKS: .* must be an http/],
    [{ CAST_WEBHOOKS: 'acme=https://u:p@x.example.com' }, /without credentials/],
    [{ CAST_WEBHOOKS: 'initech=https://x.example.com' }, /^CAST_WEBHOOKS: tenant "initech" has no API key/],
    [{ CAST_WEBHOOKS: 'acme=https://x.example.com,acme=https://x.example.com' }, /listed twice/],
    [{ CAST_WEBHOOKS: ' , ' }, /^CAST_WEBHOOKS holds no tenant=url pair/],
    [
      { CAST_WEBHOOKS: 'acme=https://x.example.com', CAST_WEBHOOK_SECRET: '' },
      /^CAST_WEBHOOK_SECRET \(or CAST_WEBHOOK_SECRETS=acme=…\) is required/,
    ],
    [
      { CAST_WEBHOOKS: 'acme=https://x.example.com', CAST_WEBHOOK_SECRET: 'short' },
      /^CAST_WEBHOOK_SECRET must be at least 32 characters/,
    ],
    [
      { CAST_WEBHOOKS: 'acme=https://x.example.com', CAST_WEBHOOK_SECRETS: 'acme=short' },
      /^CAST_WEBHOOK_SECRETS: the secret of tenant "acme" must be at least 32/,
    ],
    [
      { CAST_WEBHOOKS: 'acme=https://x.example.com', CAST_WEBHOOK_SECRETS: `globex=${'g'.repeat(32)}` },
      /^CAST_WEBHOOK_SECRETS: tenant "globex" has no URL/,
    ],
    [
      { CAST_WEBHOOKS: 'acme=https://x.example.com', CAST_WEBHOOK_SECRETS: 'nonsense' },
      /^CAST_WEBHOOK_SECRETS: an entry is not tenant=secret/,
    ],
    [{ CAST_WEBHOOK_SECRETS: `acme=${'a'.repeat(32)}` }, /^CAST_WEBHOOK_SECRETS is set but CAST_WEBHOOKS is not/],
    [{ CAST_WEBHOOK_MAX_PENDING: '0' }, /^CAST_WEBHOOK_MAX_PENDING must be between 1 and/],
    [{ CAST_WEBHOOK_RETRY_BASE_MS: '1' }, /^CAST_WEBHOOK_RETRY_BASE_MS must be between 10 and/],
  ])('refuse %j with one line saying what to fix', (env, message) => {
    const text = errorOf({ ...WH, ...env } as Record<string, string>);
    expect(text).toMatch(message);
    expect(text).not.toContain('\n');
  });

  it('never print a secret in an error', () => {
    for (const secrets of [`acme=${'z'.repeat(20)}`, 'z'.repeat(40)]) {
      expect(
        errorOf({ ...WH, CAST_WEBHOOKS: 'acme=https://x.example.com', CAST_WEBHOOK_SECRETS: secrets }),
      ).not.toContain('z'.repeat(20));
    }
  });
});
