import { CastError } from '@cast/protocol';

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The 503 a Redis failure becomes: a timeout (the call may have taken effect),
 * a refusal (nothing was written), or no connection.
 *
 * @param err - what the Redis client threw
 * @param what - the call, for the message (e.g. 'the publish')
 * @param timeoutMs - the command timeout, for the message
 * @example
 * ```ts
 * throw unavailable(err, 'the publish', 1000) // 503 UNAVAILABLE, Retry-After: 1
 * ```
 */
export function unavailable(err: unknown, what: string, timeoutMs: number): CastError {
  const message = messageOf(err);
  if (/timed? ?out/i.test(message)) {
    return new CastError(
      'UNAVAILABLE',
      `Redis did not answer within ${timeoutMs} ms, so ${what} may or may not have taken effect; retry (publishes with an idempotency key).`,
      { retryAfter: 1, cause: err },
    );
  }
  if ((err as { name?: unknown } | null)?.name === 'ReplyError') {
    // Redis answered with an error (e.g. OOM under maxmemory-policy noeviction, or CLUSTERDOWN): nothing was written.
    return new CastError('UNAVAILABLE', `Redis refused ${what} (${message}); retry later.`, {
      retryAfter: 1,
      cause: err,
    });
  }
  return new CastError('UNAVAILABLE', `Redis is not reachable, so ${what} failed (${message}); retry shortly.`, {
    retryAfter: 1,
    cause: err,
  });
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
