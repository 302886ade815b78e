import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createMemoryBroker } from '../broker/memory.js';
import type { Broker, PresenceStore } from '../broker/types.js';
import type { LifecycleEvent } from '../lifecycle.js';
import { Presence, type PresenceStream } from './presence.js';

const GRACE = 5000;

function stream(userId: string | null, channels = ['room'], tenant = 'acme'): PresenceStream {
  return { tenant, channels, userId, userInfo: userId === null ? null : `{"name":"${userId}"}` };
}

describe('presence on one node', () => {
  let broker: Broker;
  let presence: Presence;
  let events: LifecycleEvent[];

  beforeEach(async () => {
    vi.useFakeTimers();
    broker = createMemoryBroker({
      historySize: 100,
      historyMaxAgeSeconds: 3600,
      historyMaxBytes: 1 << 20,
      idempotencyWindowSeconds: 60,
    });
    await broker.start({ deliver: () => 0 });
    events = [];
    presence = new Presence(broker.presence, {
      graceMs: GRACE,
      lifecycle: { lifecycle: (e) => events.push(e) },
      log: () => {},
    });
  });
  afterEach(async () => {
    presence.close();
    await broker.close();
    vi.useRealTimers();
  });

  const types = () => events.map((e) => (e.userId ? `${e.type} ${e.channel} ${e.userId}` : `${e.type} ${e.channel}`));
  const logged = async () =>
    (await broker.replay('acme', ['room', 'lobby'], { ms: 0, seq: 0 })).events.map(
      (e) => `${e.event} ${JSON.parse(e.data).userId}`,
    );

  it('reports occupied and a join once for several streams of one user, and waits the grace period for the leave', async () => {
    const a = stream('ada');
    const b = stream('ada');
    presence.opened(a);
    presence.opened(b);
    presence.opened(stream(null));
    await presence.settled('acme');
    expect(types()).toEqual(['channel.occupied room', 'presence.join room ada']);
    presence.closed(a);
    await vi.advanceTimersByTimeAsync(GRACE * 2);
    expect(types()).toHaveLength(2);
    presence.closed(b);
    await vi.advanceTimersByTimeAsync(GRACE - 100);
    expect(types()).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(200);
    expect(types()).toEqual(['channel.occupied room', 'presence.join room ada', 'presence.leave room ada']);
    expect(await logged()).toEqual(['presence.join ada', 'presence.leave ada']);
  });

  it('changes nothing when a user reconnects within the grace period', async () => {
    const first = stream('ada');
    presence.opened(first);
    await presence.settled('acme');
    presence.closed(first);
    await vi.advanceTimersByTimeAsync(GRACE / 2);
    const again = stream('ada');
    presence.opened(again);
    await vi.advanceTimersByTimeAsync(GRACE * 3);
    expect(types()).toEqual(['channel.occupied room', 'presence.join room ada']);
    expect(await logged()).toEqual(['presence.join ada']);
  });

  it('counts the grace period from when the store took the close, so a slow queue neither shortens it nor loses the leave', async () => {
    const store = broker.presence;
    const slow: PresenceStore = {
      ...store,
      part: async (...args) => {
        await new Promise((r) => setTimeout(r, 3000));
        return store.part(...args);
      },
    };
    presence.close();
    presence = new Presence(slow, { graceMs: GRACE, lifecycle: { lifecycle: (e) => events.push(e) }, log: () => {} });
    const ada = stream('ada');
    presence.opened(ada);
    await presence.settled('acme');
    presence.closed(ada);
    await vi.advanceTimersByTimeAsync(3000 + GRACE - 100);
    expect(types()).not.toContain('presence.leave room ada');
    await vi.advanceTimersByTimeAsync(200);
    expect(types()).toContain('presence.leave room ada');
  });

  it('vacates a channel once after its last stream (with or without a user) closed and the grace period passed', async () => {
    const anon = stream(null, ['lobby']);
    presence.opened(anon);
    presence.closed(anon);
    await vi.advanceTimersByTimeAsync(GRACE + 100);
    expect(types()).toEqual(['channel.occupied lobby', 'channel.vacated lobby']);
    expect(await logged()).toEqual([]);
  });

  it('ignores the server’s own feed channels', async () => {
    presence.opened(stream('ada', ['$bus']));
    await presence.settled('acme');
    expect(events).toEqual([]);
  });

  it('rewrites a tenant whose step failed once the store answers again, and settles what closed meanwhile', async () => {
    let down = true;
    const store = broker.presence;
    const flaky: PresenceStore = {
      ...store,
      join: (...args) => (down ? Promise.reject(new Error('down')) : store.join(...args)),
      part: (...args) => (down ? Promise.reject(new Error('down')) : store.part(...args)),
      settleMember: (...args) => (down ? Promise.reject(new Error('down')) : store.settleMember(...args)),
      rewrite: async (tenant, part) => {
        if (down) throw new Error('down');
        // The memory store never loses a step; stand in for the Redis rewrite with the joins it would make.
        const out = [];
        for (const m of part.members)
          if (await store.join(tenant, m.channel, m.userId, m.userInfo))
            out.push({ type: 'presence.join' as const, tenant, channel: m.channel, userId: m.userId });
        return out;
      },
    };
    presence.close();
    presence = new Presence(flaky, {
      graceMs: GRACE,
      repairMs: 1000,
      lifecycle: { lifecycle: (e) => events.push(e) },
      log: () => {},
    });
    const ada = stream('ada');
    presence.opened(ada);
    await presence.settled('acme');
    expect(types()).toEqual(['channel.occupied room']);
    down = false;
    await vi.advanceTimersByTimeAsync(1000);
    expect(types()).toEqual(['channel.occupied room', 'presence.join room ada']);
  });
});

describe('presence on two nodes over Redis', () => {
  it('reports each occupancy and presence change once for the cluster, from whichever node decided it', async () => {
    const { createRedisBroker } = await import('../broker/redis/index.js');
    const { TEST_REDIS_URL, dropPrefix, testPrefix } = await import('../broker/redis-test-support.js');
    const prefix = testPrefix();
    const events: LifecycleEvent[] = [];
    const nodes = await Promise.all(
      [0, 1].map(async () => {
        const broker = createRedisBroker({
          url: TEST_REDIS_URL,
          prefix,
          historySize: 100,
          historyMaxAgeSeconds: 3600,
          idempotencyWindowSeconds: 60,
          log: () => {},
        });
        await broker.start({ deliver: () => 0 });
        const presence = new Presence(broker.presence, {
          graceMs: 50,
          lifecycle: { lifecycle: (e) => events.push(e) },
          log: () => {},
        });
        return { broker, presence };
      }),
    );
    try {
      const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
      const onA = stream('ada');
      const onB = stream('ada');
      a.presence.opened(onA);
      await a.presence.settled('acme');
      b.presence.opened(onB);
      b.presence.opened(stream(null));
      await b.presence.settled('acme');
      a.presence.closed(onA);
      await new Promise((r) => setTimeout(r, 200));
      expect(types()).toEqual(['channel.occupied room', 'presence.join room ada']);
      b.presence.closed(onB);
      b.presence.closed(stream(null));
      await vi.waitFor(() => expect(types()).toHaveLength(4), { timeout: 3000 });
      await new Promise((r) => setTimeout(r, 200));
      expect(types()).toEqual([
        'channel.occupied room',
        'presence.join room ada',
        'presence.leave room ada',
        'channel.vacated room',
      ]);
    } finally {
      for (const n of nodes) {
        n.presence.close();
        await n.broker.close();
      }
      await dropPrefix(TEST_REDIS_URL, prefix);
    }

    function types() {
      return events.map((e) => (e.userId ? `${e.type} ${e.channel} ${e.userId}` : `${e.type} ${e.channel}`));
    }
  });
});
