import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueToken, publish, startServer, type TestServer } from './helpers/server.js';
import { openRaw, type RawStream } from './helpers/sse.js';

let server: TestServer;
const streams: RawStream[] = [];
const sockets: Socket[] = [];

beforeAll(async () => {
  server = await startServer({ env: { CAST_CONNECTION_BUFFER_BYTES: '1024' } });
});
afterAll(async () => {
  for (const s of streams) s.close();
  for (const s of sockets) s.destroy();
  await server?.stop();
});

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return Number(line?.split(' ')[1]);
}

/** A raw HTTP client that reads the stream's first frames and then stops reading. */
function openStalled(path: string, until: string): Promise<{ socket: Socket; head: string; closed: Promise<void> }> {
  const { hostname, port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    sockets.push(socket);
    let head = '';
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    const timer = setTimeout(() => reject(new Error(`no ${until} in:\n${head}`)), 5000);
    socket.on('error', () => {});
    socket.once('connect', () =>
      socket.write(`GET ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nAccept: text/event-stream\r\n\r\n`),
    );
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (head.includes(until)) {
        clearTimeout(timer);
        socket.off('data', onData);
        // The client stops reading: bytes pile up in the kernel, then in the server.
        socket.pause();
        resolve({ socket, head, closed });
      }
    };
    socket.on('data', onData);
  });
}

describe('a slow consumer', () => {
  it('is disconnected past the buffer limit while publishing never waits, and resumes by replay', async () => {
    const { token } = await issueToken(server, { channels: ['firehose'] });
    const stalled = await openStalled(`/push/stream?token=${encodeURIComponent(token)}`, 'event: connected');
    const first = await publish(server, { channel: 'firehose', event: 'first', data: 0 });
    expect(first.body.delivered).toBe(1);

    // A healthy subscriber that only wants the markers keeps its stream throughout.
    const healthy = await openRaw(`${server.url}/push/stream?token=${encodeURIComponent(token)}&types=marker`);
    streams.push(healthy);
    await healthy.waitFor(1);

    const payload = 'x'.repeat(60 * 1024);
    const batch = JSON.stringify({
      events: Array.from({ length: 100 }, () => ({ channel: 'firehose', event: 'bulk', data: payload })),
    });
    let published = 1;
    let markersSent = 0;
    let dropped = false;
    // Bounded: each batch is ~6 MB; kernel buffers on loopback hold well under 64 MB.
    for (let round = 0; round < 10 && !dropped; round++) {
      const res = await fetch(`${server.url}/push/publish/batch`, {
        method: 'POST',
        headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' },
        body: batch,
        // Publishing never waits for the stalled reader: every batch answers promptly.
        signal: AbortSignal.timeout(5000),
      });
      expect(res.status).toBe(200);
      const { results } = (await res.json()) as { results: Array<{ delivered: number }> };
      published += results.length;
      await publish(server, { channel: 'firehose', event: 'marker', data: round });
      published++;
      markersSent++;
      dropped = (await metric('cast_slow_consumer_drops_total')) > 0;
    }
    expect(dropped).toBe(true);
    // The stalled socket was closed by the server.
    stalled.socket.resume();
    await stalled.closed;
    expect(stalled.socket.destroyed).toBe(true);

    // Only the healthy one is left, and it gets every marker (the last may still be on its way).
    await healthy.waitFor(1 + markersSent);
    const sessions = (await (
      await fetch(`${server.url}/push/sessions?channel=firehose`, {
        headers: { authorization: `Bearer ${server.apiKey}` },
      })
    ).json()) as { sessions: unknown[] };
    expect(sessions.sessions).toHaveLength(1);
    const markers = healthy.events.length - 1;
    expect(markers).toBe(markersSent);
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).toMatch(/^cast_connections\{broker="memory"\} 1$/m);

    // The dropped client resumes from the last id it read and gets everything after it, recovered.
    const resumed = await openRaw(`${server.url}/push/stream?token=${encodeURIComponent(token)}`, {
      'last-event-id': first.body.eventId,
    });
    streams.push(resumed);
    const events = await resumed.waitFor(published, { timeoutMs: 20_000 });
    expect(JSON.parse(events[0]?.data ?? '{}')).toMatchObject({ recovered: true });
    expect(
      events
        .slice(1)
        .filter((e) => e.event === 'marker')
        .map((e) => Number(e.data)),
    ).toEqual([...Array(markers).keys()]);
    expect(events.length).toBe(published);
    resumed.close();
  }, 60_000);
});
