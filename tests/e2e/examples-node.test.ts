import { skipWhenMissing } from './helpers/skip.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningSample, startSample } from './docs-helpers.js';
import { findChromium, launchChromium } from './examples-browser.js';
import { type TestServer, startServer } from './helpers/server.js';
import { openRaw } from './helpers/sse.js';

// examples/node-basic, started with the command the quick start documents.
describe('examples/node-basic', () => {
  let server: TestServer;
  let example: RunningSample;
  let url: string;

  beforeAll(async () => {
    server = await startServer();
    example = startSample('quick-start/example.sh', {
      env: { CAST_URL: server.url, CAST_API_KEY: server.apiKey, PORT: '0' },
    });
    const out = await example.waitFor(/Example listening on (http:\/\/\S+)/, 30_000);
    url = /Example listening on (http:\/\/\S+)/.exec(out)?.[1] as string;
  });
  afterAll(async () => {
    await example?.stop();
    await server?.stop();
  });

  it('serves the page and a token for the orders channel that opens a stream', async () => {
    const page = await (await fetch(url)).text();
    // The quick start's first page reaches `realtime.on` through the client package.
    expect(page).toContain("import { createRealtime } from '@cast/realtime-client'");
    expect(page).toContain("realtime.on('order.*'");
    for (const path of ['/modules/realtime-client.js', '/modules/protocol.js', '/modules/eventsource-parser.js']) {
      const mod = await fetch(`${url}${path}`);
      expect(mod.status, path).toBe(200);
      expect(mod.headers.get('content-type')).toContain('text/javascript');
    }
    const res = await fetch(`${url}/api/token`, { method: 'POST' });
    expect(res.status).toBe(200);
    const { token, channels, castUrl } = (await res.json()) as { token: string; channels: string[]; castUrl: string };
    expect(channels).toEqual(['orders']);
    expect(castUrl).toBe(server.url);
    const stream = await openRaw(`${castUrl}/push/stream?token=${encodeURIComponent(token)}`);
    try {
      await stream.waitFor(1);
      const published = (await (await fetch(`${url}/api/orders`, { method: 'POST' })).json()) as {
        orderId: string;
        eventId: string;
        delivered: number;
      };
      expect(published.delivered).toBe(1);
      const [event] = await stream.waitFor(1, { match: (e) => e.event === 'order.created' });
      expect(event?.id).toBe(published.eventId);
      expect(JSON.parse(event?.data ?? '')).toMatchObject({ orderId: published.orderId });
    } finally {
      stream.close();
    }
  });

  const chromiumPath = findChromium();
  it.skipIf(skipWhenMissing(!chromiumPath))(
    'shows a published order in the browser (the five-minute path)',
    async () => {
      const browser = await launchChromium(chromiumPath as string);
      try {
        const page = await browser.newPage();
        await page.goto(url);
        await page.locator('#status', { hasText: 'connected' }).waitFor({ timeout: 10_000 });
        await page.click('#publish');
        const item = page.locator('#events li').first();
        await item.waitFor({ timeout: 10_000 });
        expect(await item.textContent()).toMatch(
          /^order\.created \{"orderId":"[0-9a-f]{8}","total":4999,"currency":"AOA"\}$/,
        );
      } finally {
        await browser.close();
      }
    },
  );
});
