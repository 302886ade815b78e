import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueToken, publish, startServer, type TestServer } from './helpers/server.js';
import { openRaw, type RawStream } from './helpers/sse.js';

const STREAMS = 200;
const EVENTS = 100;

let server: TestServer;
const streams: RawStream[] = [];

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  for (const s of streams) s.close();
  await server?.stop();
});

describe('many streams', () => {
  it(`delivers ${EVENTS} events in order to each of ${STREAMS} concurrent streams`, async () => {
    const { token } = await issueToken(server, { channels: ['crowd', 'crowd:other'] });
    const url = `${server.url}/push/stream?token=${encodeURIComponent(token)}`;
    // Open in waves of 50, so the test does not depend on the listen backlog.
    for (let wave = 0; wave < STREAMS / 50; wave++) {
      const opened = await Promise.all(Array.from({ length: 50 }, () => openRaw(url)));
      streams.push(...opened);
    }
    await Promise.all(streams.map((s) => s.waitFor(1)));
    expect(streams.every((s) => s.status === 200 && s.events[0]?.event === 'connected')).toBe(true);

    const ids: string[] = [];
    for (let i = 0; i < EVENTS; i++) {
      const res = await publish(server, { channel: i % 3 ? 'crowd' : 'crowd:other', event: 'n', data: { i } });
      expect(res.status).toBe(200);
      expect(res.body.delivered).toBe(STREAMS);
      ids.push(res.body.eventId);
    }
    await Promise.all(streams.map((s) => s.waitFor(1 + EVENTS, { timeoutMs: 30_000 })));
    const expected = [...Array(EVENTS).keys()];
    for (const s of streams) {
      const got = s.events.slice(1);
      expect(got.map((e) => (JSON.parse(e.data) as { i: number }).i)).toEqual(expected);
      expect(got.map((e) => e.id)).toEqual(ids);
    }
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`^cast_connections\\{broker="memory"\\} ${STREAMS}$`, 'm'));
    expect(metrics).toMatch(new RegExp(`^cast_deliveries_total ${STREAMS * EVENTS}$`, 'm'));
  }, 60_000);
});
