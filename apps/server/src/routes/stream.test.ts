import { formatPosition } from '@cast/protocol';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Broker, ReplayPage, StoredEvent } from '../broker/types.js';
import type { ServerDeps } from '../context.js';
import { createInProcessServer, type InProcessServer, readSse } from '../test-support.js';

const KEY = 'sk_test_0123456789abcdef';

interface Setup {
  deps: ServerDeps;
  app: InProcessServer['app'];
  publish: (data: number | string) => Promise<string>;
  token: string;
}

const servers: InProcessServer[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

/** A server in-process whose broker's replay can be held open while events are published. */
async function setup(wrap: (memory: Broker) => Broker, env: Record<string, string> = {}): Promise<Setup> {
  const server = await createInProcessServer(
    { CAST_API_KEYS: `acme=${KEY}`, CAST_SIGNING_SECRET: 's'.repeat(32), ...env },
    { wrapBroker: wrap },
  );
  servers.push(server);
  const { deps, app } = server;
  const { broker } = deps;
  const { token } = await deps.tokens.sign({ tenant: 'acme', channels: ['orders'], ttlSeconds: 60 });
  const publish = async (data: number | string) => {
    const [out] = await broker.publish('acme', [{ channel: 'orders', event: 'n', data: String(data) }]);
    return `${formatPosition(out!.event.position)}/orders`;
  };
  return { deps, app, publish, token };
}

const read = (res: Response, count: number) => readSse(res, count);

function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => {
    open = r;
  });
  return { wait, open };
}

/**
 * Resumes after event 0 while the broker's replay is held open and events 2
 * and 3 are published; `readFirst`: the replay page was read before they were
 * (so only the live path has them), else after (so the page holds them too).
 * Event 4 follows once the stream is open. Returns the first five frames.
 */
async function publishDuringReplay(readFirst: boolean) {
  const g = gate();
  let started!: () => void;
  const replaying = new Promise<void>((r) => {
    started = r;
  });
  const s = await setup((memory) => ({
    ...memory,
    async replayPage(tenant, channels, after, maxBytes): Promise<ReplayPage> {
      if (!readFirst) {
        started();
        await g.wait;
      }
      const page = await memory.replayPage(tenant, channels, after, maxBytes);
      if (readFirst) {
        started();
        await g.wait;
      }
      return page;
    },
  }));
  const from = await s.publish(0);
  await s.publish(1);
  const pending = s.app.request(`/push/stream?token=${s.token}`, { headers: { 'Last-Event-ID': from } });
  await replaying;
  await s.publish(2);
  await s.publish(3);
  g.open();
  const res = await pending;
  await s.publish(4);
  return read(res, 5);
}

describe('the replay-to-live hand-off', () => {
  it('sends events published while the replay is read exactly once, when the replay already holds them', async () => {
    const events = await publishDuringReplay(false);
    expect(events[0]).toMatchObject({ event: 'connected', data: '{"channels":["orders"],"recovered":true}' });
    expect(events.slice(1).map((e) => Number(e.data))).toEqual([1, 2, 3, 4]);
  });

  it('sends events published while the replay is read after it, when the replay does not hold them', async () => {
    const events = await publishDuringReplay(true);
    expect(events.map((e) => e.event ?? 'message')).toEqual(['connected', 'n', 'n', 'n', 'n']);
    expect(events.slice(1).map((e) => Number(e.data))).toEqual([1, 2, 3, 4]);
  });

  it('sends nothing at or before the resume point when the replay ends behind it (a Redis feed catching up)', async () => {
    let deps!: ServerDeps;
    let late: StoredEvent[] = [];
    const s = await setup((memory) => ({
      ...memory,
      async replayPage(tenant, channels, after, maxBytes): Promise<ReplayPage> {
        const page = await memory.replayPage(tenant, channels, after, maxBytes);
        // This node's feed is behind: it hands the hub, late, events the client already has, and
        // the page ends just before their millisecond.
        for (const event of late) deps.hub.deliver('acme', event);
        return { ...page, end: { ms: (late[0] as StoredEvent).position.ms - 1, seq: Number.MAX_SAFE_INTEGER } };
      },
    }));
    deps = s.deps;
    const published = await s.deps.broker.publish('acme', [
      { channel: 'orders', event: 'n', data: '0' },
      { channel: 'orders', event: 'n', data: '1' },
    ]);
    late = published.map((o) => o.event);
    const from = `${formatPosition((late[1] as StoredEvent).position)}/orders`;
    const res = await s.app.request(`/push/stream?token=${s.token}`, { headers: { 'Last-Event-ID': from } });
    await s.publish(2);
    const events = await read(res, 2);
    expect(events[0]).toMatchObject({ event: 'connected', data: '{"channels":["orders"],"recovered":true}' });
    expect(Number(events[1]?.data)).toBe(2);
  });

  it('goes live and says recovered: false when the replay fails', async () => {
    const s = await setup((memory) => ({
      ...memory,
      async replayPage(): Promise<ReplayPage> {
        throw new Error('log unreachable');
      },
    }));
    const from = await s.publish(0);
    const errors: unknown[] = [];
    const original = console.error;
    console.error = (...a: unknown[]) => errors.push(a);
    try {
      const res = await s.app.request(`/push/stream?token=${s.token}`, { headers: { 'Last-Event-ID': from } });
      await s.publish(1);
      const events = await read(res, 2);
      expect(events[0]?.data).toBe('{"channels":["orders"],"recovered":false}');
      expect(events[1]?.data).toBe('1');
    } finally {
      console.error = original;
    }
    expect(errors).toHaveLength(1);
  });
});

/** Reads up to `count` SSE messages, or until the stream ends (bounded by `maxChunks` reads). */
const readAll = (res: Response, count: number, maxChunks = 20_000) => readSse(res, count, maxChunks);

/** Counts the pages a broker reads and the bytes of their events. */
function countingPages(
  memory: Broker,
  reads: { pages: number; bytes: number; hold?: Promise<void> | undefined },
): Broker {
  return {
    ...memory,
    async replayPage(tenant, channels, after, maxBytes): Promise<ReplayPage> {
      reads.pages++;
      if (reads.pages > 1 && reads.hold) await reads.hold;
      const page = await memory.replayPage(tenant, channels, after, maxBytes);
      for (const e of page.events) reads.bytes += e.data.length;
      return page;
    },
  };
}

const BUFFER = { CAST_CONNECTION_BUFFER_BYTES: '4096' };
const payload = (n: number) => JSON.stringify({ n, pad: 'x'.repeat(500) });

describe('a paced replay', () => {
  it('sends a history many times the connection buffer exactly once, in order, then live events', async () => {
    const reads = { pages: 0, bytes: 0 };
    const s = await setup((memory) => countingPages(memory, reads), BUFFER);
    const from = await s.publish(payload(0));
    for (let i = 1; i <= 200; i++) await s.publish(payload(i));
    const res = await s.app.request(`/push/stream?token=${s.token}`, { headers: { 'Last-Event-ID': from } });
    const reading = readAll(res, 203);
    await s.publish(payload(201));
    await s.publish(payload(202));
    const events = await reading;
    expect(events[0]?.data).toBe('{"channels":["orders"],"recovered":true}');
    expect(events.slice(1).map((e) => (JSON.parse(e.data) as { n: number }).n)).toEqual(
      Array.from({ length: 202 }, (_, i) => i + 1),
    );
    // Read in pages of about half the 4 KiB buffer, not in one piece.
    expect(reads.pages).toBeGreaterThan(50);
    expect(s.deps.metrics.slowConsumerDrops).toBe(0);
  });

  it('reads no further than about one buffer for a resume that does not read, and drops it as a slow consumer', async () => {
    const reads = { pages: 0, bytes: 0 };
    const s = await setup((memory) => countingPages(memory, reads), { ...BUFFER, CAST_HEARTBEAT_MS: '100' });
    const from = await s.publish(payload(0));
    for (let i = 1; i <= 200; i++) await s.publish(payload(i));
    const res = await s.app.request(`/push/stream?token=${s.token}`, { headers: { 'Last-Event-ID': from } });
    expect(res.status).toBe(200);
    // Nobody reads the body: after two heartbeat intervals without progress the stream is dropped.
    await vi.waitFor(() => expect(s.deps.metrics.slowConsumerDrops).toBe(1), { timeout: 5000 });
    expect(s.deps.hub.size).toBe(0);
    // It read about one buffer of the ~100 KiB history, not all of it.
    expect(reads.pages).toBeLessThan(10);
    expect(reads.bytes).toBeLessThan(4096);
  });

  it('drops live frames held past the buffer during a long replay and reads them from the log: every event once, in order', async () => {
    let open!: () => void;
    const reads = { pages: 0, bytes: 0, hold: new Promise<void>((r) => (open = r)) as Promise<void> | undefined };
    const s = await setup((memory) => countingPages(memory, reads), BUFFER);
    const from = await s.publish(payload(0));
    for (let i = 1; i <= 20; i++) await s.publish(payload(i));
    const res = await s.app.request(`/push/stream?token=${s.token}`, { headers: { 'Last-Event-ID': from } });
    const reading = readAll(res, 81);
    await vi.waitFor(() => expect(reads.pages).toBe(2));
    // The second page waits; meanwhile 60 live events (~30 KiB, past the 4 KiB buffer) arrive.
    for (let i = 21; i <= 80; i++) await s.publish(payload(i));
    open();
    const events = await reading;
    expect(events[0]?.data).toBe('{"channels":["orders"],"recovered":true}');
    expect(events.slice(1).map((e) => (JSON.parse(e.data) as { n: number }).n)).toEqual(
      Array.from({ length: 80 }, (_, i) => i + 1),
    );
  });
});

describe('a resume the log cannot serve', () => {
  it.each([
    ['garbage'],
    ['-1-0/x'],
    ['1.5-0'],
    ['x'.repeat(8192)],
    // Full-width digits cannot travel in a header through fetch: the query parameter carries them.
    ['１７００００００００００００-０/orders', 'query'],
  ])('opens live with recovered: false for the unparseable Last-Event-ID %#', async (id, where = 'header') => {
    const s = await setup((memory) => memory);
    await s.publish(0);
    const res =
      where === 'header'
        ? await s.app.request(`/push/stream?token=${s.token}`, { headers: { 'Last-Event-ID': id } })
        : await s.app.request(`/push/stream?token=${s.token}&lastEventId=${encodeURIComponent(id)}`);
    expect(res.status).toBe(200);
    const reading = readAll(res, 2);
    await s.publish(1);
    const events = await reading;
    expect(events[0]).toMatchObject({ event: 'connected', data: '{"channels":["orders"],"recovered":false}' });
    expect(events[1]?.data).toBe('1');
  });

  it('opens live with recovered: false for an unparseable lastEventId query parameter', async () => {
    const s = await setup((memory) => memory);
    const res = await s.app.request(`/push/stream?token=${s.token}&lastEventId=garbage`);
    expect(res.status).toBe(200);
    const reading = readAll(res, 2);
    await s.publish(1);
    const events = await reading;
    expect(events.map((e) => e.data)).toEqual(['{"channels":["orders"],"recovered":false}', '1']);
  });

  it('delivers live events at once after a resume from beyond the log end', async () => {
    const s = await setup((memory) => memory);
    await s.publish(0);
    const res = await s.app.request(`/push/stream?token=${s.token}`, {
      headers: { 'Last-Event-ID': '999999999999999-0/orders' },
    });
    const reading = readAll(res, 4);
    for (let i = 1; i <= 3; i++) await s.publish(i);
    const events = await reading;
    expect(events.map((e) => e.data)).toEqual(['{"channels":["orders"],"recovered":false}', '1', '2', '3']);
  });
});
