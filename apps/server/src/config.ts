import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseRedisUrl } from './broker/redis/url.js';

/** What one API key may do: secret keys publish and issue tokens; public keys only subscribe. */
export type KeyKind = 'secret' | 'public';

/** An API key's owner. */
export interface KeyGrant {
  tenant: string;
  kind: KeyKind;
}

/** The server's whole configuration, read once at start. */
export interface Config {
  port: number;
  host: string;
  /** API key → tenant and kind. */
  keys: Map<string, KeyGrant>;
  signingSecret: string;
  /** Allowed CORS origins; `['*']` allows any. */
  corsOrigins: string[];
  /** Whether `/console` is served. */
  console: boolean;
  historySize: number;
  historyMaxAgeSeconds: number;
  historyMaxBytes: number;
  heartbeatMs: number;
  retryMs: number;
  maxPayloadBytes: number;
  maxChannelsPerToken: number;
  maxTokenTtlSeconds: number;
  connectionBufferBytes: number;
  maxBatch: number;
  idempotencyWindowSeconds: number;
  shutdownGraceMs: number;
  requestTimeoutMs: number;
  /** How long a user whose last stream closed stays present (and a channel occupied), ms. */
  presenceGraceMs: number;
  /** How long a node counts as alive after its last heartbeat in Redis, ms. */
  nodeTtlMs: number;
  redisUrl: string | undefined;
  redisPrefix: string;
  databaseUrl: string | undefined;
  tenantColumn: string;
  watchTables: string[];
  /** Set when the credentials were generated for local development. */
  dev: { file: string; tenant: string; apiKey: string } | undefined;
  /** Webhook receivers; undefined without CAST_WEBHOOKS (then no webhook code runs). */
  webhooks: WebhookSettings | undefined;
  /** Webhook events kept waiting per tenant, across its URLs, before the oldest are dropped (CAST_WEBHOOK_MAX_PENDING). */
  webhookMaxPending: number;
  /** First retry delay of a failed webhook delivery, ms (CAST_WEBHOOK_RETRY_BASE_MS). */
  webhookRetryBaseMs: number;
}

/** One webhook receiver: a tenant's events are POSTed to its URL, signed with its secret. */
export interface WebhookEndpoint {
  tenant: string;
  url: string;
  secret: string;
}

/** The webhook receivers of every tenant, from CAST_WEBHOOKS, CAST_WEBHOOK_SECRET and CAST_WEBHOOK_SECRETS. */
export interface WebhookSettings {
  endpoints: WebhookEndpoint[];
}

/** A configuration problem, reported as one line before the server exits. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

interface NumberSetting {
  env: string;
  key: keyof Config;
  default: number;
  min: number;
  max: number;
  doc: string;
}

/**
 * The numeric settings: one table that the parser, the error messages and the
 * configuration reference in the docs all read.
 */
export const NUMBER_SETTINGS: readonly NumberSetting[] = [
  { env: 'PORT', key: 'port', default: 8080, min: 0, max: 65535, doc: 'TCP port to listen on (0 picks a free one).' },
  {
    env: 'CAST_HISTORY_SIZE',
    key: 'historySize',
    default: 10_000,
    min: 0,
    max: 10_000_000,
    doc: 'Events kept per tenant for replay.',
  },
  {
    env: 'CAST_HISTORY_TTL_SECONDS',
    key: 'historyMaxAgeSeconds',
    default: 3600,
    min: 1,
    max: 30 * 86_400,
    doc: 'Oldest event age kept for replay, seconds.',
  },
  {
    env: 'CAST_HISTORY_MAX_BYTES',
    key: 'historyMaxBytes',
    default: 64 * 1024 * 1024,
    min: 0,
    max: 2 ** 40,
    doc: 'Bytes of history kept per tenant for replay (both brokers; oldest trimmed first).',
  },
  {
    env: 'CAST_HEARTBEAT_MS',
    key: 'heartbeatMs',
    default: 15_000,
    min: 100,
    max: 300_000,
    doc: 'Interval of heartbeat comments on idle streams, ms.',
  },
  {
    env: 'CAST_RETRY_MS',
    key: 'retryMs',
    default: 1000,
    min: 0,
    max: 600_000,
    doc: 'The `retry:` hint sent to clients, ms.',
  },
  {
    env: 'CAST_MAX_PAYLOAD_BYTES',
    key: 'maxPayloadBytes',
    default: 64 * 1024,
    min: 16,
    max: 16 * 1024 * 1024,
    doc: 'Largest event `data`, bytes of JSON.',
  },
  {
    env: 'CAST_MAX_CHANNELS_PER_TOKEN',
    key: 'maxChannelsPerToken',
    default: 100,
    min: 1,
    max: 10_000,
    doc: 'Most channels one token may grant.',
  },
  {
    env: 'CAST_MAX_TOKEN_TTL_SECONDS',
    key: 'maxTokenTtlSeconds',
    default: 86_400,
    min: 1,
    max: 30 * 86_400,
    doc: 'Longest token lifetime, seconds; revocations are kept this long.',
  },
  {
    env: 'CAST_CONNECTION_BUFFER_BYTES',
    key: 'connectionBufferBytes',
    default: 1024 * 1024,
    min: 1024,
    max: 1024 ** 3,
    doc: 'Unsent bytes after which a slow stream is closed (it resumes by replay).',
  },
  {
    env: 'CAST_MAX_BATCH',
    key: 'maxBatch',
    default: 100,
    min: 1,
    max: 10_000,
    doc: 'Most events in one batch publish.',
  },
  {
    env: 'CAST_IDEMPOTENCY_WINDOW_SECONDS',
    key: 'idempotencyWindowSeconds',
    default: 86_400,
    min: 1,
    max: 30 * 86_400,
    doc: 'How long an idempotency key is remembered, seconds.',
  },
  {
    env: 'CAST_WEBHOOK_MAX_PENDING',
    key: 'webhookMaxPending',
    default: 100_000,
    min: 1,
    max: 10_000_000,
    doc: 'Webhook events waiting per tenant, across its receiver URLs (an event waiting for two URLs counts twice); past it the oldest are dropped first, from the URL furthest behind, and counted.',
  },
  {
    env: 'CAST_WEBHOOK_RETRY_BASE_MS',
    key: 'webhookRetryBaseMs',
    default: 1000,
    min: 10,
    max: 60_000,
    doc: 'First retry delay of a failed webhook delivery, ms (doubling to 5 minutes).',
  },
  {
    env: 'CAST_REQUEST_TIMEOUT_MS',
    key: 'requestTimeoutMs',
    default: 30_000,
    min: 100,
    max: 600_000,
    doc: "Longest time to receive a request's headers and body, ms (408 after it); streams stay open.",
  },
  {
    env: 'CAST_SHUTDOWN_GRACE_MS',
    key: 'shutdownGraceMs',
    default: 5000,
    min: 0,
    max: 600_000,
    doc: 'How long SIGTERM waits for requests in flight, ms.',
  },
  {
    env: 'CAST_PRESENCE_GRACE_MS',
    key: 'presenceGraceMs',
    default: 5000,
    min: 0,
    max: 600_000,
    doc: 'How long a user whose last stream closed stays present (and a channel occupied) before `presence.leave` (`channel.vacated`), ms; a reconnect within it changes nothing.',
  },
  {
    env: 'CAST_NODE_TTL_MS',
    key: 'nodeTtlMs',
    default: 15_000,
    min: 300,
    max: 600_000,
    doc: "Redis broker: how long a node counts as alive after its last heartbeat (sent every third of it), ms; a dead node's users leave after this plus the presence grace.",
  },
];

const TENANT = /^[A-Za-z0-9_-]{1,64}$/;
const MIN_KEY_LENGTH = 16;
const MIN_SECRET_LENGTH = 32;

function parseInteger(s: NumberSetting, raw: string): number {
  if (!/^\d+$/.test(raw.trim())) {
    throw new ConfigError(
      `${s.env} must be a whole number between ${s.min} and ${s.max} (got ${JSON.stringify(raw)}).`,
    );
  }
  const n = Number(raw.trim());
  if (n < s.min || n > s.max) {
    throw new ConfigError(`${s.env} must be between ${s.min} and ${s.max} (got ${n}).`);
  }
  return n;
}

/**
 * Parses `tenant=key,tenant2=key2` into the key table.
 *
 * @param name - the variable's name, for messages
 * @param raw - its value
 * @param kind - the kind of every key in it
 * @param into - the table to add to (keys must be unique across both kinds)
 */
export function parseKeyList(name: string, raw: string, kind: KeyKind, into: Map<string, KeyGrant>): void {
  for (const part of raw.split(',')) {
    const entry = part.trim();
    if (!entry) continue;
    const eq = entry.indexOf('=');
    if (eq <= 0)
      throw new ConfigError(`${name}: "${entry}" is not tenant=key (example: ${name}=acme=sk_live_0123456789abcdef).`);
    const tenant = entry.slice(0, eq).trim();
    const key = entry.slice(eq + 1).trim();
    if (!TENANT.test(tenant))
      throw new ConfigError(`${name}: tenant "${tenant}" must be 1-64 letters, digits, "_" or "-".`);
    if (key.length < MIN_KEY_LENGTH || /[\s,]/.test(key)) {
      throw new ConfigError(
        `${name}: the key of tenant "${tenant}" must be at least ${MIN_KEY_LENGTH} characters with no spaces or commas.`,
      );
    }
    if (into.has(key))
      throw new ConfigError(`${name}: the key of tenant "${tenant}" is used twice; every key must be unique.`);
    into.set(key, { tenant, kind });
  }
}

/**
 * Parses the webhook settings: `CAST_WEBHOOKS` (`tenant=url` pairs, a tenant
 * may appear several times), `CAST_WEBHOOK_SECRET` (every tenant's secret) and
 * `CAST_WEBHOOK_SECRETS` (`tenant=secret` pairs, overriding it per tenant).
 *
 * @param env - the environment
 * @param keys - the API key table, to refuse tenants that have no key
 * @returns the receivers, or undefined when CAST_WEBHOOKS is empty
 * @throws ConfigError with one line saying what to fix
 * @example
 * ```ts
 * parseWebhooks({ CAST_WEBHOOKS: 'acme=https://api.acme.com/cast', CAST_WEBHOOK_SECRET: 'x'.repeat(32) }, keys)
 * ```
 */
export function parseWebhooks(env: Env, keys: Map<string, KeyGrant>): WebhookSettings | undefined {
  const raw = env.CAST_WEBHOOKS?.trim();
  if (!raw) {
    if (env.CAST_WEBHOOK_SECRETS?.trim())
      throw new ConfigError(
        'CAST_WEBHOOK_SECRETS is set but CAST_WEBHOOKS is not; set CAST_WEBHOOKS=tenant=https://… too.',
      );
    return undefined;
  }
  const tenants = new Set([...keys.values()].map((g) => g.tenant));
  const checkSecret = (name: string, secret: string) => {
    if (secret.length < MIN_SECRET_LENGTH || /[\s,]/.test(secret)) {
      throw new ConfigError(
        `${name} must be at least ${MIN_SECRET_LENGTH} characters with no spaces or commas (e.g. \`openssl rand -hex 32\`).`,
      );
    }
  };
  const shared = env.CAST_WEBHOOK_SECRET?.trim() || undefined;
  if (shared !== undefined) checkSecret('CAST_WEBHOOK_SECRET', shared);
  const perTenant = new Map<string, string>();
  for (const part of (env.CAST_WEBHOOK_SECRETS ?? '').split(',')) {
    const entry = part.trim();
    if (!entry) continue;
    const eq = entry.indexOf('=');
    if (eq <= 0)
      throw new ConfigError(
        'CAST_WEBHOOK_SECRETS: an entry is not tenant=secret (example: CAST_WEBHOOK_SECRETS=acme=<32+ characters>).',
      );
    const tenant = entry.slice(0, eq).trim();
    checkSecret(`CAST_WEBHOOK_SECRETS: the secret of tenant "${tenant}"`, entry.slice(eq + 1).trim());
    if (perTenant.has(tenant)) throw new ConfigError(`CAST_WEBHOOK_SECRETS: tenant "${tenant}" appears twice.`);
    perTenant.set(tenant, entry.slice(eq + 1).trim());
  }
  const endpoints: WebhookEndpoint[] = [];
  const seen = new Set<string>();
  for (const part of raw.split(',')) {
    const entry = part.trim();
    if (!entry) continue;
    const eq = entry.indexOf('=');
    if (eq <= 0)
      throw new ConfigError(
        `CAST_WEBHOOKS: "${entry}" is not tenant=url (example: CAST_WEBHOOKS=acme=https://api.acme.com/cast-webhooks).`,
      );
    const tenant = entry.slice(0, eq).trim();
    const url = entry.slice(eq + 1).trim();
    if (!tenants.has(tenant))
      throw new ConfigError(
        `CAST_WEBHOOKS: tenant "${tenant}" has no API key; every tenant must appear in CAST_API_KEYS.`,
      );
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    if (
      !parsed ||
      (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') ||
      parsed.username ||
      parsed.password
    ) {
      throw new ConfigError(
        `CAST_WEBHOOKS: "${url}" (tenant "${tenant}") must be an http:// or https:// URL without credentials.`,
      );
    }
    if (seen.has(`${tenant} ${url}`))
      throw new ConfigError(`CAST_WEBHOOKS: "${url}" is listed twice for tenant "${tenant}".`);
    seen.add(`${tenant} ${url}`);
    const secret = perTenant.get(tenant) ?? shared;
    if (secret === undefined) {
      throw new ConfigError(
        `CAST_WEBHOOK_SECRET (or CAST_WEBHOOK_SECRETS=${tenant}=…) is required: tenant "${tenant}" has webhooks but no secret to sign them.`,
      );
    }
    endpoints.push({ tenant, url, secret });
  }
  if (endpoints.length === 0) throw new ConfigError('CAST_WEBHOOKS holds no tenant=url pair.');
  for (const tenant of perTenant.keys()) {
    if (!endpoints.some((e) => e.tenant === tenant))
      throw new ConfigError(`CAST_WEBHOOK_SECRETS: tenant "${tenant}" has no URL in CAST_WEBHOOKS.`);
  }
  return { endpoints };
}

/**
 * The tenants a configuration knows: those of its API keys. A token of any
 * other tenant is refused, even when signed with the secret.
 *
 * @param config - the configuration
 * @returns the tenant names
 * @example
 * ```ts
 * knownTenants(config).has('acme') // true when an API key belongs to acme
 * ```
 */
export function knownTenants(config: Pick<Config, 'keys'>): Set<string> {
  return new Set([...config.keys.values()].map((k) => k.tenant));
}

interface DevCredentials {
  tenant: string;
  apiKey: string;
  signingSecret: string;
}

function loadOrCreateDevCredentials(dir: string): { creds: DevCredentials; file: string } {
  const file = join(dir, 'dev-credentials.json');
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<DevCredentials>;
    if (
      typeof parsed.tenant === 'string' &&
      typeof parsed.apiKey === 'string' &&
      typeof parsed.signingSecret === 'string'
    ) {
      return { creds: parsed as DevCredentials, file };
    }
  } catch {
    // No file yet (or unreadable): create fresh credentials below.
  }
  const creds: DevCredentials = {
    tenant: 'dev',
    apiKey: `sk_dev_${randomBytes(18).toString('base64url')}`,
    signingSecret: randomBytes(32).toString('base64url'),
  };
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(file, `${JSON.stringify(creds, null, 2)}\n`, { mode: 0o600 });
  } catch (err) {
    throw new ConfigError(
      `Cannot write development credentials to ${file} (${(err as Error).message}); set CAST_DATA_DIR to a writable folder or set CAST_API_KEYS and CAST_SIGNING_SECRET.`,
    );
  }
  return { creds, file };
}

/**
 * Reads the configuration from the environment. With no keys configured it
 * uses (and on first run creates) development credentials kept in
 * `$CAST_DATA_DIR/dev-credentials.json` (default `.cast/`, git-ignored).
 *
 * @param env - the environment, usually `process.env`
 * @returns the configuration
 * @throws ConfigError with one line saying what to fix
 */
export function loadConfig(env: Env = process.env): Config {
  const numbers: Record<string, number> = {};
  for (const s of NUMBER_SETTINGS) {
    const raw = env[s.env];
    numbers[s.key] = raw === undefined || raw.trim() === '' ? s.default : parseInteger(s, raw);
  }

  const keys = new Map<string, KeyGrant>();
  const secretRaw = env.CAST_API_KEYS?.trim();
  let signingSecret = env.CAST_SIGNING_SECRET?.trim() ?? '';
  let dev: Config['dev'];
  if (secretRaw) {
    parseKeyList('CAST_API_KEYS', secretRaw, 'secret', keys);
    if (keys.size === 0) throw new ConfigError('CAST_API_KEYS holds no tenant=key pair.');
    if (!signingSecret)
      throw new ConfigError(
        'CAST_SIGNING_SECRET is required when CAST_API_KEYS is set (at least 32 characters, e.g. `openssl rand -base64 32`).',
      );
  } else {
    const dir = resolve(env.CAST_DATA_DIR?.trim() || '.cast');
    const { creds, file } = loadOrCreateDevCredentials(dir);
    keys.set(creds.apiKey, { tenant: creds.tenant, kind: 'secret' });
    signingSecret ||= creds.signingSecret;
    dev = { file, tenant: creds.tenant, apiKey: creds.apiKey };
  }
  if (signingSecret.length < MIN_SECRET_LENGTH) {
    throw new ConfigError(
      `CAST_SIGNING_SECRET must be at least ${MIN_SECRET_LENGTH} characters (e.g. \`openssl rand -base64 32\`).`,
    );
  }
  const publicRaw = env.CAST_PUBLIC_KEYS?.trim();
  if (publicRaw) parseKeyList('CAST_PUBLIC_KEYS', publicRaw, 'public', keys);

  const corsOrigins = (env.CAST_CORS_ORIGINS ?? '*')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const origin of corsOrigins) {
    if (origin !== '*' && !/^https?:\/\/[^/\s]+$/.test(origin)) {
      throw new ConfigError(
        `CAST_CORS_ORIGINS: "${origin}" must be "*" or an origin like https://app.example.com (no path).`,
      );
    }
  }

  const consoleSetting = (env.CAST_CONSOLE?.trim() || 'on').toLowerCase();
  if (consoleSetting !== 'on' && consoleSetting !== 'off') {
    throw new ConfigError(`CAST_CONSOLE must be "on" or "off" (got ${JSON.stringify(env.CAST_CONSOLE)}).`);
  }

  const host = env.HOST?.trim() || '127.0.0.1';
  const redisUrl = env.CAST_REDIS_URL?.trim() || undefined;
  if (redisUrl) {
    try {
      parseRedisUrl(redisUrl);
    } catch (err) {
      throw new ConfigError(`CAST_REDIS_URL: ${(err as Error).message}`);
    }
  }
  const redisPrefix = env.CAST_REDIS_PREFIX?.trim() || 'cast';
  if (/[{}]/.test(redisPrefix)) {
    // A brace would make the prefix part of a Redis Cluster hash tag: a tenant's keys would no longer share a slot.
    throw new ConfigError('CAST_REDIS_PREFIX must not contain "{" or "}" (Redis Cluster reads them as a hash tag).');
  }
  const databaseUrl = env.CAST_DATABASE_URL?.trim() || undefined;
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('CAST_DATABASE_URL must start with postgres:// or postgresql://.');
  }
  const tenantColumn = env.CAST_TENANT_COLUMN?.trim() || 'tenant_id';
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(tenantColumn)) {
    throw new ConfigError('CAST_TENANT_COLUMN must be a plain column name (letters, digits, "_").');
  }
  const watchTables = (env.CAST_WATCH_TABLES ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const t of watchTables) {
    if (!/^([A-Za-z_][A-Za-z0-9_]{0,62}\.)?[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(t)) {
      throw new ConfigError(`CAST_WATCH_TABLES: "${t}" must be table or schema.table (letters, digits, "_").`);
    }
  }
  if (watchTables.length > 0 && !databaseUrl) {
    throw new ConfigError('CAST_WATCH_TABLES needs CAST_DATABASE_URL.');
  }

  return {
    ...numbers,
    port: numbers.port as number,
    host,
    keys,
    signingSecret,
    corsOrigins,
    console: consoleSetting === 'on',
    redisUrl,
    redisPrefix,
    databaseUrl,
    tenantColumn,
    watchTables,
    dev,
    webhooks: parseWebhooks(env, keys),
  } as unknown as Config;
}
