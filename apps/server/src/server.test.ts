import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import type { LifecycleEvent } from './lifecycle.js';
import { type RunningServer, startServer } from './server.js';

const KEY = 'sk_test_0123456789abcdef';
let server: RunningServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('startServer', () => {
  it('tells one lifecycle listener of presence and occupancy changes and of revoked connections', async () => {
    const events: LifecycleEvent[] = [];
    const config = loadConfig({
      CAST_API_KEYS: `acme=${KEY}`,
      CAST_SIGNING_SECRET: 's'.repeat(32),
      PORT: '0',
      HOST: '127.0.0.1',
      CAST_PRESENCE_GRACE_MS: '0',
      CAST_CONSOLE: 'off',
    });
    server = await startServer(config, { lifecycle: { lifecycle: (e) => events.push(e) } });
    const post = (path: string, body: unknown) =>
      fetch(`${server!.url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const { token } = (await (
      await post('/push/tokens', { channels: ['room'], userId: 'ada', presence: true })
    ).json()) as { token: string };
    const abort = new AbortController();
    const res = await fetch(`${server.url}/push/stream?token=${encodeURIComponent(token)}`, { signal: abort.signal });
    expect(res.status).toBe(200);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    while (!text.includes('event: presence.sync')) text += new TextDecoder().decode((await reader.read()).value);

    expect(await (await post('/push/revoke', { userId: 'ada' })).json()).toEqual({ revoked: 1 });
    for (let i = 0; i < 200 && !events.some((e) => e.type === 'presence.leave'); i++)
      await new Promise((r) => setTimeout(r, 10));
    abort.abort();
    const seen = events.map((e) => [e.type, e.tenant, e.channel, e.userId]);
    expect(seen).toContainEqual(['channel.occupied', 'acme', 'room', undefined]);
    expect(seen).toContainEqual(['presence.join', 'acme', 'room', 'ada']);
    expect(seen).toContainEqual(['connection.revoked', 'acme', 'room', 'ada']);
    expect(seen).toContainEqual(['presence.leave', 'acme', 'room', 'ada']);
    expect(seen.filter(([type]) => type === 'connection.revoked')).toHaveLength(1);
  });
});
