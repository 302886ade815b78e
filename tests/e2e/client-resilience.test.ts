import { type CastError, type Realtime, type ResumeInfo, createRealtime } from '@cast/realtime-client';
import { afterEach, describe, expect, it } from 'vitest';
import { type TestProxy, startProxy } from './helpers/proxy.js';
import { type TestServer, issueToken, publish, startServer } from './helpers/server.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function server(env: Record<string, string> = {}): Promise<TestServer> {
  const s = await startServer({ env: { CAST_HEARTBEAT_MS: '300', ...env } });
  cleanups.push(() => s.kill());
  return s;
}

async function proxyTo(s: TestServer): Promise<TestProxy> {
  const p = await startProxy(s.port);
  cleanups.push(() => p.close());
  return p;
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A client whose every event, error and resume is recorded. */
function watch(realtime: Realtime) {
  cleanups.push(() => realtime.destroy());
  const seen: number[] = [];
  const errors: CastError[] = [];
  const resumes: ResumeInfo[] = [];
  let connects = 0;
  realtime.on('seq.n', (e) => seen.push((e.data as { n: number }).n));
  realtime.onError((e) => errors.push(e));
  realtime.onResume((r) => resumes.push(r));
  realtime.onConnectionChange((up) => {
    if (up) connects++;
  });
  return { seen, errors, resumes, connects: () => connects };
}

const send = (s: TestServer, channel: string, n: number) => publish(s, { channel, event: 'seq.n', data: { n } });
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const fast = { backoffFloorMs: 50, backoffCapMs: 300 };

describe('realtime client under failures', () => {
  it('resumes without loss or duplicates after a proxy stops forwarding bytes (stall)', async () => {
    const s = await server();
    const proxy = await proxyTo(s);
    const realtime = createRealtime({
      url: proxy.url,
      token: async () => (await issueToken(s, { channels: ['c'] })).token,
      stallTimeoutMs: 1200,
      ...fast,
    });
    const w = watch(realtime);
    await waitFor(() => realtime.connected, 'connected');
    for (const n of range(1, 3)) await send(s, 'c', n);
    await waitFor(() => w.seen.length === 3, 'events 1-3');

    proxy.blackhole();
    // The server writes these into a connection that silently goes nowhere.
    for (const n of range(4, 6)) await send(s, 'c', n);
    await waitFor(() => w.connects() === 2, 'the reconnect after the stall');
    for (const n of range(7, 8)) await send(s, 'c', n);
    await waitFor(() => w.seen.length >= 8, 'events 4-8');
    await new Promise((r) => setTimeout(r, 200));

    expect(w.seen).toEqual(range(1, 8));
    expect(w.errors.map((e) => e.code)).toEqual(['STREAM_INTERRUPTED']);
    expect(w.resumes).toEqual([{ recovered: true, lastEventId: expect.stringMatching(/\/c$/) }]);
    expect(proxy.connections).toBe(2);
  });

  it('surfaces recovered: false when the server no longer holds the missed events', async () => {
    const s = await server({ CAST_HISTORY_SIZE: '2' });
    const proxy = await proxyTo(s);
    const realtime = createRealtime({
      url: proxy.url,
      token: (await issueToken(s, { channels: ['c'] })).token,
      stallTimeoutMs: 1200,
      ...fast,
    });
    const w = watch(realtime);
    await waitFor(() => realtime.connected, 'connected');
    await send(s, 'c', 1);
    await waitFor(() => w.seen.length === 1, 'event 1');
    proxy.blackhole();
    for (const n of range(2, 6)) await send(s, 'c', n);
    await waitFor(() => w.resumes.length === 1, 'the resume');
    await send(s, 'c', 7);
    await waitFor(() => w.seen.includes(7), 'event 7');

    expect(w.resumes[0]?.recovered).toBe(false);
    // Whatever the server still had came once and in order; nothing repeats.
    expect(w.seen[0]).toBe(1);
    expect(w.seen.at(-1)).toBe(7);
    expect([...w.seen].sort((a, b) => a - b)).toEqual(w.seen);
    expect(new Set(w.seen).size).toBe(w.seen.length);
  });

  it('reconnects after the server is killed mid-stream and restarted, and says what it could not replay', async () => {
    const s = await server();
    const realtime = createRealtime({
      url: s.url,
      token: async () => (await issueToken(s, { channels: ['c'] })).token,
      ...fast,
    });
    const w = watch(realtime);
    await waitFor(() => realtime.connected, 'connected');
    for (const n of range(1, 3)) await send(s, 'c', n);
    await waitFor(() => w.seen.length === 3, 'events 1-3');

    await s.restart({ kill: true });
    await waitFor(() => w.connects() === 2, 'the reconnect after the restart');
    for (const n of range(4, 5)) await send(s, 'c', n);
    await waitFor(() => w.seen.length >= 5, 'events 4-5');
    await new Promise((r) => setTimeout(r, 200));

    expect(w.seen).toEqual(range(1, 5));
    // The embedded broker keeps history in memory: after a crash it cannot vouch for the gap.
    expect(w.resumes.map((r) => r.recovered)).toEqual([false]);
    expect(w.errors.length).toBeGreaterThan(0);
    expect(w.errors.every((e) => e.retryable)).toBe(true);
  });

  it('renews an expiring token mid-stream through the provider with no loss or duplicate', async () => {
    const s = await server();
    let issued = 0;
    const realtime = createRealtime({
      url: s.url,
      token: async () => {
        issued++;
        // 2 s: lifetimes count from a floored issue time, so a 1 s token can be born nearly expired.
        return (await issueToken(s, { channels: ['c'], ttlSeconds: 2 })).token;
      },
      ...fast,
    });
    const w = watch(realtime);
    await waitFor(() => realtime.connected, 'connected');
    // Publish across at least two expiries (2 s tokens), bounded in count.
    for (const n of range(1, 45)) {
      await send(s, 'c', n);
      await new Promise((r) => setTimeout(r, 100));
    }
    await waitFor(() => w.seen.length >= 45, 'all 45 events');
    await new Promise((r) => setTimeout(r, 200));

    expect(w.seen).toEqual(range(1, 45));
    expect(issued).toBeGreaterThanOrEqual(3);
    expect(w.connects()).toBeGreaterThanOrEqual(3);
    expect(w.resumes.every((r) => r.recovered)).toBe(true);
    expect(w.errors).toEqual([]);
  });

  it('stops with TOKEN_EXPIRED when a fixed token expires', async () => {
    const s = await server();
    // Lifetimes are whole seconds from a floored issue time: 2 s leaves at least 1 s to connect on a busy machine.
    const { token } = await issueToken(s, { channels: ['c'], ttlSeconds: 2 });
    const realtime = createRealtime({ url: s.url, token, ...fast });
    const w = watch(realtime);
    await waitFor(() => realtime.connected, 'connected');
    await waitFor(() => w.errors.length > 0, 'the expiry error');
    expect(w.errors.map((e) => [e.code, e.retryable])).toEqual([['TOKEN_EXPIRED', false]]);
    await waitFor(() => realtime.state === 'disconnected', 'disconnected');
  });

  it('asks the provider again after a 401 and connects with the good token', async () => {
    const s = await server();
    const tokens = ['not-a-valid-token', (await issueToken(s, { channels: ['c'] })).token];
    let calls = 0;
    const realtime = createRealtime({ url: s.url, token: async () => tokens[Math.min(calls++, 1)] as string, ...fast });
    const w = watch(realtime);
    await waitFor(() => realtime.connected, 'connected');
    await send(s, 'c', 1);
    await waitFor(() => w.seen.length === 1, 'event 1');
    expect(calls).toBe(2);
    expect(w.errors).toEqual([]);
  });
});
