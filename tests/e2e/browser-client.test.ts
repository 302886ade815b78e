import { skipWhenMissing } from './helpers/skip.js';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './examples-browser.js';
import { type PageSite, bundleForBrowser, servePage } from './helpers/browser.js';
import { type TestServer, issueToken, publish, startServer } from './helpers/server.js';

const here = dirname(fileURLToPath(import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const CLIENT_DIST = resolve(here, '../../packages/realtime-client/dist/index.js');

interface Report {
  kind: 'order' | 'ticket' | 'any' | 'connection' | 'resume' | 'error';
  payload: any;
}

let cast: TestServer;
let site: PageSite;
let browser: Browser;
let page: Page;
const reports: Report[] = [];

async function waitFor(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; reports: ${JSON.stringify(reports)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
const of = (kind: Report['kind']) => reports.filter((r) => r.kind === kind).map((r) => r.payload);

describe.skipIf(skipWhenMissing(!existsSync(CHROMIUM)))(
  'realtime client in headless Chromium, from another origin',
  () => {
    beforeAll(async () => {
      cast = await startServer();
      // The built client (dist, what npm users get) bundled for the page with its dependencies.
      site = await servePage({
        files: {
          '/': readFileSync(join(here, 'fixtures/browser/index.html'), 'utf8'),
          '/app.js': readFileSync(join(here, 'fixtures/browser/app.js'), 'utf8'),
          '/realtime-client.js': await bundleForBrowser(CLIENT_DIST),
        },
        json: { '/token': () => issueToken(cast, { channels: ['orders', 'support'] }) },
      });
      browser = await launchChromium(CHROMIUM);
      page = await browser.newPage();
      await page.exposeFunction('report', (json: string) => reports.push(JSON.parse(json) as Report));
      page.on('pageerror', (err) => reports.push({ kind: 'error', payload: { code: 'PAGE', message: err.message } }));
      await page.goto(`${site.url}/?server=${encodeURIComponent(cast.url)}`);
    });

    afterAll(async () => {
      await browser?.close();
      await site?.close();
      await cast?.kill();
    });

    it('loads from an origin other than the server', () => {
      expect(new URL(site.url).origin).not.toBe(new URL(cast.url).origin);
    });

    it('receives events across origins with wildcards, exact names and *', async () => {
      await waitFor(() => of('connection').includes(true), 'the connection');
      await publish(cast, { channel: 'orders', event: 'order.created', data: { orderId: 'o1', total: 10 } });
      await publish(cast, { channel: 'support', event: 'ticket.created', data: { id: 3 } });
      await publish(cast, { channel: 'orders', event: 'order.shipped', data: { orderId: 'o1' } });
      await waitFor(() => of('any').length >= 3, 'three events');
      expect(of('order').map((e) => [e.type, e.channel, e.data])).toEqual([
        ['order.created', 'orders', { orderId: 'o1', total: 10 }],
        ['order.shipped', 'orders', { orderId: 'o1' }],
      ]);
      expect(of('ticket').map((e) => e.data)).toEqual([{ id: 3 }]);
      expect(of('any').map((e) => e.type)).toEqual(['order.created', 'ticket.created', 'order.shipped']);
      expect(await page.textContent('#status')).toBe('live');
    });

    it('reconnects after the server crashes, resuming with Last-Event-ID through CORS, and reports recovered: false', async () => {
      await cast.restart({ kill: true });
      await waitFor(() => of('connection').filter((c) => c === true).length === 2, 'the reconnect');
      await publish(cast, { channel: 'orders', event: 'order.paid', data: { orderId: 'o1' } });
      await waitFor(() => of('any').length >= 4, 'the event after the restart');
      expect(of('any').map((e) => e.type)).toEqual(['order.created', 'ticket.created', 'order.shipped', 'order.paid']);
      expect(of('resume')).toEqual([{ recovered: false, lastEventId: expect.stringMatching(/\/orders$/) }]);
      expect(of('error').every((e) => e.retryable === true)).toBe(true);
    });

    it('skips the backoff wait when the browser fires online', async () => {
      // A second client whose first token fetch fails, leaving it in a 50-60 s backoff wait.
      // Passed as source text: vitest would rewrite a dynamic import() inside a function.
      const state = await page.evaluate(`(async () => {
      const { createRealtime } = await import('./realtime-client.js');
      Math.random = () => 0.99;
      let first = true;
      const late = createRealtime({
        url: ${JSON.stringify(cast.url)},
        token: async () => {
          if (first) {
            first = false;
            throw new Error('backend briefly down');
          }
          return (await (await fetch('/token')).json()).token;
        },
        backoffFloorMs: 60000,
        backoffCapMs: 60000,
      });
      window.late = late;
      await new Promise((r) => setTimeout(r, 300));
      return late.state;
    })()`);
      expect(state).toBe('reconnecting');
      const started = Date.now();
      await page.evaluate(() => window.dispatchEvent(new Event('online')));
      await page.waitForFunction(
        () => (window as unknown as { late: { connected: boolean } }).late.connected,
        undefined,
        {
          timeout: 5000,
        },
      );
      expect(Date.now() - started).toBeLessThan(5000);
      await page.evaluate(() => (window as unknown as { late: { destroy(): void } }).late.destroy());
    });
  },
);
