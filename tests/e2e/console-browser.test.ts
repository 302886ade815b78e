import { skipWhenMissing } from './helpers/skip.js';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CastServer } from '@cast/server-sdk';
import { type Browser, type BrowserContext, type Page, chromium } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type TestServer, issueToken, publish, startServer } from './helpers/server.js';
import { openRaw } from './helpers/sse.js';

const here = dirname(fileURLToPath(import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SCREENSHOT = resolve(here, '../../docs/public/console.png');
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

const READ_ONLY_KEY = 'pk_test_console_read_only_0001';
let server: TestServer;
let browser: Browser;
/** The tabs a test opened, closed after it even when it failed: a tab left open keeps its stream, and counts in the next test's `delivered`. */
const opened: BrowserContext[] = [];

/** A fresh tab (own session storage) that records every request and every page error. */
async function openConsole(options: { width?: number; height?: number; colorScheme?: 'light' | 'dark' } = {}) {
  const context: BrowserContext = await browser.newContext({
    viewport: { width: options.width ?? 1280, height: options.height ?? 860 },
    colorScheme: options.colorScheme ?? 'light',
  });
  opened.push(context);
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
  const page = await context.newPage();
  const requests: string[] = [];
  const problems: string[] = [];
  page.on('request', (req) => requests.push(req.url()));
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
  });
  const response = await page.goto(`${server.url}/console`);
  expect(response?.status()).toBe(200);
  return { context, page, requests, problems };
}

async function signIn(page: Page, key: string): Promise<void> {
  // Keyboard only: the key field has focus on load, Enter submits.
  await page.keyboard.type(key);
  await page.keyboard.press('Enter');
}

async function subscribe(page: Page, channels: string): Promise<void> {
  await page.locator('#workspace').waitFor({ state: 'visible' });
  await page.fill('#channels', channels);
  await page.press('#channels', 'Enter');
  await page.locator('#status[data-state="connected"]').waitFor({ timeout: 15_000 });
}

/** The rows of the event list, newest first. */
async function eventRows(
  page: Page,
): Promise<{ channel: string; name: string; id: string; data: string; hidden: boolean }[]> {
  return page.$$eval('#event-list li.event', (items) =>
    items.map((li) => ({
      channel: li.querySelector('.event-channel')?.textContent ?? '',
      name: li.querySelector('.event-name')?.textContent ?? '',
      id: li.querySelector('.event-id')?.textContent ?? '',
      data: li.querySelector('.event-data')?.textContent ?? '',
      hidden: (li as HTMLElement).hidden,
    })),
  );
}

async function waitForEvent(page: Page, name: string, channel: string): Promise<void> {
  await page
    .locator('#event-list li.event', { has: page.locator('.event-name', { hasText: name }) })
    .filter({ has: page.locator('.event-channel', { hasText: channel }) })
    .first()
    .waitFor({ timeout: 10_000 });
}

/** Splits a shell command line as sh would (quotes, backslash-newline), enough for the curl snippets. */
function shellWords(command: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < command.length; i++) {
    const ch = command[i] as string;
    if (ch === "'") {
      const end = command.indexOf("'", i + 1);
      if (end === -1) throw new Error('unterminated single quote');
      word = (word ?? '') + command.slice(i + 1, end);
      i = end;
    } else if (ch === '\\') {
      const next = command[++i];
      if (next !== '\n') word = (word ?? '') + (next ?? '');
    } else if (ch === '"') {
      throw new Error('the snippets quote with single quotes only');
    } else if (/\s/.test(ch)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else {
      word = (word ?? '') + ch;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** Runs a `curl -X POST url -H … -d …` command line with fetch. */
async function runCurlWithFetch(command: string): Promise<{ status: number; body: any }> {
  const [program, ...args] = shellWords(command);
  expect(program).toBe('curl');
  let method = 'GET';
  let url = '';
  let body: string | undefined;
  const headers: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '-X') method = args[++i] as string;
    else if (arg === '-H') {
      const header = args[++i] as string;
      const colon = header.indexOf(':');
      headers[header.slice(0, colon).trim()] = header.slice(colon + 1).trim();
    } else if (arg === '-d') body = args[++i];
    else if (arg.startsWith('-')) throw new Error(`unexpected curl option ${arg}`);
    else url = arg;
  }
  expect(url.startsWith(server.url)).toBe(true);
  const res = await fetch(url, { method, headers, ...(body === undefined ? {} : { body }) });
  return { status: res.status, body: await res.json() };
}

/** Runs a command under sh, bounded in time. */
function runShell(command: string, timeoutMs = 10_000): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('sh', ['-c', command], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`timed out: ${command}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout });
    });
  });
}

/** The snippet of a tab, as the Copy button puts it on the clipboard. */
async function copySnippet(page: Page, id: string): Promise<string> {
  await page.click(`#tab-${id}`);
  await page.click('#snippet-copy');
  await page.locator('#snippet-copy', { hasText: 'Copied' }).waitFor();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  expect(copied).toBe(await page.textContent('#snippet-code'));
  return copied;
}

describe.skipIf(skipWhenMissing(!existsSync(CHROMIUM)))('developer console at /console in headless Chromium', () => {
  beforeAll(async () => {
    server = await startServer({
      // A key that reads as an example in the docs screenshot (the server is loopback-only and ephemeral).
      tenants: { acme: 'sk_test_your_secret_key' },
      env: { CAST_PUBLIC_KEYS: `acme=${READ_ONLY_KEY}` },
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });

  afterEach(async () => {
    for (const context of opened.splice(0)) await context.close();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('a bad key gets a clear message and is not kept', async () => {
    const { context, page, requests } = await openConsole();
    await signIn(page, 'sk_test_not_a_real_key_000000');
    const error = page.locator('#sign-in-error');
    await error.waitFor({ state: 'visible' });
    expect(await error.textContent()).toContain('This server does not know that API key');
    expect(await page.locator('#workspace').isHidden()).toBe(true);
    expect(await page.getAttribute('#status', 'data-state')).toBe('signed-out');
    expect(await page.evaluate(() => sessionStorage.length + localStorage.length)).toBe(0);
    expect(requests.every((url) => url.startsWith(`${server.url}/`))).toBe(true);

    // A read-only key is a real key, but the console needs one that issues tokens and publishes.
    await page.fill('#api-key', READ_ONLY_KEY);
    await page.press('#api-key', 'Enter');
    await error.filter({ hasText: 'This key is read-only' }).waitFor();
    expect(await page.locator('#workspace').isHidden()).toBe(true);
    await context.close();
  });

  it('signs in, subscribes, and shows events published from the form and from the server SDK', async () => {
    const { context, page, requests, problems } = await openConsole();
    await signIn(page, server.apiKey);
    await subscribe(page, 'orders, user:user_123');
    expect(await page.textContent('#status-text')).toBe('Connected · orders, user:user_123');
    // Each channel's presence.sync reaches the member list (they share one position), and none reaches the log.
    for (const channel of ['orders', 'user:user_123']) {
      await page.locator(`#presence-list ul[data-channel="${channel}"] li[data-user="console"]`).waitFor();
    }
    expect(await eventRows(page)).toEqual([]);
    // The key stays in this tab's session storage, nowhere else.
    expect(await page.evaluate(() => sessionStorage.getItem('cast.console.apiKey'))).toBe(server.apiKey);
    expect(await page.evaluate(() => localStorage.length)).toBe(0);

    // Publish from the form: invalid JSON is caught before anything is sent.
    await page.fill('#publish-data', '{"orderId": "abc123",');
    expect(await page.textContent('#publish-check')).toMatch(/^Invalid JSON/);
    expect(await page.isDisabled('#publish')).toBe(true);
    await page.fill('#publish-data', '{"orderId":"abc123","total":4999,"currency":"AOA"}');
    expect(await page.textContent('#publish-check')).toBe('Valid JSON');
    expect(await page.inputValue('#publish-channel')).toBe('orders');
    await page.fill('#publish-event', 'order.created');
    await page.press('#publish-data', 'Control+Enter');
    await waitForEvent(page, 'order.created', 'orders');
    await page.locator('#publish-result', { hasText: 'delivered to 1 connection' }).waitFor();
    let rows = await eventRows(page);
    expect(rows[0]?.id).toMatch(/^\d+-\d+\/orders$/);
    expect(JSON.parse(rows[0]?.data ?? '')).toEqual({ orderId: 'abc123', total: 4999, currency: 'AOA' });
    expect(rows[0]?.data).toContain('\n  "total": 4999'); // pretty-printed

    // Publish from the server, with the server SDK over plain HTTP.
    const cast = new CastServer({ apiKey: server.apiKey, baseUrl: server.url });
    const sent = await cast.publish({
      channel: 'user:user_123',
      event: 'notification',
      data: { message: 'Your export is ready' },
    });
    expect(sent.delivered).toBe(1);
    await waitForEvent(page, 'notification', 'user:user_123');
    rows = await eventRows(page);
    expect(rows[0]).toMatchObject({ channel: 'user:user_123', name: 'notification', id: sent.eventId });

    // The filter box narrows the list; Escape clears it.
    await page.fill('#filter', 'export is ready');
    expect((await eventRows(page)).map((r) => r.hidden)).toEqual([false, true]);
    expect(await page.textContent('#event-count')).toBe('1 of 2');
    await page.press('#filter', 'Escape');
    expect((await eventRows(page)).map((r) => r.hidden)).toEqual([false, false]);

    // Pause holds new events; resuming shows them.
    await page.click('#pause');
    await publish(server, { channel: 'orders', event: 'order.shipped', data: { orderId: 'abc123' } });
    await page.locator('#pause', { hasText: 'Resume (1 new)' }).waitFor();
    expect(await eventRows(page)).toHaveLength(2);
    await page.click('#pause');
    expect((await eventRows(page))[0]?.name).toBe('order.shipped');

    // Sessions: the console's own connection is listed.
    await page.click('#sessions-refresh');
    await page.locator('#sessions-body tr', { hasText: 'orders, user:user_123' }).waitFor();
    expect(await page.textContent('#sessions-note')).toBe('1 connection on orders, user:user_123.');

    // The screenshot the docs show.
    await page.fill('#publish-data', '{\n  "orderId": "abc124",\n  "total": 1250,\n  "currency": "AOA"\n}');
    mkdirSync(dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    // Clear empties the list.
    await page.click('#clear');
    expect(await eventRows(page)).toHaveLength(0);
    expect(await page.isVisible('#events-empty')).toBe(true);

    // Everything the page loaded or called came from this server, and the CSP blocked nothing.
    expect(requests.length).toBeGreaterThan(3);
    expect(requests.filter((url) => !url.startsWith(`${server.url}/`) && !url.startsWith('data:'))).toEqual([]);
    expect(problems).toEqual([]);
    await context.close();
  });

  it('disconnects a session from the sessions list: that stream gets disconnected and leaves the list', async () => {
    const { context, page, problems } = await openConsole();
    await signIn(page, server.apiKey);
    await subscribe(page, 'kick:room');
    const { token } = await issueToken(server, { channels: ['kick:room'], userId: 'kick-me' });
    const other = await openRaw(`${server.url}/push/stream?token=${encodeURIComponent(token)}`);
    try {
      await other.waitFor(1);
      await page.click('#sessions-refresh');
      const row = page.locator('#sessions-body tr', { hasText: 'kick-me' });
      await row.waitFor();
      await row.getByRole('button', { name: /^Disconnect session / }).click();
      await other.ended;
      expect(other.events.at(-1)).toMatchObject({
        event: 'disconnected',
        data: '{"reason":"disconnected_by_server","reconnect":false}',
      });
      await row.waitFor({ state: 'detached' });
      await page.locator('#event-list li.note', { hasText: /Disconnected session [0-9a-f]{8}\./ }).waitFor();
      // The console's own connection is untouched.
      expect(await page.getAttribute('#status', 'data-state')).toBe('connected');
      expect(problems).toEqual([]);
    } finally {
      other.close();
      await context.close();
    }
  });

  it('copies snippets that run as copied: token curl, publish curl and the JavaScript stream reader', async () => {
    const { context, page } = await openConsole();
    await signIn(page, server.apiKey);
    await subscribe(page, 'orders');

    const tokenCurl = await copySnippet(page, 'token-curl');
    expect(tokenCurl).toContain(`${server.url}/push/tokens`);
    expect(tokenCurl).toContain(server.apiKey);
    const token = await runCurlWithFetch(tokenCurl);
    expect(token.status).toBe(200);
    expect(token.body.channels).toEqual(['orders']);
    expect(typeof token.body.token).toBe('string');

    await page.fill('#publish-event', 'order.paid');
    await page.fill('#publish-data', '{"orderId":"it\'s-42"}');
    const publishCurl = await copySnippet(page, 'publish-curl');
    const published = await runCurlWithFetch(publishCurl);
    expect(published.status).toBe(200);
    expect(published.body.delivered).toBe(1);
    await waitForEvent(page, 'order.paid', 'orders');
    expect(JSON.parse((await eventRows(page))[0]?.data ?? '')).toEqual({ orderId: "it's-42" });

    const dart = await copySnippet(page, 'stream-dart');
    expect(dart).toContain(`const baseUrl = '${server.url}';`);
    expect(dart).toContain(`const apiKey = '${server.apiKey}';`);
    expect(dart).toContain("jsonEncode({'channels': ['orders']})");

    // The JavaScript reader, run by Node as a file, prints the events of the channel.
    const streamJs = await copySnippet(page, 'stream-js');
    const dir = mkdtempSync(join(tmpdir(), 'cast-console-snippet-'));
    writeFileSync(join(dir, 'stream.mjs'), streamJs);
    const child = spawn(process.execPath, [join(dir, 'stream.mjs')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    try {
      const waitOutput = async (text: string) => {
        const deadline = Date.now() + 10_000;
        while (!output.includes(text)) {
          if (Date.now() > deadline || child.exitCode !== null)
            throw new Error(`snippet output lacks ${text}:\n${output}`);
          await new Promise((r) => setTimeout(r, 25));
        }
      };
      await waitOutput('connected');
      expect(output).toContain("connected { channels: [ 'orders' ] }");
      const res = await publish(server, { channel: 'orders', event: 'order.created', data: { orderId: 'js-1' } });
      expect(res.body.delivered).toBe(2); // the console and the snippet
      await waitOutput("order.created { orderId: 'js-1' }");
    } finally {
      child.kill('SIGKILL');
    }
    await context.close();
  });

  it('copies a realtime-client snippet that runs as copied where the package is installed', async () => {
    const { context, page } = await openConsole();
    await signIn(page, server.apiKey);
    await subscribe(page, 'orders');
    const code = await copySnippet(page, 'stream-client');
    expect(code).toContain("import { createRealtime } from '@cast/realtime-client';");
    expect(code).not.toContain('getReader');
    // Beside this suite's node_modules, where @cast/realtime-client is installed, as in an app.
    const dir = mkdtempSync(join(here, '.snippet-'));
    writeFileSync(join(dir, 'stream.mjs'), code);
    const child = spawn(process.execPath, [join(dir, 'stream.mjs')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    try {
      const deadline = Date.now() + 10_000;
      const waitOutput = async (text: string) => {
        while (!output.includes(text)) {
          if (Date.now() > deadline || child.exitCode !== null)
            throw new Error(`snippet output lacks ${text}:\n${output}`);
          await new Promise((r) => setTimeout(r, 25));
        }
      };
      await waitOutput('connected');
      const res = await publish(server, { channel: 'orders', event: 'order.created', data: { orderId: 'rc-1' } });
      expect(res.body.delivered).toBe(2); // the console and the snippet
      await waitOutput("order.created orders { orderId: 'rc-1' }");
    } finally {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
    await context.close();
  });

  it.skipIf(skipWhenMissing(!existsSync('/usr/bin/curl')))(
    'the curl snippets also run unchanged in a real shell',
    async () => {
      const { context, page } = await openConsole();
      await signIn(page, server.apiKey);
      await subscribe(page, 'orders');
      const token = await runShell(await copySnippet(page, 'token-curl'));
      expect(token.code).toBe(0);
      expect(JSON.parse(token.stdout).channels).toEqual(['orders']);
      await page.fill('#publish-event', 'order.refunded');
      const published = await runShell(await copySnippet(page, 'publish-curl'));
      expect(JSON.parse(published.stdout).delivered).toBe(1);
      await waitForEvent(page, 'order.refunded', 'orders');
      await context.close();
    },
  );

  it('with "Let disconnected clients reconnect" ticked, the disconnected client is told to come back', async () => {
    const { context, page, problems } = await openConsole();
    await signIn(page, server.apiKey);
    await subscribe(page, 'kick:again');
    const { token } = await issueToken(server, { channels: ['kick:again'], userId: 'come-back' });
    const other = await openRaw(`${server.url}/push/stream?token=${encodeURIComponent(token)}`);
    try {
      await other.waitFor(1);
      await page.click('#sessions-refresh');
      const row = page.locator('#sessions-body tr', { hasText: 'come-back' });
      await row.waitFor();
      await page.check('#disconnect-reconnect');
      await row.getByRole('button', { name: /^Disconnect session [0-9a-f]{8} \(come-back\)$/ }).click();
      await page
        .locator('#disconnect-result', { hasText: 'Disconnected 1 stream; the client may reconnect.' })
        .waitFor();
      await other.ended;
      expect(JSON.parse(other.events.at(-1)?.data ?? '{}')).toMatchObject({ reconnect: true });
      expect(other.events.at(-1)?.event).toBe('disconnected');
      await row.waitFor({ state: 'detached' });
      expect(await page.getAttribute('#status', 'data-state')).toBe('connected');
      expect(problems).toEqual([]);
    } finally {
      other.close();
      await context.close();
    }
  });

  it('shows the members of the subscribed channels live, joins and leaves', async (test) => {
    // Presence is a server feature of its own (issue 14); on a server without GET /push/presence there is nothing to show.
    const probe = await fetch(`${server.url}/push/presence?channel=room:1`, {
      headers: { authorization: `Bearer ${server.apiKey}` },
    });
    if (probe.status === 404) test.skip();

    const { context, page, problems } = await openConsole();
    await signIn(page, server.apiKey);
    await subscribe(page, 'room:1');
    // The console's own stream (user "console") is present too, and marked as such.
    await page.locator('#presence-list li[data-user="console"]', { hasText: 'console (this console)' }).waitFor();

    const cast = new CastServer({ apiKey: server.apiKey, baseUrl: server.url });
    const { token } = await cast.tokens.create({
      channels: ['room:1'],
      userId: 'ada',
      userInfo: { name: 'Ada Lovelace' },
    });
    const ada = await openRaw(`${server.url}/push/stream?token=${encodeURIComponent(token)}`);
    try {
      expect(ada.status).toBe(200);
      await page.locator('#presence-list li[data-user="ada"]', { hasText: '{"name":"Ada Lovelace"}' }).waitFor();
      expect(await page.textContent('#presence-list h3[data-channel="room:1"]')).toContain('2 members');

      // Her stream closes; her leave arrives after the grace period, and the list follows.
      ada.close();
      await page.locator('#presence-list li[data-user="ada"]').waitFor({ state: 'detached', timeout: 20_000 });
      expect(await page.textContent('#presence-list h3[data-channel="room:1"]')).toContain('1 member');
      // The sync, her join and her leave went to the member list; the event log shows what was published.
      expect(await eventRows(page)).toEqual([]);
      expect(await page.isVisible('#events-empty')).toBe(true);
      expect(problems).toEqual([]);
    } finally {
      ada.close();
      await context.close();
    }
  });

  it('with an event filter, shows only the matching events and still the members', async () => {
    const { page, problems } = await openConsole();
    await signIn(page, server.apiKey);
    await page.locator('#workspace').waitFor({ state: 'visible' });
    await page.fill('#types', 'order.*');
    await subscribe(page, 'room:filtered');
    await page.locator('#presence-list ul[data-channel="room:filtered"] li[data-user="console"]').waitFor();
    await publish(server, { channel: 'room:filtered', event: 'note.added', data: { n: 1 } });
    await publish(server, { channel: 'room:filtered', event: 'order.created', data: { n: 2 } });
    await waitForEvent(page, 'order.created', 'room:filtered');
    expect((await eventRows(page)).map((r) => r.name)).toEqual(['order.created']);
    expect(problems).toEqual([]);
  });

  it('works at phone width in dark mode with no sideways scrolling', async () => {
    const { context, page, problems } = await openConsole({ width: 375, height: 740, colorScheme: 'dark' });
    await signIn(page, server.apiKey);
    await subscribe(page, 'orders, announcements');
    // The form is ready to publish its sample event to the first channel as is.
    await page.click('#publish');
    await waitForEvent(page, 'order.created', 'orders');
    await publish(server, {
      channel: 'announcements',
      event: 'maintenance.scheduled',
      data: { at: '2026-06-06T15:00:00Z', note: 'x'.repeat(200) },
    });
    await waitForEvent(page, 'maintenance.scheduled', 'announcements');
    const layout = await page.evaluate(() => ({
      scrollWidth: document.documentElement.scrollWidth,
      innerWidth: window.innerWidth,
      background: getComputedStyle(document.body).backgroundColor,
      statusTop: document.getElementById('status')?.getBoundingClientRect().top ?? -1,
    }));
    expect(layout.scrollWidth).toBeLessThanOrEqual(layout.innerWidth);
    expect(layout.background).toBe('rgb(15, 20, 25)');
    // The connection state stays in view while scrolling down to the snippets.
    await page.locator('#snippet-copy').scrollIntoViewIfNeeded();
    const statusTop = await page.evaluate(() => document.getElementById('status')?.getBoundingClientRect().top ?? -1);
    expect(statusTop).toBeGreaterThanOrEqual(0);
    expect(statusTop).toBeLessThan(120);

    // A reload in the same tab signs in and subscribes again from session storage.
    await page.reload();
    await page.locator('#status[data-state="connected"]').waitFor({ timeout: 15_000 });
    expect(await page.textContent('#status-text')).toBe('Connected · orders, announcements');
    expect(problems).toEqual([]);
    await context.close();
  });

  it('shows reconnecting then connected across a server restart, and says what it could not replay', async () => {
    const { context, page } = await openConsole();
    await signIn(page, server.apiKey);
    await subscribe(page, 'orders');
    await publish(server, { channel: 'orders', event: 'order.created', data: { n: 1 } });
    await waitForEvent(page, 'order.created', 'orders');
    // Record every state the badge shows.
    await page.evaluate(() => {
      const status = document.getElementById('status') as HTMLElement;
      const seen: string[] = [];
      (window as unknown as { seenStates: string[] }).seenStates = seen;
      new MutationObserver(() => seen.push(`${status.dataset.state}|${status.title}`)).observe(status, {
        attributes: true,
        attributeFilter: ['data-state'],
      });
    });
    await server.restart();
    await page.locator('#status[data-state="connected"]').waitFor({ timeout: 30_000 });
    const seen = await page.evaluate(() => (window as unknown as { seenStates: string[] }).seenStates);
    const states = seen.map((entry) => entry.split('|')[0]);
    expect(states[0]).toBe('reconnecting');
    expect(states).not.toContain('disconnected');
    expect(states.at(-1)).toBe('connected');
    // While reconnecting, the badge tells why (on hover); once connected, the reason is gone.
    expect(seen[0]).toMatch(/^reconnecting\|(STREAM_INTERRUPTED|NETWORK_ERROR): /);
    expect(await page.getAttribute('#status', 'title')).toBe('');
    // The restarted server has no history: the console says so instead of a silent gap.
    await page.locator('#event-list li.note-warn', { hasText: 'could not replay everything' }).waitFor();
    await publish(server, { channel: 'orders', event: 'order.created', data: { n: 2 } });
    await page.locator('#event-list li.event .event-data', { hasText: '"n": 2' }).waitFor();
    await context.close();
  });
});
