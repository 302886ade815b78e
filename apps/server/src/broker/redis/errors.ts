import { CastError } from '@cast/protocol';

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** What {@link unavailable} knows about the failed call besides the error. */
export interface UnavailableContext {
  /** The command timeout, ms, for the message. */
  timeoutMs: number;
  /** On a Redis Cluster the message speaks of the tenant's shard, not of Redis as a whole. @defaultValue false */
  cluster?: boolean;
  /** The call writes (a publish, a revocation): the message says whether it took effect. @defaultValue false */
  write?: boolean;
  /**
   * The connection to the tenant's Redis (on a cluster, to the master serving
   * its slot) was not up when the call was sent, nor when it failed: the
   * command never reached Redis, so nothing was written. @defaultValue false
   */
  neverSent?: boolean;
  /** Whether that connection is up now (undefined: not known). */
  reachable?: boolean;
}

/** A call of one tenant's, noted as it is sent: for the 503 should it fail (see {@link unavailable}). */
export interface SentCall {
  readonly tenant: string;
  /** The call writes: the message says whether it took effect. */
  readonly write: boolean;
  /** Whether the connection to the tenant's Redis was up when the call was sent. */
  readonly up: boolean;
  /** The call was refused before anything was sent. */
  readonly unsent?: boolean;
}

/** Replies with which a Redis Cluster redirects a command (they name shards' addresses: not for clients). */
const ROUTING = /\b(MOVED|ASK|TRYAGAIN|CLUSTERDOWN)\b|Cluster redirections/;
/** ioredis gave up following redirections, the last one a reply of Redis's (the command did not run). */
const REFUSED_LAST = /Cluster redirections\. Last error: ReplyError: (MOVED|ASK|TRYAGAIN|CLUSTERDOWN)\b/;

/**
 * The 503 a Redis failure becomes. The message names what is unreachable
 * (Redis, or on a cluster the tenant's shard) and, for a write, whether it
 * took effect: not when the command never reached Redis or Redis refused it;
 * maybe when Redis was sent it and did not answer. It carries no client
 * library detail and no address (the cause keeps them).
 *
 * @param err - what the Redis client threw
 * @param what - the call, for the message (e.g. 'the publish')
 * @param context - the command timeout and what is known of the connection
 * @returns a `CastError` 503 `UNAVAILABLE` with `Retry-After: 1`
 * @example
 * ```ts
 * throw unavailable(err, 'the publish', { timeoutMs: 1000, cluster: true, write: true, neverSent: true })
 * // 503: The Redis shard that holds this tenant is unreachable, so the publish failed without taking effect; retry shortly.
 * ```
 */
export function unavailable(err: unknown, what: string, context: UnavailableContext): CastError {
  const message = messageOf(err);
  const redis = context.cluster ? 'The Redis shard that holds this tenant' : 'Redis';
  const fail = (text: string) => new CastError('UNAVAILABLE', text, { retryAfter: 1, cause: err });
  const maybe = context.write
    ? `so ${what} may or may not have taken effect; retry (publishes with an idempotency key).`
    : `so ${what} failed; retry shortly.`;
  const notDone = context.write
    ? `so ${what} failed without taking effect; retry shortly.`
    : `so ${what} failed; retry shortly.`;
  if (context.neverSent) return fail(`${redis} is unreachable, ${notDone}`);
  const reply = (err as { name?: unknown } | null)?.name === 'ReplyError';
  if (reply && !ROUTING.test(message)) {
    // Redis answered with an error (e.g. OOM under maxmemory-policy noeviction): nothing was written.
    return fail(`${redis} refused ${what} (${message}); nothing was written; retry later.`);
  }
  if (reply || REFUSED_LAST.test(message)) {
    // Redis redirected the last attempt (or answered CLUSTERDOWN) and ioredis gave up: it was not run. An
    // earlier attempt lost with its connection would have ended the chain with that error instead.
    return fail(`${redis} is unreachable or its slot is moving, ${notDone}`);
  }
  if (context.reachable === false) return fail(`${redis} is unreachable, ${maybe}`);
  if (/timed? ?out/i.test(message)) return fail(`${redis} did not answer within ${context.timeoutMs} ms, ${maybe}`);
  if (ROUTING.test(message)) return fail(`${redis} is unreachable or its slot is moving, ${maybe}`);
  return fail(`${redis} is not reachable, ${maybe}`);
}

/**
 * CAST_REDIS_URL without its password, for logs.
 *
 * @example
 * ```ts
 * redact('redis://:secret@h:6379') // 'redis://:***@h:6379'
 * ```
 */
export function redact(url: string): string {
  try {
    const u = new URL(url.replace(/^(rediss?)\+cluster:/, '$1:').replace(/,.*$/, ''));
    if (u.password) u.password = '***';
    return url.startsWith('redis') && url.includes('+cluster') ? `${u.toString()} (a Redis Cluster)` : u.toString();
  } catch {
    return 'the configured URL';
  }
}
