import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { liveMemory, probedEnv } from './helpers/memory.js';
import { dropPrefix, randomPrefix, SHARED_REDIS_URL } from './helpers/redis.js';
import { issueToken, publish, startServer, type TestServer } from './helpers/server.js';
import { openRaw, type RawStream } from './helpers/sse.js';

// A replay is paced by the socket: a resume that does not read holds about one
// connection buffer, not its history, and is dropped as a slow consumer.
const HISTORY = 160;
const PAYLOAD = 'x'.repeat(60 * 1024);
const STALLED = 30;
const ENV = {
  CAST_CONNECTION_BUFFER_BYTES: String(64 * 1024),
  // A replay that makes no progress for two heartbeats (1 s) is dropped.
  CAST_HEARTBEAT_MS: '500',
};

async function metric(server: TestServer, name: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return Number(line?.split(' ')[1]);
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Sends a resume request and never reads the answer. */
function openStalled(server: TestServer, token: string, lastEventId: string): Socket {
  const { hostname, port } = new URL(server.url);
  const socket = connect(Number(port), hostname);
  socket.on('error', () => {});
  socket.once('connect', () => {
    socket.write(
      `GET /push/stream?token=${encodeURIComponent(token)} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nLast-Event-ID: ${lastEventId}\r\n\r\n`,
    );
    socket.pause();
  });
  return socket;
}

for (const broker of ['memory', 'redis'] as const) {
  describe(`a paced replay (${broker} broker)`, () => {
    let server: TestServer;
    const prefix = randomPrefix();
    const sockets: Socket[] = [];
    const streams: RawStream[] = [];
    let ids: string[] = [];

    beforeAll(async () => {
      const env: Record<string, string> =
        broker === 'redis' ? { ...ENV, CAST_REDIS_URL: SHARED_REDIS_URL, CAST_REDIS_PREFIX: prefix } : ENV;
      server = await startServer({ env: probedEnv(env) });
      ids = [];
      // Bounded: 160 events of 60 KiB (~10 MB of history), in batches of 40.
      for (let from = 0; from < HISTORY; from += 40) {
        const events = Array.from({ length: 40 }, (_, i) => ({
          channel: 'big',
          event: 'bulk',
          data: { n: from + i, pad: PAYLOAD },
        }));
        const res = await fetch(`${server.url}/push/publish/batch`, {
          method: 'POST',
          headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ events }),
        });
        expect(res.status).toBe(200);
        const { results } = (await res.json()) as { results: Array<{ eventId: string }> };
        ids.push(...results.map((r) => r.eventId));
      }
    }, 60_000);
    afterAll(async () => {
      for (const s of sockets) s.destroy();
      for (const s of streams) s.close();
      await server?.stop();
      if (broker === 'redis') await dropPrefix(SHARED_REDIS_URL, prefix).catch(() => {});
    });

    it('keeps memory bounded under many resumes that never read, and drops them as slow consumers', async () => {
      const { token } = await issueToken(server, { channels: ['big'] });
      const drops = await metric(server, 'cast_slow_consumer_drops_total');
      const before = await liveMemory(server);
      for (let i = 0; i < STALLED; i++) sockets.push(openStalled(server, token, ids[0] as string));
      await until(
        async () => (await metric(server, 'cast_slow_consumer_drops_total')) - drops >= STALLED,
        `${STALLED} slow-consumer drops`,
        30_000,
      );
      const { peak } = await liveMemory(server);
      // Each would have held its ~10 MB replay (~300 MB in all); paced, each holds about one 64 KiB
      // buffer and the page in flight. Measured as the most the server's JavaScript held meanwhile
      // (heap and buffers after a full collection), not RSS: a Redis replay's pages pass through as
      // garbage while the kernel takes a few MB per socket, and RSS keeps that garbage's high-water
      // mark long after it is freed, higher or lower with the machine's load.
      expect(peak - before.live).toBeLessThan(STALLED * 1.5 * 1024 * 1024);
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
      const text = await (await fetch(`${server.url}/metrics`)).text();
      expect(text).toMatch(new RegExp(`^cast_connections\\{broker="${broker}"\\} 0$`, 'm'));
    }, 60_000);

    it('sends an honest resume of a history far larger than the buffer every event once, in order, then live events', async () => {
      const { token } = await issueToken(server, { channels: ['big'] });
      const resumed = await openRaw(`${server.url}/push/stream?token=${encodeURIComponent(token)}`, {
        'last-event-id': ids[0] as string,
      });
      streams.push(resumed);
      expect(resumed.status).toBe(200);
      // Live events published while the replay runs come after it, once.
      const live = [];
      for (let i = 0; i < 3; i++)
        live.push(
          (await publish(server, { channel: 'big', event: 'live', data: { n: HISTORY + i } })).body.eventId as string,
        );
      const events = await resumed.waitFor(HISTORY + 3, { timeoutMs: 30_000 });
      expect(JSON.parse(events[0]?.data ?? '{}')).toMatchObject({ recovered: true });
      const got = events.slice(1).map((e) => (JSON.parse(e.data) as { n: number }).n);
      expect(got).toEqual(Array.from({ length: HISTORY + 2 }, (_, i) => i + 1));
      expect(events.slice(1).map((e) => e.id)).toEqual([...ids.slice(1), ...live]);
      expect(await metric(server, 'cast_slow_consumer_drops_total')).toBe(STALLED);
    }, 60_000);

    it('opens live with recovered: false for an id it cannot parse, and for one beyond the log end', async () => {
      const { token } = await issueToken(server, { channels: ['edge'] });
      const garbage = await openRaw(`${server.url}/push/stream?token=${encodeURIComponent(token)}`, {
        'last-event-id': '-1-0/x',
      });
      const ahead = await openRaw(`${server.url}/push/stream?token=${encodeURIComponent(token)}`, {
        'last-event-id': '999999999999999-0/f',
      });
      streams.push(garbage, ahead);
      for (const s of [garbage, ahead]) {
        expect(s.status).toBe(200);
        await s.waitFor(1);
        expect(JSON.parse(s.events[0]?.data ?? '{}')).toEqual({ channels: ['edge'], recovered: false });
      }
      for (let i = 0; i < 3; i++)
        expect((await publish(server, { channel: 'edge', event: 'n', data: i })).body.delivered).toBe(2);
      for (const s of [garbage, ahead])
        expect((await s.waitFor(4)).slice(1).map((e) => e.data)).toEqual(['0', '1', '2']);
    });
  });
}
