import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueToken, publish, startServer, type TestServer } from './helpers/server.js';
import { openRaw, type RawEvent, type RawStream } from './helpers/sse.js';

let server: TestServer;
let small: TestServer;
const streams: RawStream[] = [];

beforeAll(async () => {
  [server, small] = await Promise.all([startServer(), startServer({ env: { CAST_HISTORY_SIZE: '5' } })]);
});
afterAll(async () => {
  for (const s of streams) s.close();
  await Promise.all([server?.stop(), small?.stop()]);
});

async function open(
  srv: TestServer,
  token: string,
  opts: { header?: string; query?: string; types?: string } = {},
): Promise<RawStream> {
  let url = `${srv.url}/push/stream?token=${encodeURIComponent(token)}`;
  if (opts.query !== undefined) url += `&lastEventId=${encodeURIComponent(opts.query)}`;
  if (opts.types !== undefined) url += `&types=${encodeURIComponent(opts.types)}`;
  const s = await openRaw(url, opts.header === undefined ? {} : { 'last-event-id': opts.header });
  streams.push(s);
  expect(s.status).toBe(200);
  return s;
}

const connectedData = (s: RawStream) =>
  JSON.parse(s.events[0]?.data ?? '{}') as { channels: string[]; recovered?: boolean };
const dataOf = (events: RawEvent[]) => events.map((e) => JSON.parse(e.data) as unknown);

async function publishMany(srv: TestServer, channel: string, from: number, to: number, event = 'n'): Promise<string[]> {
  const ids: string[] = [];
  for (let i = from; i < to; i++) {
    const res = await publish(srv, { channel, event, data: i });
    expect(res.status).toBe(200);
    ids.push(res.body.eventId);
  }
  return ids;
}

describe('replay', () => {
  it('replays the missed events after a Last-Event-ID header, in order, then goes live', async () => {
    const { token } = await issueToken(server, { channels: ['r:header', 'r:other'] });
    const first = await open(server, token);
    await first.waitFor(1);
    expect(connectedData(first)).toEqual({ channels: ['r:header', 'r:other'] });
    await publishMany(server, 'r:header', 0, 3);
    const seen = await first.waitFor(4);
    first.close();
    const lastId = seen[3]?.id as string;
    const missed = await publishMany(server, 'r:header', 3, 8);
    await publish(server, { channel: 'r:elsewhere', event: 'n', data: 'not mine' });
    await publish(server, { channel: 'r:other', event: 'n', data: 'other' });
    const resumed = await open(server, token, { header: lastId });
    const replayed = await resumed.waitFor(7);
    expect(replayed[0]?.event).toBe('connected');
    expect(connectedData(resumed)).toEqual({ channels: ['r:header', 'r:other'], recovered: true });
    expect(dataOf(replayed.slice(1))).toEqual([3, 4, 5, 6, 7, 'other']);
    expect(replayed.slice(1, 6).map((e) => e.id)).toEqual(missed);
    await publish(server, { channel: 'r:header', event: 'n', data: 'live' });
    expect(dataOf((await resumed.waitFor(8)).slice(7))).toEqual(['live']);
  });

  it('replays after a lastEventId query parameter for clients that cannot set headers', async () => {
    const { token } = await issueToken(server, { channels: ['r:query'] });
    const [id] = await publishMany(server, 'r:query', 0, 1);
    await publishMany(server, 'r:query', 1, 4);
    const resumed = await open(server, token, { query: id as string });
    const events = await resumed.waitFor(4);
    expect(connectedData(resumed).recovered).toBe(true);
    expect(dataOf(events.slice(1))).toEqual([1, 2, 3]);
  });

  it('prefers the Last-Event-ID header over the query parameter', async () => {
    const { token } = await issueToken(server, { channels: ['r:both'] });
    const ids = await publishMany(server, 'r:both', 0, 3);
    const resumed = await open(server, token, { header: ids[1] as string, query: ids[0] as string });
    await publish(server, { channel: 'r:both', event: 'n', data: 'live' });
    expect(dataOf((await resumed.waitFor(3)).slice(1))).toEqual([2, 'live']);
  });

  it('says recovered: true with nothing to replay when resuming from the latest id', async () => {
    const { token } = await issueToken(server, { channels: ['r:latest'] });
    const [id] = await publishMany(server, 'r:latest', 0, 1);
    const resumed = await open(server, token, { header: id as string });
    await resumed.waitFor(1);
    expect(connectedData(resumed).recovered).toBe(true);
    await publish(server, { channel: 'r:latest', event: 'n', data: 'live' });
    expect(dataOf((await resumed.waitFor(2)).slice(1))).toEqual(['live']);
  });

  it('applies the types filter to the replay too', async () => {
    const { token } = await issueToken(server, { channels: ['r:types'] });
    const [start] = await publishMany(server, 'r:types', 0, 1);
    for (const event of ['ticket.created', 'order.created', 'ticket.closed'])
      await publish(server, { channel: 'r:types', event, data: event });
    const resumed = await open(server, token, { header: start as string, types: 'ticket.*' });
    await publish(server, { channel: 'r:types', event: 'ticket.live', data: 'ticket.live' });
    expect(dataOf((await resumed.waitFor(4)).slice(1))).toEqual(['ticket.created', 'ticket.closed', 'ticket.live']);
  });

  it('says recovered: false when the id is older than the retained history, and replays what it still holds', async () => {
    const { token } = await issueToken(small, { channels: ['r:old'] });
    const [oldest] = await publishMany(small, 'r:old', 0, 1);
    await publishMany(small, 'r:old', 1, 9);
    const resumed = await open(small, token, { header: oldest as string });
    const events = await resumed.waitFor(6);
    expect(connectedData(resumed)).toEqual({ channels: ['r:old'], recovered: false });
    // History keeps the last 5: events 4..8. Event 1..3 are gone, and the client is told so.
    expect(dataOf(events.slice(1))).toEqual([4, 5, 6, 7, 8]);
    const metrics = await (await fetch(`${small.url}/metrics`)).text();
    expect(metrics).toMatch(/^cast_replays_unrecovered_total [1-9]/m);
  });

  it('says recovered: true at the edge of the retained history', async () => {
    const { token } = await issueToken(small, { channels: ['r:edge'] });
    const ids = await publishMany(small, 'r:edge', 0, 6);
    const resumed = await open(small, token, { header: ids[0] as string });
    expect(dataOf((await resumed.waitFor(6)).slice(1))).toEqual([1, 2, 3, 4, 5]);
    expect(connectedData(resumed).recovered).toBe(true);
  });

  it('says recovered: false for an id this server never issued', async () => {
    const { token } = await issueToken(server, { channels: ['r:unknown'] });
    for (const id of [`${Date.now() + 3_600_000}-0/r:unknown`, '1000-0/r:unknown']) {
      const s = await open(server, token, { header: id });
      await s.waitFor(1);
      expect(connectedData(s).recovered, id).toBe(false);
      s.close();
    }
  });
});

describe('the hand-off from replay to live', () => {
  it('loses and repeats nothing while clients resume during continuous publishing', async () => {
    const CHANNEL = 'r:handoff';
    const TOTAL = 400;
    const CLIENTS = 6;
    const { token } = await issueToken(server, { channels: [CHANNEL] });
    const published: Array<{ i: number; id: string }> = [];
    let publishing = true;
    const order = () => [...published].sort((a, b) => compare(a.id, b.id)).map((p) => p.id);

    // Four publishers in parallel, so events land while replays are read and handed over.
    let next = 0;
    const publisher = async () => {
      while (next < TOTAL) {
        const i = next++;
        const res = await publish(server, { channel: CHANNEL, event: 'n', data: i });
        expect(res.status).toBe(200);
        published.push({ i, id: res.body.eventId as string });
      }
    };

    const client = async (n: number) => {
      const received: RawEvent[] = [];
      let last: string | undefined;
      let resumes = 0;
      for (let round = 0; round < 200; round++) {
        const s = await open(server, token, last === undefined ? {} : n % 2 ? { header: last } : { query: last });
        await s.waitFor(1);
        if (last !== undefined) {
          expect(connectedData(s).recovered).toBe(true);
          resumes++;
        }
        const want = publishing ? 1 + ((n + round) % 7) : Number.POSITIVE_INFINITY;
        const target = publishing ? 1 + want : 1;
        try {
          await s.waitFor(target, { timeoutMs: publishing ? 1000 : 1 });
        } catch {
          // Publishing may have ended meanwhile: take what arrived.
        }
        s.close();
        await s.ended;
        const got = s.events.slice(1);
        received.push(...got);
        if (got.length > 0) last = got[got.length - 1]?.id;
        if (!publishing) break;
      }
      // Publishing is over: one last resume must bring everything up to the end.
      const lastId = order().at(-1) as string;
      if (last !== lastId) {
        const final = await open(server, token, last === undefined ? {} : { header: last });
        await final.waitFor(1, { match: (e) => e.id === lastId, timeoutMs: 5000 });
        final.close();
        received.push(...final.events.slice(1));
      }
      return { received, resumes };
    };

    const pubs = Promise.all([publisher(), publisher(), publisher(), publisher()]).then(() => {
      publishing = false;
    });
    const results = await Promise.all(
      [...Array(CLIENTS).keys()].map(async (n) => {
        await new Promise((r) => setTimeout(r, n * 15));
        return client(n);
      }),
    );
    await pubs;

    expect(order()).toHaveLength(TOTAL);
    for (const { received, resumes } of results) {
      const ids = received.map((e) => e.id as string);
      expect(new Set(ids).size, 'no duplicate').toBe(ids.length);
      const start = order().indexOf(ids[0] as string);
      expect(start).toBeGreaterThanOrEqual(0);
      // Exactly the published sequence from the client's first event to the end: no gap, no repeat, in order.
      expect(ids).toEqual(order().slice(start));
      expect(resumes).toBeGreaterThan(2);
    }
  });
});

describe('after a restart', () => {
  it('says recovered: false for ids from before the restart', async () => {
    const { token } = await issueToken(server, { channels: ['r:restart'] });
    const ids = await publishMany(server, 'r:restart', 0, 2);
    await server.restart();
    const { token: fresh } = await issueToken(server, { channels: ['r:restart'] });
    for (const t of [token, fresh]) {
      const s = await open(server, t, { header: ids[0] as string });
      await s.waitFor(1);
      expect(connectedData(s).recovered).toBe(false);
      s.close();
    }
    // New ids keep increasing past the old ones.
    const [after] = await publishMany(server, 'r:restart', 2, 3);
    expect(compare(after as string, ids[1] as string)).toBeGreaterThan(0);
  });
});

function compare(a: string, b: string): number {
  const [am, as] = a.split('/')[0]?.split('-').map(Number) as [number, number];
  const [bm, bs] = b.split('/')[0]?.split('-').map(Number) as [number, number];
  return am !== bm ? am - bm : as - bs;
}
