import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { describeBrokerContract } from '../contract.js';
import { dropPrefix, TEST_REDIS_URL, testPrefix } from '../redis-test-support.js';
import type { StoredEvent } from '../types.js';
import { describeAcrossNodes, killPubsubClient, withRedis } from './across-nodes.js';
import {
  decodeLiveMessage,
  encodeLiveMessage,
  formatRedisPosition,
  parseRedisPosition,
  positionBefore,
} from './codec.js';
import { createRedisBroker } from './index.js';

const quiet = () => {};

describeBrokerContract('redis', async (options) => {
  const prefix = testPrefix();
  const broker = createRedisBroker({ url: TEST_REDIS_URL, prefix, log: quiet, ...options });
  return {
    broker,
    async cleanup() {
      await broker.close();
      await dropPrefix(TEST_REDIS_URL, prefix);
    },
  };
});

describe('redis live message codec', () => {
  it('round-trips any UTF-8 channel, event and data by byte lengths', () => {
    const event: StoredEvent = {
      position: { ms: 1700000000000, seq: 12 },
      channel: 'user:zoë',
      event: 'ticket.créé',
      data: '{"a":"line\\nbreak ✓ 🎉"}',
      messageId: '0b6f4c1e-5a43-4a52-9a53-1e0d2b7c9f10',
    };
    expect(decodeLiveMessage(encodeLiveMessage(event))).toEqual(event);
  });

  it('rejects malformed messages', () => {
    expect(decodeLiveMessage(Buffer.from('no header'))).toBeUndefined();
    expect(decodeLiveMessage(Buffer.from('1-0 50 1 m\nab'))).toBeUndefined();
    expect(decodeLiveMessage(Buffer.from('x-0 1 1 m\nab'))).toBeUndefined();
  });
});

describe('redis stream ids', () => {
  it('formats a parsed stream id back byte for byte, the largest sequence number included', () => {
    for (const id of ['0-1', '1700000000000-12', '1699999999999-18446744073709551615']) {
      expect(formatRedisPosition(parseRedisPosition(id)!)).toBe(id);
    }
    expect(formatRedisPosition(positionBefore(1000))).toBe('999-18446744073709551615');
  });
});

describeAcrossNodes({
  cluster: false,
  url: () => TEST_REDIS_URL,
  admin: () => new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 }),
  drop: (prefix) => dropPrefix(TEST_REDIS_URL, prefix),
  keysLike: (pattern) => withRedis(TEST_REDIS_URL, (r) => r.keys(pattern)),
  shardNumsub: (channel) => withRedis(TEST_REDIS_URL, (r) => r.call('PUBSUB', 'SHARDNUMSUB', channel)),
  killClient: (name) => killPubsubClient([TEST_REDIS_URL], name),
});
