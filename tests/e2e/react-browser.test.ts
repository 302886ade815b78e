import { skipWhenMissing } from './helpers/skip.js';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './examples-browser.js';
import { type PageSite, bundleForBrowser, servePage } from './helpers/browser.js';
import { type TestServer, issueToken, publish, startServer } from './helpers/server.js';

const here = dirname(fileURLToPath(import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const REACT_DIST = resolve(here, '../../packages/react/dist/index.js');

/**
 * A page of the built @cast/react, bundled in development mode so that
 * StrictMode really runs every effect twice. Plain `createElement`: no JSX step.
 */
const APP = `
import { RealtimeProvider, useConnectionState, useRealtimeEvent } from ${JSON.stringify(REACT_DIST)};
import { StrictMode, createElement as h, useState, version } from 'react';
import { createRoot } from 'react-dom/client';

function Orders() {
  const state = useConnectionState();
  const [orders, setOrders] = useState([]);
  useRealtimeEvent('order.*', (event) => setOrders((list) => [...list, event.type + ':' + event.data.n]));
  return h('main', null, h('p', { id: 'state' }, state), h('ul', { id: 'orders' }, orders.map((o) => h('li', { key: o }, o))));
}

const server = new URL(location.href).searchParams.get('server');
const token = async () => (await (await fetch('/token')).json()).token;
const root = createRoot(document.getElementById('root'));
root.render(h(StrictMode, null, h(RealtimeProvider, { options: { url: server, token } }, h(Orders))));
window.unmountApp = () => root.unmount();
window.reactVersion = version;
`;

/** React 19 (the workspace's), and React 18 swapped in for every import of the bundle. */
const VERSIONS: Array<[string, Record<string, string>]> = [
  ['19', {}],
  ['18', { react: resolve(here, 'node_modules/react-18'), 'react-dom': resolve(here, 'node_modules/react-dom-18') }],
];

describe.skipIf(skipWhenMissing(!existsSync(CHROMIUM))).each(VERSIONS)(
  '@cast/react in headless Chromium with React %s, StrictMode in development',
  (version, alias) => {
    let cast: TestServer;
    let site: PageSite;
    let browser: Browser;
    let page: Page;
    const streams: Array<{ url: string; failed: boolean }> = [];

    beforeAll(async () => {
      cast = await startServer();
      const appJs = await bundleForBrowser(
        { contents: APP, resolveDir: resolve(here, '../../packages/react') },
        { define: { 'process.env.NODE_ENV': '"development"' }, alias },
      );
      site = await servePage({
        files: {
          '/': '<!doctype html><div id="root"></div><script type="module" src="/app.js"></script>',
          '/app.js': appJs,
        },
        json: { '/token': () => issueToken(cast, { channels: ['orders'] }) },
      });
      browser = await launchChromium(CHROMIUM);
      page = await browser.newPage();
      page.on('request', (req) => {
        if (new URL(req.url()).pathname === '/push/stream') streams.push({ url: req.url(), failed: false });
      });
      page.on('requestfailed', (req) => {
        const entry = streams.find((s) => s.url === req.url());
        if (entry) entry.failed = true;
      });
      await page.goto(`${site.url}/?server=${encodeURIComponent(cast.url)}`);
    });

    afterAll(async () => {
      await browser?.close();
      await site?.close();
      await cast?.kill();
    });

    it('connects with one stream despite StrictMode’s double effects, and renders events', async () => {
      expect(await page.evaluate(() => (window as unknown as { reactVersion: string }).reactVersion)).toMatch(
        new RegExp(`^${version}\\.`),
      );
      await page.locator('#state', { hasText: 'connected' }).waitFor({ timeout: 10_000 });
      await publish(cast, { channel: 'orders', event: 'order.created', data: { n: 1 } });
      await publish(cast, { channel: 'orders', event: 'order.paid', data: { n: 1 } });
      await page.locator('#orders li').nth(1).waitFor({ timeout: 10_000 });
      expect(await page.locator('#orders li').allTextContents()).toEqual(['order.created:1', 'order.paid:1']);
      expect(streams).toHaveLength(1);
      expect(streams[0]?.failed).toBe(false);
    });

    it('closes the stream when the provider unmounts', async () => {
      await page.evaluate(() => (window as unknown as { unmountApp(): void }).unmountApp());
      await page.waitForFunction(() => document.getElementById('state') === null);
      const deadline = Date.now() + 5_000;
      while (!streams[0]?.failed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      expect(streams[0]?.failed).toBe(true);
      expect(streams).toHaveLength(1);
    });
  },
);
