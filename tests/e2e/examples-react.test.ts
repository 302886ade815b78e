import { skipWhenMissing } from './helpers/skip.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningSample, startSample } from './docs-helpers.js';
import { findChromium, launchChromium } from './examples-browser.js';
import { type TestServer, startServer } from './helpers/server.js';

// examples/react, started with the command the examples page documents.
describe('examples/react', () => {
  let server: TestServer;
  let example: RunningSample;
  let url: string;

  beforeAll(async () => {
    server = await startServer();
    example = startSample('examples/react.sh', {
      env: { CAST_URL: server.url, CAST_API_KEY: server.apiKey, PORT: '0' },
    });
    const out = await example.waitFor(/Example listening on (http:\/\/\S+)/, 45_000);
    url = /Example listening on (http:\/\/\S+)/.exec(out)?.[1] as string;
  });
  afterAll(async () => {
    await example?.stop();
    await server?.stop();
  });

  it('serves the page with the server URL and a bundle of React and the client', async () => {
    const page = await (await fetch(url)).text();
    expect(page).toContain(`data-cast-url="${server.url}"`);
    const bundle = await fetch(`${url}/app.js`);
    expect(bundle.headers.get('content-type')).toMatch(/^text\/javascript/);
    const code = await bundle.text();
    expect(code).toContain('/push/stream');
    expect(code).not.toMatch(/from\s*["']react["']/); // bundled, no bare imports left
  });

  const chromiumPath = findChromium();
  it.skipIf(skipWhenMissing(!chromiumPath))('connects in the browser and lists a published order', async () => {
    const browser = await launchChromium(chromiumPath as string);
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (err) => errors.push(err.message));
      const streams: string[] = [];
      page.on('request', (req) => {
        if (new URL(req.url()).pathname === '/push/stream') streams.push(req.url());
      });
      await page.goto(url);
      await page.getByTestId('state').filter({ hasText: 'connected' }).waitFor({ timeout: 10_000 });
      await page.getByRole('button', { name: 'Publish a test order' }).click();
      const item = page.getByTestId('events').locator('li').first();
      await item.waitFor({ timeout: 10_000 });
      expect(await item.textContent()).toMatch(/^order\.created on orders: \{"orderId":"[0-9a-f]{8}"\}$/);
      await fetch(`${server.url}/push/publish`, {
        method: 'POST',
        headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ channel: 'announcements', event: 'notification', data: { message: 'hello' } }),
      });
      await page
        .getByTestId('events')
        .locator('li', { hasText: 'notification on announcements' })
        .waitFor({ timeout: 10_000 });
      expect(errors).toEqual([]);
      // One stream for the page (the StrictMode double effects are checked in react-browser.test.ts: this bundle is a production build).
      expect(streams).toHaveLength(1);
    } finally {
      await browser.close();
    }
  });
});
