import { createHmac } from 'node:crypto';
import type { WebhookBody } from '@cast/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { LifecycleEvent } from '../lifecycle.js';
import type { WebhookFetch } from './deliver.js';
import type { WebhookEngine } from './engine.js';
import { createMemoryWebhookEngine } from './memory-engine.js';

const SECRET = 'w'.repeat(32);
const URL_A = 'http://receiver.test/hooks';
const URL_B = 'http://other-receiver.test/hooks';

interface Call {
  at: number;
  body: WebhookBody;
  raw: string;
  signature: string;
}

/** Sends each request to the receiver of its URL. */
function byUrl(receivers: Record<string, { fetch: WebhookFetch }>): WebhookFetch {
  return (url, init) => (receivers[url] as { fetch: WebhookFetch }).fetch(url, init);
}

/** The tenant's pending events, as `/metrics` shows them. */
function pendingOf(e: WebhookEngine): number {
  return Number(/cast_webhook_pending\{tenant="acme"\} (\d+)/.exec(e.metrics.render())?.[1]);
}

/** A receiver that answers with the statuses given, in turn (the last one repeats), or hangs on 0. */
function receiver(statuses: Array<number | 'refuse'>) {
  const calls: Call[] = [];
  const fetch: WebhookFetch = async (_url, init) => {
    const raw = init.body as string;
    calls.push({
      at: Date.now(),
      body: JSON.parse(raw) as WebhookBody,
      raw,
      signature: (init.headers as Record<string, string>)['Cast-Signature'] as string,
    });
    const status = statuses.length > 1 ? statuses.shift() : statuses[0];
    if (status === 'refuse') throw new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } });
    if (status === 0) {
      return new Promise<Response>((_resolve, reject) => {
        init.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
      });
    }
    return new Response(null, { status });
  };
  return { calls, fetch };
}

function ev(n: number, type: LifecycleEvent['type'] = 'channel.occupied'): LifecycleEvent {
  return { type, tenant: 'acme', channel: `order:${n}`, at: Date.now() };
}

let engine: WebhookEngine | undefined;
const lines: string[] = [];

function start(
  fetch: WebhookFetch,
  extra: { maxPending?: number; random?: () => number; urls?: string[] } = {},
): WebhookEngine {
  engine = createMemoryWebhookEngine({
    endpoints: (extra.urls ?? [URL_A]).map((url) => ({ tenant: 'acme', url, secret: SECRET })),
    maxPending: extra.maxPending ?? 1000,
    retryBaseMs: 1000,
    fetch,
    random: extra.random ?? (() => 0.999999),
    log: (l) => lines.push(l),
  });
  return engine;
}

beforeEach(() => {
  vi.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z') });
  lines.length = 0;
});
afterEach(async () => {
  await engine?.close();
  engine = undefined;
  vi.useRealTimers();
});

describe('memory webhook engine', () => {
  it('sends events of one short window in one signed request with the wire shape', async () => {
    const r = receiver([200]);
    const e = start(r.fetch);
    e.lifecycle(ev(1));
    e.lifecycle({ type: 'presence.join', tenant: 'acme', channel: 'room', userId: 'u1', at: Date.now() });
    e.lifecycle({ type: 'channel.occupied', tenant: 'globex', channel: 'x', at: Date.now() });
    await vi.advanceTimersByTimeAsync(99);
    expect(r.calls).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(r.calls).toHaveLength(1);
    const [call] = r.calls as [Call];
    expect(call.body.events).toEqual([
      {
        id: expect.stringMatching(/^wh_[0-9a-f]{32}$/),
        type: 'channel.occupied',
        tenant: 'acme',
        channel: 'order:1',
        at: '2026-01-01T00:00:00.000Z',
      },
      {
        id: expect.stringMatching(/^wh_/),
        type: 'presence.join',
        tenant: 'acme',
        channel: 'room',
        userId: 'u1',
        at: '2026-01-01T00:00:00.000Z',
      },
    ]);
    const t = Math.floor(Date.now() / 1000);
    expect(call.signature).toBe(`t=${t},v1=${createHmac('sha256', SECRET).update(`${t}.${call.raw}`).digest('hex')}`);
    expect(e.metrics.deliveries).toBe(1);
    expect(e.metrics.eventsDelivered).toBe(2);
  });

  it('puts at most 100 events in one request and keeps their order', async () => {
    const r = receiver([200]);
    const e = start(r.fetch);
    for (let i = 0; i < 250; i++) e.lifecycle(ev(i));
    await vi.advanceTimersByTimeAsync(500);
    expect(r.calls.map((c) => c.body.events.length)).toEqual([100, 100, 50]);
    expect(r.calls.flatMap((c) => c.body.events.map((x) => x.channel))).toEqual(
      Array.from({ length: 250 }, (_, i) => `order:${i}`),
    );
  });

  it('sends a failed batch again with the same ids after about a second, doubling up to five minutes', async () => {
    const r = receiver([500, 503, 'refuse', 404, 200]);
    const e = start(r.fetch);
    e.lifecycle(ev(1));
    await vi.advanceTimersByTimeAsync(100);
    expect(r.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(999);
    expect(r.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(r.calls).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(2000 + 4000 + 8000);
    expect(r.calls).toHaveLength(5);
    expect(new Set(r.calls.map((c) => c.body.events[0]?.id)).size).toBe(1);
    expect(r.calls.map((c) => c.at - (r.calls[0] as Call).at)).toEqual([0, 1000, 3000, 7000, 15_000]);
    expect(e.metrics).toMatchObject({ attempts: 5, failures: 4, retries: 4, deliveries: 1 });
    expect(lines.filter((l) => l.includes('delivery failed'))).toHaveLength(1);
  });

  it('waits a random half to all of each delay (jitter) and never more than five minutes', async () => {
    const r = receiver([500]);
    const e = start(r.fetch, { random: () => 0 });
    e.lifecycle(ev(1));
    await vi.advanceTimersByTimeAsync(100);
    await vi.advanceTimersByTimeAsync(500);
    expect(r.calls).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(3 * 3_600_000);
    const gaps = r.calls.slice(1).map((c, i) => c.at - (r.calls[i] as Call).at);
    expect(Math.max(...gaps)).toBe(150_000);
    expect(gaps.slice(0, 4)).toEqual([500, 1000, 2000, 4000]);
  });

  it('counts a receiver that does not answer within 5 s as a failure and retries', async () => {
    const r = receiver([0, 200]);
    const e = start(r.fetch);
    e.lifecycle(ev(1));
    await vi.advanceTimersByTimeAsync(100 + 4999);
    expect(e.metrics.failures).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(e.metrics.failures).toBe(1);
    expect(lines.join('\n')).toContain('timeout after 5000 ms');
    await vi.advanceTimersByTimeAsync(1000);
    expect(r.calls).toHaveLength(2);
    expect(e.metrics.deliveries).toBe(1);
  });

  it('retries for 24 hours, then drops the events and counts them', async () => {
    const r = receiver([500]);
    const e = start(r.fetch);
    e.lifecycle(ev(1));
    await vi.advanceTimersByTimeAsync(24 * 3_600_000 - 400_000);
    expect(e.metrics.dropped.expired).toBe(0);
    const before = r.calls.length;
    expect(before).toBeGreaterThan(280);
    await vi.advanceTimersByTimeAsync(700_000);
    expect(e.metrics.dropped.expired).toBe(1);
    const after = r.calls.length;
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(r.calls.length).toBe(after);
    expect(e.metrics.render()).toContain('cast_webhook_dropped_total{reason="expired"} 1');
    expect(e.metrics.render()).toContain('cast_webhook_pending{tenant="acme"} 0');
  });

  it('keeps at most maxPending events for a tenant with one URL, dropping the oldest and counting them', async () => {
    const r = receiver([500, 500, 200]);
    const e = start(r.fetch, { maxPending: 150 });
    for (let i = 0; i < 100; i++) e.lifecycle(ev(i));
    await vi.advanceTimersByTimeAsync(100);
    expect(r.calls).toHaveLength(1);
    // 100 in the failing batch + 120 more: the 70 oldest go.
    for (let i = 100; i < 220; i++) e.lifecycle(ev(i));
    expect(e.metrics.dropped.overflow).toBe(70);
    expect(e.metrics.render()).toContain('cast_webhook_pending{tenant="acme"} 150');
    await vi.advanceTimersByTimeAsync(10_000);
    const delivered = r.calls.filter((_, i) => i >= 2).flatMap((c) => c.body.events.map((x) => x.channel));
    expect(delivered).toEqual(Array.from({ length: 150 }, (_, i) => `order:${i + 70}`));
    // The retried batch kept its surviving ids.
    expect((r.calls[1] as Call).body.events.map((x) => x.id)).toEqual(
      (r.calls[0] as Call).body.events.slice(70).map((x) => x.id),
    );
  });

  it('bounds the pending events of a tenant across its URLs: a dead URL loses its oldest, a URL that keeps up loses nothing', async () => {
    // A refuses connections until it comes back; B answers at once.
    let aUp = false;
    const a = receiver(['refuse']);
    const up = receiver([200]);
    const b = receiver([200]);
    const e = start(byUrl({ [URL_A]: { fetch: (url, init) => (aUp ? up : a).fetch(url, init) }, [URL_B]: b }), {
      maxPending: 100,
      urls: [URL_A, URL_B],
    });
    let most = 0;
    for (let round = 0; round < 30; round++) {
      for (let i = 0; i < 10; i++) {
        e.lifecycle(ev(round * 10 + i));
        most = Math.max(most, pendingOf(e));
      }
      await vi.advanceTimersByTimeAsync(200);
    }
    expect(most).toBeLessThanOrEqual(100);
    // B kept up, so none of its events went: each once, in order.
    expect(b.calls.flatMap((c) => c.body.events.map((x) => x.channel))).toEqual(
      Array.from({ length: 300 }, (_, i) => `order:${i}`),
    );
    // A holds the rest of the bound: at the last events B still held 10, so A kept 90.
    expect(pendingOf(e)).toBe(90);
    expect(e.metrics.dropped.overflow).toBe(210);
    aUp = true;
    await vi.advanceTimersByTimeAsync(600_000);
    expect(up.calls.flatMap((c) => c.body.events.map((x) => x.channel))).toEqual(
      Array.from({ length: 90 }, (_, i) => `order:${i + 210}`),
    );
    expect(pendingOf(e)).toBe(0);
  });

  it('splits the bound between URLs that are all behind, each keeping its newest events', async () => {
    let upNow = false;
    const down = receiver(['refuse']);
    const a = receiver([200]);
    const b = receiver([200]);
    const e = start(
      byUrl({
        [URL_A]: { fetch: (url, init) => (upNow ? a : down).fetch(url, init) },
        [URL_B]: { fetch: (url, init) => (upNow ? b : down).fetch(url, init) },
      }),
      { maxPending: 100, urls: [URL_A, URL_B] },
    );
    for (let i = 0; i < 150; i++) e.lifecycle(ev(i));
    expect(pendingOf(e)).toBe(100);
    expect(e.metrics.dropped.overflow).toBe(200);
    upNow = true;
    await vi.advanceTimersByTimeAsync(10_000);
    const newest = Array.from({ length: 50 }, (_, i) => `order:${i + 100}`);
    expect(a.calls.flatMap((c) => c.body.events.map((x) => x.channel))).toEqual(newest);
    expect(b.calls.flatMap((c) => c.body.events.map((x) => x.channel))).toEqual(newest);
  });

  it('never throws from lifecycle and ignores tenants without webhooks', () => {
    const r = receiver([200]);
    const e = start(r.fetch);
    expect(() =>
      e.lifecycle({ type: 'channel.vacated', tenant: 'nobody', channel: 'c', at: Date.now() }),
    ).not.toThrow();
    expect(() => e.lifecycle({ type: 'channel.vacated', tenant: 'acme', channel: 'c', at: Number.NaN })).not.toThrow();
  });
});
