/**
 * The baseline: a minimal push hub on plain `node:http`, speaking the Cast
 * wire contract for the routes the load uses (token issue, stream with
 * replay, publish). Each event is serialised once; all frames of one
 * event-loop turn are joined into one buffer per channel and that same buffer
 * is written to every subscriber socket. It is what the reference server is
 * measured against, not a product.
 */
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import http from 'node:http';

/**
 * How a hub writes events to its subscribers. The baseline's own engine joins
 * a turn's frames per channel; the peers' engines hand each event to an SSE
 * library as its README recommends for broadcasting. Everything else (routes,
 * tokens, ids, history, replay) is the same code for every hub, so a run
 * compares fan-out engines on one HTTP shape.
 */
export interface FanoutEngine {
  /** Which engine, for the start-up line. */
  readonly name: string;
  /**
   * Opens an SSE response for a verified subscriber of channels and writes
   * `first` (the `connected` frame and any replay) before live events.
   * Resolves once the subscriber receives live events of `keys`.
   */
  subscribe(req: http.IncomingMessage, res: http.ServerResponse, keys: readonly string[], first: string): Promise<void>;
  /** Sends one event to the subscribers of `key`; returns how many there are. */
  broadcast(key: string, event: { id: string; event: string; data: string }, frame: string): number;
}

/** Options of {@link createBaselineHub}. */
export interface BaselineHubOptions {
  /** The fan-out engine. @defaultValue the baseline's own (one joined buffer per channel and turn) */
  fanout?: FanoutEngine;
  /** API key → tenant. */
  apiKeys: ReadonlyMap<string, string>;
  /** HS256 secret of the stream tokens. */
  signingSecret: string;
  /** Events kept per tenant for replay. @defaultValue 100_000 */
  historySize?: number;
  /** Heartbeat interval, ms. @defaultValue 15_000 */
  heartbeatMs?: number;
  /** A subscriber with more unsent bytes than this is disconnected. @defaultValue 1 MiB */
  maxBufferedBytes?: number;
}

interface LogEntry {
  ms: number;
  seq: number;
  channel: string;
  frame: string;
}

interface Tenant {
  log: LogEntry[];
  head: number; // index of the oldest retained entry in `log`
  lastMs: number;
  lastSeq: number;
  evictedMs: number;
  evictedSeq: number;
}

const JWT_HEADER = Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url');

/**
 * Creates the baseline hub's HTTP server (not yet listening).
 *
 * @param options - keys, secret and limits
 * @returns the server
 * @example
 * ```ts
 * const server = createBaselineHub({ apiKeys: new Map([['key', 'bench']]), signingSecret: 's' });
 * server.listen(0, '127.0.0.1');
 * ```
 */
export function createBaselineHub(options: BaselineHubOptions): http.Server {
  const historySize = options.historySize ?? 100_000;
  const secret = Buffer.from(options.signingSecret, 'utf8');
  const tenants = new Map<string, Tenant>();
  const joined = options.fanout
    ? undefined
    : createJoinedFanout(options.maxBufferedBytes ?? 1024 * 1024, options.heartbeatMs ?? 15_000);
  const fanout = options.fanout ?? (joined as JoinedFanout);

  const tenantOf = (id: string): Tenant => {
    let t = tenants.get(id);
    if (!t) {
      t = { log: [], head: 0, lastMs: 0, lastSeq: -1, evictedMs: -1, evictedSeq: -1 };
      tenants.set(id, t);
    }
    return t;
  };

  const sign = (claims: object): string => {
    const body = `${JWT_HEADER}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
    return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
  };

  const verify = (token: string): { tid: string; chs: string[]; exp: number } | undefined => {
    const parts = token.split('.');
    if (parts.length !== 3) return undefined;
    const mac = createHmac('sha256', secret).update(`${parts[0]}.${parts[1]}`).digest();
    const given = Buffer.from(parts[2]!, 'base64url');
    if (given.length !== mac.length || !timingSafeEqual(given, mac)) return undefined;
    try {
      const c = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as {
        tid: string;
        chs: string[];
        exp: number;
        aud: string;
      };
      if (c.aud !== 'cast:stream' || c.exp * 1000 <= Date.now()) return undefined;
      return c;
    } catch {
      return undefined;
    }
  };

  const error = (res: http.ServerResponse, status: number, code: string, message: string): void => {
    const body = JSON.stringify({ error: { code, message } });
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };

  const json = (res: http.ServerResponse, value: unknown): void => {
    const body = JSON.stringify(value);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };

  const apiTenant = (req: http.IncomingMessage): string | undefined => {
    const auth = req.headers.authorization;
    return auth?.startsWith('Bearer ') ? options.apiKeys.get(auth.slice(7)) : undefined;
  };

  const readBody = (req: http.IncomingMessage, done: (value: unknown) => void, fail: () => void): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        done(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        fail();
      }
    });
  };

  const publish = (
    tenantId: string,
    channel: string,
    event: string,
    data: unknown,
  ): { eventId: string; delivered: number } => {
    const t = tenantOf(tenantId);
    const now = Date.now();
    if (now > t.lastMs) {
      t.lastMs = now;
      t.lastSeq = 0;
    } else t.lastSeq += 1;
    const eventId = `${t.lastMs}-${t.lastSeq}/${channel}`;
    const json = JSON.stringify(data);
    const frame = `id: ${eventId}\nevent: ${event}\ndata: ${json}\n\n`;
    t.log.push({ ms: t.lastMs, seq: t.lastSeq, channel, frame });
    if (t.log.length - t.head > historySize) {
      const old = t.log[t.head]!;
      t.evictedMs = old.ms;
      t.evictedSeq = old.seq;
      t.head++;
      if (t.head > historySize) {
        t.log = t.log.slice(t.head);
        t.head = 0;
      }
    }
    const delivered = fanout.broadcast(`${tenantId}\0${channel}`, { id: eventId, event, data: json }, frame);
    return { eventId, delivered };
  };

  const stream = (req: http.IncomingMessage, res: http.ServerResponse, url: URL): void => {
    const auth = req.headers.authorization;
    const token = url.searchParams.get('token') ?? (auth?.startsWith('Bearer ') ? auth.slice(7) : '');
    const claims = verify(token);
    if (!claims) return error(res, 401, 'INVALID_TOKEN', 'The token is invalid or expired.');
    const lastHeader = req.headers['last-event-id'];
    const last = (typeof lastHeader === 'string' ? lastHeader : undefined) ?? url.searchParams.get('lastEventId');
    const wanted = new Set(claims.chs);
    let first = `retry: 1000\nevent: connected\ndata: ${JSON.stringify({ channels: claims.chs })}\n\n`;
    if (last) {
      const m = /^(\d+)-(\d+)/.exec(last);
      const t = tenantOf(claims.tid);
      const ms = m ? Number(m[1]) : -1;
      const seq = m ? Number(m[2]) : -1;
      const after = (e: { ms: number; seq: number }): boolean => e.ms > ms || (e.ms === ms && e.seq > seq);
      const recovered = m !== null && (t.evictedMs < 0 || !after({ ms: t.evictedMs, seq: t.evictedSeq }));
      first = `retry: 1000\nevent: connected\ndata: ${JSON.stringify({ channels: claims.chs, recovered })}\n\n`;
      // Binary search for the first retained entry after the id.
      let lo = t.head;
      let hi = t.log.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (after(t.log[mid]!)) hi = mid;
        else lo = mid + 1;
      }
      const parts = [first];
      for (let i = lo; i < t.log.length; i++) if (wanted.has(t.log[i]!.channel)) parts.push(t.log[i]!.frame);
      first = parts.join('');
    }
    void fanout
      .subscribe(
        req,
        res,
        claims.chs.map((name) => `${claims.tid}\0${name}`),
        first,
      )
      .catch(() => res.destroy());
    const expiry = setTimeout(
      () => {
        res.end(
          `event: expired\ndata: ${JSON.stringify({ reason: 'token_expired', expiredAt: new Date(claims.exp * 1000).toISOString() })}\n\n`,
        );
      },
      Math.min(claims.exp * 1000 - Date.now(), 2 ** 31 - 1),
    );
    res.on('close', () => clearTimeout(expiry));
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://hub');
    if (req.method === 'GET' && url.pathname === '/push/stream') return stream(req, res, url);
    if (req.method === 'GET' && url.pathname === '/healthz') return json(res, { ok: true });
    if (req.method !== 'POST' || (url.pathname !== '/push/publish' && url.pathname !== '/push/tokens')) {
      return error(res, 404, 'NOT_FOUND', 'No such route.');
    }
    const tenant = apiTenant(req);
    if (!tenant) {
      req.resume();
      return error(res, 401, 'UNAUTHORIZED', 'A valid API key is required.');
    }
    const bad = (): void => error(res, 400, 'INVALID_REQUEST', 'The body must be JSON.');
    if (url.pathname === '/push/tokens') {
      return readBody(
        req,
        (value) => {
          const body = value as { channels?: unknown; userId?: unknown; ttlSeconds?: unknown };
          if (!Array.isArray(body.channels) || !body.channels.every((c) => typeof c === 'string')) return bad();
          const iat = Math.floor(Date.now() / 1000);
          const exp = iat + (typeof body.ttlSeconds === 'number' ? body.ttlSeconds : 3600);
          const claims: Record<string, unknown> = {
            tid: tenant,
            chs: body.channels,
            iat,
            exp,
            iss: 'cast',
            aud: 'cast:stream',
          };
          if (typeof body.userId === 'string') claims.sub = body.userId;
          json(res, { token: sign(claims), expiresAt: new Date(exp * 1000).toISOString(), channels: body.channels });
        },
        bad,
      );
    }
    return readBody(
      req,
      (value) => {
        const body = value as { channel?: unknown; event?: unknown; data?: unknown };
        if (typeof body.channel !== 'string' || typeof body.event !== 'string' || body.data === undefined) return bad();
        const { eventId, delivered } = publish(tenant, body.channel, body.event, body.data);
        json(res, { messageId: randomUUID(), eventId, delivered, creditsUsed: 0 });
      },
      bad,
    );
  });
  server.requestTimeout = 0;
  server.timeout = 0;

  if (joined) server.on('close', joined.stop);
  return server;
}

/**
 * Parses `tenant=key,tenant2=key2` into a key → tenant map.
 *
 * @param value - the CAST_API_KEYS text
 * @returns the map
 * @example
 * ```ts
 * parseApiKeys('bench=secret').get('secret') // 'bench'
 * ```
 */
export function parseApiKeys(value: string): Map<string, string> {
  const keys = new Map<string, string>();
  for (const pair of value.split(',')) {
    const eq = pair.indexOf('=');
    if (eq > 0) keys.set(pair.slice(eq + 1).trim(), pair.slice(0, eq).trim());
  }
  return keys;
}

/** The baseline's own engine, with a `stop` for its heartbeat timer. */
interface JoinedFanout extends FanoutEngine {
  stop(): void;
}

interface Channel {
  subscribers: Set<http.ServerResponse>;
  pending: string[];
}

/**
 * The baseline's fan-out: every frame of one event-loop turn is joined into
 * one buffer per channel, and that same buffer is written to every
 * subscriber socket; a subscriber more than `maxBuffered` bytes behind is
 * disconnected.
 */
function createJoinedFanout(maxBuffered: number, heartbeatMs: number): JoinedFanout {
  const channels = new Map<string, Channel>();
  const dirty = new Set<Channel>();
  let flushScheduled = false;

  const flush = (): void => {
    flushScheduled = false;
    for (const ch of dirty) {
      const bytes = Buffer.from(ch.pending.length === 1 ? ch.pending[0]! : ch.pending.join(''), 'utf8');
      ch.pending.length = 0;
      for (const res of ch.subscribers) {
        if (res.writableLength > maxBuffered) res.destroy();
        else res.write(bytes);
      }
    }
    dirty.clear();
  };

  const heartbeat = setInterval(() => {
    const hb = Buffer.from(': hb\n\n');
    const seen = new Set<http.ServerResponse>();
    for (const ch of channels.values()) {
      for (const res of ch.subscribers) {
        if (!seen.has(res)) {
          seen.add(res);
          res.write(hb);
        }
      }
    }
  }, heartbeatMs);
  heartbeat.unref();

  return {
    name: 'baseline',
    async subscribe(_req, res, keys, first) {
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
      });
      res.socket?.setNoDelay(true);
      res.write(first);
      const subscribed: Channel[] = [];
      for (const key of keys) {
        let ch = channels.get(key);
        if (!ch) {
          ch = { subscribers: new Set(), pending: [] };
          channels.set(key, ch);
        }
        ch.subscribers.add(res);
        subscribed.push(ch);
      }
      res.on('close', () => {
        for (const ch of subscribed) ch.subscribers.delete(res);
      });
    },
    broadcast(key, _event, frame) {
      const ch = channels.get(key);
      if (!ch || ch.subscribers.size === 0) return 0;
      ch.pending.push(frame);
      dirty.add(ch);
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flush);
      }
      return ch.subscribers.size;
    },
    stop: () => clearInterval(heartbeat),
  };
}
