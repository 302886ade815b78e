import { describe, expect, it } from 'vitest';
import { redact, unavailable } from './errors.js';

describe('Redis errors', () => {
  it('hides the password of one Redis or a Redis Cluster URL in logs', () => {
    expect(redact('redis://:secret@h:6379')).toBe('redis://:***@h:6379');
    expect(redact('rediss+cluster://cast:secret@a:7000,b:7000')).toBe('rediss://cast:***@a:7000 (a Redis Cluster)');
  });

  it('turns a timeout, a refusal and a lost connection into 503 UNAVAILABLE saying which', () => {
    const single = { timeoutMs: 1000, write: true };
    expect(unavailable(new Error('Command timed out'), 'the publish', single).message).toBe(
      'Redis did not answer within 1000 ms, so the publish may or may not have taken effect; retry (publishes with an idempotency key).',
    );
    const oom = Object.assign(new Error('OOM command not allowed when used memory > maxmemory'), {
      name: 'ReplyError',
    });
    expect(unavailable(oom, 'the publish', single)).toMatchObject({ code: 'UNAVAILABLE', status: 503, retryAfter: 1 });
    expect(unavailable(oom, 'the publish', single).message).toBe(
      'Redis refused the publish (OOM command not allowed when used memory > maxmemory); nothing was written; retry later.',
    );
    // Refused before anything was sent (one Redis has no offline queue).
    const writeable = new Error("Stream isn't writeable and enableOfflineQueue options is false");
    expect(unavailable(writeable, 'the publish', { ...single, neverSent: true }).message).toBe(
      'Redis is unreachable, so the publish failed without taking effect; retry shortly.',
    );
    // A read says nothing of effects.
    expect(
      unavailable(new Error('connect ECONNREFUSED 10.0.0.1:6379'), 'the replay', { timeoutMs: 1000 }).message,
    ).toBe('Redis is not reachable, so the replay failed; retry shortly.');
  });

  it('names the tenant’s shard of a Redis Cluster and says whether the publish took effect, without client internals', () => {
    const cluster = { timeoutMs: 1000, cluster: true, write: true };
    // What ioredis throws while the tenant's master is down (seen in the killed-shard test).
    const thrown = [
      new Error('Too many Cluster redirections. Last error: ReplyError: MOVED 11304 127.0.0.1:40123'),
      new Error('Too many Cluster redirections. Last error: Error: Connection is closed.'),
      new Error('Too many Cluster redirections. Last error: Error: Command timed out'),
      new Error('Command timed out'),
      Object.assign(new Error('CLUSTERDOWN The cluster is down'), { name: 'ReplyError' }),
    ];
    for (const err of thrown) {
      // The connection to the master was down when the publish was sent and when it failed: it never reached Redis.
      expect(unavailable(err, 'the publish', { ...cluster, neverSent: true, reachable: false }).message).toBe(
        'The Redis shard that holds this tenant is unreachable, so the publish failed without taking effect; retry shortly.',
      );
    }
    // Sent to a master that was up, then no answer: it may have been applied.
    expect(unavailable(thrown[3], 'the publish', { ...cluster, reachable: true }).message).toBe(
      'The Redis shard that holds this tenant did not answer within 1000 ms, so the publish may or may not have taken effect; retry (publishes with an idempotency key).',
    );
    expect(unavailable(thrown[3], 'the publish', { ...cluster, reachable: false }).message).toBe(
      'The Redis shard that holds this tenant is unreachable, so the publish may or may not have taken effect; retry (publishes with an idempotency key).',
    );
    // Redis answered the last attempt with a redirection while the slot moved: nothing was written.
    expect(
      unavailable(
        new Error('Too many Cluster redirections. Last error: ReplyError: TRYAGAIN Multiple keys'),
        'the publish',
        {
          ...cluster,
          reachable: true,
        },
      ).message,
    ).toBe(
      'The Redis shard that holds this tenant is unreachable or its slot is moving, so the publish failed without taking effect; retry shortly.',
    );
    // The last attempt lost with its connection: it may have run.
    expect(unavailable(thrown[1], 'the publish', { ...cluster, reachable: true }).message).toBe(
      'The Redis shard that holds this tenant is unreachable or its slot is moving, so the publish may or may not have taken effect; retry (publishes with an idempotency key).',
    );
    // A redirection Redis answered itself: nothing was written.
    expect(unavailable(thrown[4], 'the publish', cluster).message).toBe(
      'The Redis shard that holds this tenant is unreachable or its slot is moving, so the publish failed without taking effect; retry shortly.',
    );
    expect(unavailable(thrown[0], 'the replay', { timeoutMs: 1000, cluster: true }).message).toBe(
      'The Redis shard that holds this tenant is unreachable or its slot is moving, so the replay failed; retry shortly.',
    );
  });
});
