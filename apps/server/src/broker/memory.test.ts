import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { type EventPosition, formatPosition } from '@cast/protocol';
import { describe, expect, it, vi } from 'vitest';
import { describeBrokerContract } from './contract.js';
import { createMemoryBroker, type MemoryBrokerOptions } from './memory.js';
import type { LocalDelivery, PublishInput, StoredEvent } from './types.js';

const T0 = 1_700_000_000_000;

function setup(over: Partial<MemoryBrokerOptions> = {}) {
  let t = T0;
  const delivered: Array<[string, StoredEvent]> = [];
  const local: LocalDelivery = {
    deliver(tenant, event) {
      delivered.push([tenant, event]);
      return 2;
    },
  };
  const broker = createMemoryBroker({
    historySize: 100,
    historyMaxAgeSeconds: 3600,
    historyMaxBytes: 1 << 20,
    idempotencyWindowSeconds: 60,
    now: () => t,
    ...over,
  });
  return {
    broker,
    delivered,
    local,
    tick: (ms: number) => {
      t += ms;
    },
    start: () => broker.start(local),
  };
}

const ev = (channel = 'orders', event = 'order.created', data = '{}', idempotencyKey?: string): PublishInput =>
  idempotencyKey === undefined ? { channel, event, data } : { channel, event, data, idempotencyKey };

describe('memory broker', () => {
  it('gives every event of a tenant a unique, increasing position', async () => {
    const { broker, start, tick } = setup();
    await start();
    const positions: EventPosition[] = [];
    for (let i = 0; i < 5; i++) {
      const outs = await broker.publish('acme', [ev(), ev('other')]);
      positions.push(...outs.map((o) => o.event.position));
      if (i % 2 === 0) tick(1);
    }
    expect(positions[0]).toEqual({ ms: T0, seq: 0 });
    expect(positions[1]).toEqual({ ms: T0, seq: 1 });
    const parsed = positions.map((p) => [p.ms, p.seq] as [number, number]);
    for (let i = 1; i < parsed.length; i++) {
      const [a, b] = [parsed[i - 1] as [number, number], parsed[i] as [number, number]];
      const order = `${formatPosition(positions[i - 1]!)} < ${formatPosition(positions[i]!)}`;
      expect(a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]), order).toBe(true);
    }
    await broker.close();
  });

  it('keeps positions increasing when the clock goes backwards', async () => {
    const { broker, start, tick } = setup();
    await start();
    const [a] = await broker.publish('acme', [ev()]);
    tick(-500);
    const [b] = await broker.publish('acme', [ev()]);
    expect(a?.event.position).toEqual({ ms: T0, seq: 0 });
    expect(b?.event.position).toEqual({ ms: T0, seq: 1 });
  });

  it('hands each event to the local hub once and reports its count', async () => {
    const { broker, start, delivered } = setup();
    await start();
    const [out] = await broker.publish('acme', [ev('orders', 'order.created', '{"a":1}')]);
    expect(out?.delivered).toBe(2);
    expect(out?.duplicate).toBe(false);
    expect(out?.event.messageId).toMatch(/^[0-9a-f-]{36}$/);
    expect(delivered).toEqual([['acme', out?.event]]);
  });

  it('replays the events after a position on the asked channels, in order, recovered', async () => {
    const { broker, start, tick } = setup();
    await start();
    const outs = await broker.publish('acme', [ev('orders', 'a'), ev('billing', 'b'), ev('orders', 'c')]);
    tick(1);
    await broker.publish('globex', [ev('orders', 'not-mine')]);
    const [d] = await broker.publish('acme', [ev('orders', 'd')]);
    const r = await broker.replay('acme', ['orders'], outs[0]?.event.position as EventPosition);
    expect(r.recovered).toBe(true);
    expect(r.events.map((e) => e.event)).toEqual(['c', 'd']);
    const all = await broker.replay('acme', ['orders', 'billing'], outs[0]?.event.position as EventPosition);
    expect(all.events.map((e) => e.event)).toEqual(['b', 'c', 'd']);
    const latest = await broker.replay('acme', ['orders'], d?.event.position as EventPosition);
    expect(latest).toEqual({ events: [], recovered: true });
  });

  it('says recovered: false when the position is older than the retained history', async () => {
    const { broker, start } = setup({ historySize: 3 });
    await start();
    const outs = await broker.publish('acme', [
      ev('orders', 'e0'),
      ev('orders', 'e1'),
      ev('orders', 'e2'),
      ev('orders', 'e3'),
      ev('orders', 'e4'),
    ]);
    const old = await broker.replay('acme', ['orders'], outs[0]?.event.position as EventPosition);
    expect(old.recovered).toBe(false);
    expect(old.events.map((e) => e.event)).toEqual(['e2', 'e3', 'e4']);
    const edge = await broker.replay('acme', ['orders'], outs[1]?.event.position as EventPosition);
    expect(edge.recovered).toBe(true);
    expect(edge.events.map((e) => e.event)).toEqual(['e2', 'e3', 'e4']);
  });

  it('says recovered: false for events that aged out of the history', async () => {
    const { broker, start, tick } = setup({ historyMaxAgeSeconds: 10 });
    await start();
    const [a] = await broker.publish('acme', [ev('orders', 'old')]);
    const [b] = await broker.publish('acme', [ev('orders', 'old2')]);
    tick(11_000);
    await broker.publish('acme', [ev('orders', 'new')]);
    const r = await broker.replay('acme', ['orders'], a?.event.position as EventPosition);
    expect(r.recovered).toBe(false);
    expect(r.events.map((e) => e.event)).toEqual(['new']);
    expect((await broker.replay('acme', ['orders'], b?.event.position as EventPosition)).recovered).toBe(true);
  });

  it('says recovered: false for ids it never issued (a previous run, or the future)', async () => {
    const { broker, start } = setup();
    await start();
    expect(await broker.replay('acme', ['orders'], { ms: T0 - 5000, seq: 0 })).toEqual({
      events: [],
      recovered: false,
    });
    await broker.publish('acme', [ev()]);
    expect((await broker.replay('acme', ['orders'], { ms: T0 - 5000, seq: 0 })).recovered).toBe(false);
    expect((await broker.replay('acme', ['orders'], { ms: T0 + 60_000, seq: 0 })).recovered).toBe(false);
  });

  it('says recovered: false when an event was too large to retain', async () => {
    const { broker, start } = setup({ historyMaxBytes: 200 });
    await start();
    const [a] = await broker.publish('acme', [ev('orders', 'small')]);
    await broker.publish('acme', [ev('orders', 'big', JSON.stringify('x'.repeat(500)))]);
    const r = await broker.replay('acme', ['orders'], a?.event.position as EventPosition);
    expect(r.recovered).toBe(false);
  });

  it('publishes an idempotency key once per tenant within the window', async () => {
    const { broker, start, delivered, tick } = setup();
    await start();
    const [first] = await broker.publish('acme', [ev('orders', 'x', '{}', 'k1')]);
    const [again] = await broker.publish('acme', [ev('orders', 'x', '{}', 'k1')]);
    expect(again?.duplicate).toBe(true);
    expect(again?.event.messageId).toBe(first?.event.messageId);
    expect(again?.delivered).toBe(first?.delivered);
    expect(delivered).toHaveLength(1);
    const [other] = await broker.publish('globex', [ev('orders', 'x', '{}', 'k1')]);
    expect(other?.duplicate).toBe(false);
    expect(delivered).toHaveLength(2);
    tick(61_000);
    const [later] = await broker.publish('acme', [ev('orders', 'x', '{}', 'k1')]);
    expect(later?.duplicate).toBe(false);
    expect(delivered).toHaveLength(3);
  });

  it('remembers only the answer of a keyed publish, not its payload', async () => {
    // The test forces a full collection so retained bytes are measured, not garbage.
    v8.setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const { broker } = setup({ historySize: 4, historyMaxBytes: 1 << 20 });
    // A hub that keeps nothing (the default one records what it is handed).
    await broker.start({ deliver: () => 1 });
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 400; i++) {
      await broker.publish('acme', [ev('orders', 'n', JSON.stringify({ i, pad: 'x'.repeat(64 * 1024) }), `key-${i}`)]);
    }
    gc();
    const grown = process.memoryUsage().heapUsed - before;
    // 400 payloads of 64 KiB would be ~26 MB; the answers are a few hundred bytes each.
    expect(grown).toBeLessThan(8 * 1024 * 1024);
    // Every key is still answered.
    const [again] = await broker.publish('acme', [
      ev('orders', 'n', JSON.stringify({ i: 0, pad: 'x'.repeat(64 * 1024) }), 'key-0'),
    ]);
    expect(again?.duplicate).toBe(true);
    await broker.close();
  });

  it('forgets the oldest idempotency keys past the count bound and past the byte bound', async () => {
    const byCount = setup({ maxIdempotencyKeys: 3 });
    await byCount.start();
    for (let i = 1; i <= 4; i++) await byCount.broker.publish('acme', [ev('orders', 'n', `${i}`, `k${i}`)]);
    expect((await byCount.broker.publish('acme', [ev('orders', 'n', '4', 'k4')]))[0]?.duplicate).toBe(true);
    expect((await byCount.broker.publish('acme', [ev('orders', 'n', '1', 'k1')]))[0]?.duplicate).toBe(false);
    await byCount.broker.close();

    const byBytes = setup({ maxIdempotencyBytes: 2000 });
    await byBytes.start();
    for (let i = 1; i <= 20; i++) await byBytes.broker.publish('acme', [ev('orders', 'n', `${i}`, `k${i}`)]);
    expect((await byBytes.broker.publish('acme', [ev('orders', 'n', '20', 'k20')]))[0]?.duplicate).toBe(true);
    expect((await byBytes.broker.publish('acme', [ev('orders', 'n', '1', 'k1')]))[0]?.duplicate).toBe(false);
    await byBytes.broker.close();
  });

  it('keeps its idempotency byte count exact when an expired key is used again', async () => {
    // Each reuse just after the window replaced the entry without taking its bytes off the count, and
    // left the key at the front of the expiry order; the count grew past the bound and every new key
    // was forgotten as soon as it was stored.
    const { broker, start, tick } = setup({ maxIdempotencyBytes: 4000 });
    await start();
    for (let i = 0; i < 40; i++) {
      if (i > 0) tick(61_000);
      const [out] = await broker.publish('acme', [ev('orders', 'n', `${i}`, 'reused')]);
      expect(out?.duplicate).toBe(false);
    }
    await broker.publish('acme', [ev('orders', 'n', 'fresh', 'fresh-key')]);
    const [retry] = await broker.publish('acme', [ev('orders', 'n', 'fresh', 'fresh-key')]);
    expect(retry?.duplicate).toBe(true);
    const [reused] = await broker.publish('acme', [ev('orders', 'n', '39', 'reused')]);
    expect(reused?.duplicate).toBe(true);
    await broker.close();
  });

  it('lists sessions of one tenant, by channel and by user', async () => {
    const { broker, start } = setup();
    await start();
    const at = new Date(T0).toISOString();
    broker.addSession({ tenant: 'acme', id: 's1', userId: 'u1', channels: ['orders', 'user:u1'], connectedAt: at });
    broker.addSession({ tenant: 'acme', id: 's2', userId: null, channels: ['orders'], connectedAt: at });
    broker.addSession({ tenant: 'globex', id: 's3', userId: 'u1', channels: ['orders'], connectedAt: at });
    expect((await broker.listSessions('acme', {})).map((s) => s.id)).toEqual(['s1', 's2']);
    expect((await broker.listSessions('acme', { channel: 'user:u1' })).map((s) => s.id)).toEqual(['s1']);
    expect(await broker.listSessions('acme', { userId: 'u1' })).toEqual([
      { id: 's1', userId: 'u1', channels: ['orders', 'user:u1'], connectedAt: at },
    ]);
    broker.removeSession('acme', 's1');
    expect((await broker.listSessions('acme', {})).map((s) => s.id)).toEqual(['s2']);
    expect(await broker.ready()).toBe(true);
  });
});

describe('memory broker revocations', () => {
  it('forgets a revocation once no token it covers can still be valid (the longest token lifetime)', async () => {
    vi.useFakeTimers({ now: T0 });
    try {
      const { broker, start, tick } = setup({ revocationTtlSeconds: 60 });
      await start();
      await broker.revoke('acme', { kind: 'token', tokenId: 'tok-1', at: T0 });
      const held = { tokenId: 'tok-1', userId: null, issuedAt: T0 - 1 };
      expect((await broker.revocations('acme')).covers(held)).toBe(true);
      tick(59_000);
      vi.advanceTimersByTime(10_000);
      expect((await broker.revocations('acme')).covers(held)).toBe(true);
      tick(2_000);
      vi.advanceTimersByTime(10_000);
      expect((await broker.revocations('acme')).covers(held)).toBe(false);
      // One whose time is already past the lifetime is not stored at all.
      await broker.revoke('acme', { kind: 'all', before: T0 + 61_000 - 60_001 });
      expect((await broker.revocations('acme')).covers({ tokenId: 'x', userId: null, issuedAt: 0 })).toBe(false);
    } finally {
      vi.useRealTimers();
    }
  });
});

describeBrokerContract('memory', async (options) => {
  const broker = createMemoryBroker(options);
  return { broker, cleanup: () => broker.close() };
});
