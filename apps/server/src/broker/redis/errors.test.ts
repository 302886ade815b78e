import { describe, expect, it } from 'vitest';
import { redact, unavailable } from './errors.js';

describe('Redis errors', () => {
  it('hides the password of one Redis or a Redis Cluster URL in logs', () => {
    expect(redact('redis://:secret@h:6379')).toBe('redis://:***@h:6379');
    expect(redact('rediss+cluster://cast:secret@a:7000,b:7000')).toBe('rediss://cast:***@a:7000 (a Redis Cluster)');
  });

  it('turns a timeout, a refusal and a lost connection into 503 UNAVAILABLE saying which', () => {
    expect(unavailable(new Error('Command timed out'), 'the publish', 1000).message).toMatch(
      /within 1000 ms, so the publish may or may not/,
    );
    const refused = Object.assign(new Error('CLUSTERDOWN Hash slot not served'), { name: 'ReplyError' });
    expect(unavailable(refused, 'the replay', 1000)).toMatchObject({ code: 'UNAVAILABLE', status: 503 });
    expect(unavailable(refused, 'the replay', 1000).message).toMatch(/refused the replay \(CLUSTERDOWN/);
    expect(unavailable(new Error('connect ECONNREFUSED'), 'the publish', 1000).message).toMatch(
      /not reachable, so the publish failed/,
    );
  });
});
