import { skipWhenMissing } from './helpers/skip.js';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './examples-browser.js';
import { type PageSite, bundleForBrowser, servePage } from './helpers/browser.js';
import { type TestServer, issueToken, publish, startServer } from './helpers/server.js';

const here = dirname(fileURLToPath(import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const SHARED_DIST = resolve(here, '../../packages/realtime-client/dist/shared.js');

/**
 * What each page records: every event, whether it is connected, and what onOwnStream said. Its query
 * names the server, and optionally the channels its token grants (`grant`, default `orders`), the
 * group of tabs (`name`) and its `types` (comma-separated).
 */
const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>shared stream</title></head>
<body><script type="module">
  import { createSharedRealtime } from '/shared.js';
  const query = new URL(location.href).searchParams;
  window.received = [];
  window.errors = [];
  window.own = [];
  const realtime = createSharedRealtime({
    url: query.get('server'),
    token: async () => (await (await fetch('/token?grant=' + (query.get('grant') ?? 'orders'))).json()).token,
    ...(query.get('name') ? { name: query.get('name') } : {}),
    ...(query.get('types') ? { types: query.get('types').split(',') } : {}),
  });
  realtime.onAny((e) => window.received.push({ type: e.type, data: e.data, id: e.id, channel: e.channel }));
  realtime.onError((e) => window.errors.push(e.code));
  realtime.onOwnStream((missing) => window.own.push(missing));
  window.realtime = realtime;
</script></body></html>`;

interface Received {
  type: string;
  data: unknown;
  id: string;
  channel: string;
}

let cast: TestServer;
let site: PageSite;
let browser: Browser;
let context: BrowserContext;
/** Every stream request the pages made, with the page that made it and the `types` it asked for. */
const streams: Array<{ page: Page; at: number; types: string | null }> = [];

async function waitFor(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const received = (page: Page) => page.evaluate(() => (window as unknown as { received: Received[] }).received);
const connected = (page: Page) =>
  page.evaluate(() => (window as unknown as { realtime: { connected: boolean } }).realtime.connected);

const own = (page: Page) => page.evaluate(() => (window as unknown as { own: string[][] }).own);
const errors = (page: Page) => page.evaluate(() => (window as unknown as { errors: string[] }).errors);

/** Opens a tab; `grant` is the channels of its token, comma-separated; `name` its group of tabs; `types` its filter. */
async function openPage(query: { grant?: string; name?: string; types?: string } = {}): Promise<Page> {
  const page = await context.newPage();
  page.on('request', (req) => {
    const url = new URL(req.url());
    if (url.pathname === '/push/stream') streams.push({ page, at: Date.now(), types: url.searchParams.get('types') });
  });
  await page.goto(`${site.url}/?${new URLSearchParams({ server: cast.url, ...query })}`);
  return page;
}

async function publishOrders(from: number, count: number): Promise<void> {
  for (let n = from; n < from + count; n++) {
    const res = await publish(cast, { channel: 'orders', event: 'order.created', data: { n } });
    expect(res.status).toBe(200);
  }
}

describe.skipIf(skipWhenMissing(!existsSync(CHROMIUM)))(
  'createSharedRealtime in headless Chromium: one stream for all tabs',
  () => {
    beforeAll(async () => {
      cast = await startServer();
      site = await servePage({
        files: { '/': PAGE, '/shared.js': await bundleForBrowser(SHARED_DIST) },
        json: {
          '/token': (url) => issueToken(cast, { channels: (url.searchParams.get('grant') ?? 'orders').split(',') }),
        },
      });
      browser = await launchChromium(CHROMIUM);
      // One context: the pages are tabs of one browser profile, sharing BroadcastChannel and Web Locks.
      context = await browser.newContext();
    });

    afterAll(async () => {
      await browser?.close();
      await site?.close();
      await cast?.kill();
    });

    let pages: Page[] = [];

    it('opens one stream for three pages, and every page gets every event once', async () => {
      pages = [await openPage(), await openPage(), await openPage()];
      for (const page of pages) await waitFor(() => connected(page), 'every page connected');
      expect(streams).toHaveLength(1);
      await publishOrders(0, 3);
      for (const page of pages)
        await waitFor(async () => (await received(page)).length >= 3, 'three events in every page');
      await new Promise((r) => setTimeout(r, 200)); // room for a duplicate to show up
      for (const page of pages) {
        const events = await received(page);
        expect(events.map((e) => [e.type, e.channel, e.data])).toEqual(
          [0, 1, 2].map((n) => ['order.created', 'orders', { n }]),
        );
        expect(events.every((e) => /^\d+-\d+\/orders$/.test(e.id))).toBe(true);
      }
      expect(streams).toHaveLength(1);
    });

    it('hands over within two seconds when the leader page closes, with nothing lost or duplicated', async () => {
      const leader = streams[0]?.page as Page;
      const rest = pages.filter((p) => p !== leader);
      expect(rest).toHaveLength(2);
      const closedAt = Date.now();
      await leader.close();
      // Published while no page holds a stream: the new leader replays them from the last id.
      await publishOrders(3, 3);
      await waitFor(() => streams.length === 2, 'a new stream from another page', 5_000);
      expect(streams[1]?.at as number).toBeLessThan(closedAt + 2_000);
      expect(rest).toContain(streams[1]?.page);
      await publishOrders(6, 2);
      for (const page of rest)
        await waitFor(async () => (await received(page)).length >= 8, 'eight events in every open page');
      await new Promise((r) => setTimeout(r, 300));
      for (const page of rest) {
        const events = await received(page);
        expect(events.map((e) => (e.data as { n: number }).n)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
        expect(new Set(events.map((e) => e.id)).size).toBe(8);
        expect(await page.evaluate(() => (window as unknown as { errors: string[] }).errors)).toEqual([]);
      }
      pages = rest;
    });

    it('lets a page opened late join without a new stream', async () => {
      const late = await openPage();
      await waitFor(() => connected(late), 'the late page connected');
      await publishOrders(8, 1);
      for (const page of [...pages, late])
        await waitFor(
          async () => (await received(page)).some((e) => (e.data as { n: number }).n === 8),
          'the event after the late page joined',
        );
      expect((await received(late)).map((e) => (e.data as { n: number }).n)).toEqual([8]);
      expect(streams).toHaveLength(2);
    });

    it('gives a page whose grant has a channel the shared stream lacks a stream of its own, and it says so', async () => {
      const wide = await openPage({ grant: 'orders,tickets' });
      await waitFor(() => connected(wide), 'the wide page connected');
      await waitFor(() => streams.length === 3, 'a stream of its own');
      expect(streams[2]?.page).toBe(wide);
      expect(await own(wide)).toEqual([['tickets']]);
      await publishOrders(9, 1);
      expect((await publish(cast, { channel: 'tickets', event: 'ticket.opened', data: { n: 10 } })).status).toBe(200);
      await waitFor(async () => (await received(wide)).length >= 2, 'both events in the wide page');
      for (const page of pages)
        await waitFor(async () => (await received(page)).some((e) => (e.data as { n: number }).n === 9), 'event 9');
      await new Promise((r) => setTimeout(r, 300)); // room for a duplicate, or a ticket in a shared page
      expect((await received(wide)).map((e) => [e.channel, (e.data as { n: number }).n])).toEqual([
        ['orders', 9],
        ['tickets', 10],
      ]);
      for (const page of pages) {
        expect((await received(page)).filter((e) => e.channel !== 'orders')).toEqual([]);
        expect(await own(page)).toEqual([]);
      }
      expect(await errors(wide)).toEqual([]);
      expect(streams).toHaveLength(3);
      await wide.close();
    });

    it('shares the stream of a wider leader with a narrower page, which gets only its own channels', async () => {
      const name = 'cast:wide-leader';
      const leader = await openPage({ grant: 'orders,tickets', name });
      await waitFor(() => connected(leader), 'the wide leader connected');
      const narrow = await openPage({ grant: 'orders', name });
      await waitFor(() => connected(narrow), 'the narrow page connected');
      expect(streams.filter((s) => s.page === leader || s.page === narrow)).toHaveLength(1);
      expect((await publish(cast, { channel: 'tickets', event: 'ticket.opened', data: { n: 11 } })).status).toBe(200);
      await publishOrders(12, 1);
      await waitFor(async () => (await received(leader)).length >= 2, 'both events in the leader');
      await waitFor(async () => (await received(narrow)).length >= 1, 'the order in the narrow page');
      await new Promise((r) => setTimeout(r, 300)); // room for the ticket to show up where it must not
      expect((await received(narrow)).map((e) => [e.channel, (e.data as { n: number }).n])).toEqual([['orders', 12]]);
      expect((await received(leader)).map((e) => [e.channel, (e.data as { n: number }).n])).toEqual([
        ['tickets', 11],
        ['orders', 12],
      ]);
      expect(await own(narrow)).toEqual([]);
      expect(streams.filter((s) => s.page === leader || s.page === narrow)).toHaveLength(1);
    });

    it('lifts the filter for an unfiltered page, and puts it back five seconds after that page closes', async () => {
      const name = 'cast:types';
      const orders = await openPage({ name, types: 'order.*' });
      await waitFor(() => connected(orders), 'the filtered page connected');
      const ofOrders = () => streams.filter((s) => s.page === orders);
      expect(ofOrders().map((s) => s.types)).toEqual(['order.*']);
      await publishOrders(20, 1);
      const everything = await openPage({ name });
      await waitFor(() => connected(everything), 'the unfiltered page connected');
      await waitFor(() => ofOrders().length === 2, 'the stream reopened without a filter');
      expect(ofOrders()[1]?.types).toBeNull();
      expect((await publish(cast, { channel: 'orders', event: 'note', data: { n: 21 } })).status).toBe(200);
      await waitFor(async () => (await received(everything)).length >= 1, 'the note in the unfiltered page');
      const closedAt = Date.now();
      await everything.close(); // pagehide: the page says bye
      await publishOrders(22, 1);
      await waitFor(() => ofOrders().length === 3, 'the stream narrowed again', 10_000);
      expect(ofOrders()[2]?.types).toBe('order.*');
      expect((ofOrders()[2]?.at as number) - closedAt).toBeGreaterThan(4_000);
      await publishOrders(23, 1);
      await waitFor(async () => (await received(orders)).length >= 3, 'three orders in the filtered page');
      await new Promise((r) => setTimeout(r, 300)); // room for a duplicate, or the note, to show up
      expect((await received(orders)).map((e) => [e.type, (e.data as { n: number }).n])).toEqual([
        ['order.created', 20],
        ['order.created', 22],
        ['order.created', 23],
      ]);
      expect(await errors(orders)).toEqual([]);
      expect(streams.filter((s) => s.page === everything)).toEqual([]);
    });
  },
);
