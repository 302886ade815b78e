import { skipWhenMissing } from './helpers/skip.js';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CastError, type ConnectionState, type Realtime, createRealtime } from '@cast/realtime-client';
import { type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './examples-browser.js';
import { type PageSite, bundleForBrowser, servePage } from './helpers/browser.js';
import { type TestServer, issueToken, publish, startServer } from './helpers/server.js';

// The realtime client's presence view and its terminal events (revoked, disconnected) against the
// real server: in Node, and in Chromium with the built client.

const here = dirname(fileURLToPath(import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const CLIENT_DIST = resolve(here, '../../packages/realtime-client/dist/index.js');
const CHANNEL = 'room:1';

let server: TestServer;
const clients: Realtime[] = [];

beforeAll(async () => {
  server = await startServer({ env: { CAST_PRESENCE_GRACE_MS: '300' } });
});
afterAll(async () => {
  for (const c of clients) c.destroy();
  await server?.stop();
});

async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A token provider for one user of the room, counting its calls. */
function provider(userId: string): { token: () => Promise<string>; calls: () => number } {
  let calls = 0;
  return {
    token: async () => {
      calls++;
      return (await issueToken(server, { channels: [CHANNEL], userId, presence: true, userInfo: { name: userId } }))
        .token;
    },
    calls: () => calls,
  };
}

function client(userId: string): {
  realtime: Realtime;
  calls: () => number;
  states: ConnectionState[];
  errors: CastError[];
} {
  const p = provider(userId);
  const realtime = createRealtime({ url: server.url, token: p.token });
  clients.push(realtime);
  const states: ConnectionState[] = [];
  const errors: CastError[] = [];
  realtime.onStateChange((s) => states.push(s));
  realtime.onError((e) => errors.push(e));
  return { realtime, calls: p.calls, states, errors };
}

async function api(path: string, body?: unknown): Promise<any> {
  const res = await fetch(`${server.url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  expect(res.status, path).toBe(200);
  return res.json();
}

const ids = (members: ReadonlyArray<{ userId: string }>) => members.map((m) => m.userId).sort();

describe('realtime client presence and terminal events, in Node', () => {
  it('keeps a presence view of the room that follows joins and leaves and agrees with GET /push/presence', async () => {
    const ada = client('ada');
    const view = ada.realtime.presence(CHANNEL);
    const seen: string[][] = [];
    view.onChange((members) => seen.push(ids(members)));
    await until(() => ids(view.members).join() === 'ada', 'ada in her own view');

    const bob = client('bob');
    await until(() => ids(view.members).join() === 'ada,bob', 'bob joining');
    const listed = await api(`/push/presence?channel=${encodeURIComponent(CHANNEL)}`);
    expect(ids(listed.members)).toEqual(ids(view.members));
    expect(view.members.find((m) => m.userId === 'bob')).toMatchObject({ userInfo: { name: 'bob' }, connections: 1 });

    bob.realtime.destroy();
    await until(() => ids(view.members).join() === 'ada', 'bob leaving after the grace period');
    expect(ids((await api(`/push/presence?channel=${encodeURIComponent(CHANNEL)}`)).members)).toEqual(['ada']);
    expect(seen).toContainEqual(['ada', 'bob']);
    expect(seen.at(-1)).toEqual(['ada']);
    ada.realtime.destroy();
  });

  it('keeps presence views with a types filter: the token decides presence traffic, the filter the app events', async () => {
    const p = provider('fay');
    const fay = createRealtime({ url: server.url, token: p.token, types: ['order.*'] });
    clients.push(fay);
    const view = fay.presence(CHANNEL);
    await until(() => ids(view.members).join() === 'fay', 'fay in her own view, with types=order.*');
    const gus = client('gus');
    await until(() => ids(view.members).join() === 'fay,gus', 'gus joining, seen through the filter');
    gus.realtime.destroy();
    await until(() => ids(view.members).join() === 'fay', 'gus leaving, seen through the filter');
    fay.destroy();
  });

  it('stops for good on revoked (TOKEN_REVOKED) and connects again with a fresh token only when asked', async () => {
    const carol = client('carol');
    await until(() => carol.realtime.state === 'connected', 'carol connected');
    expect(await api('/push/revoke', { userId: 'carol' })).toEqual({ revoked: 1 });
    await until(() => carol.errors.some((e) => e.code === 'TOKEN_REVOKED'), 'TOKEN_REVOKED through onError');
    await until(() => carol.realtime.state === 'disconnected', 'the client disconnected');
    const calls = carol.calls();
    await new Promise((r) => setTimeout(r, 1500));
    expect(carol.realtime.state).toBe('disconnected');
    expect(carol.calls()).toBe(calls);

    // Signing in again: a token issued after the revocation works.
    carol.realtime.connect();
    await until(() => carol.realtime.state === 'connected', 'carol connected again');
    expect(carol.calls()).toBe(calls + 1);
    carol.realtime.destroy();
  });

  it('reconnects after disconnected with reconnect: true, and stops with DISCONNECTED when it is false', async () => {
    const dan = client('dan');
    await until(() => dan.realtime.state === 'connected', 'dan connected');
    expect(await api('/push/disconnect', { userId: 'dan', reconnect: true })).toEqual({ disconnected: 1 });
    await until(() => dan.states.filter((s) => s === 'connected').length === 2, 'dan reconnected');
    expect(dan.errors.map((e) => e.code)).not.toContain('DISCONNECTED');

    expect(await api('/push/disconnect', { userId: 'dan', reconnect: false })).toEqual({ disconnected: 1 });
    await until(() => dan.errors.some((e) => e.code === 'DISCONNECTED'), 'DISCONNECTED through onError');
    await until(() => dan.realtime.state === 'disconnected', 'dan disconnected');
    await new Promise((r) => setTimeout(r, 1500));
    expect(dan.realtime.state).toBe('disconnected');
    expect(dan.states.filter((s) => s === 'connected')).toHaveLength(2);
    dan.realtime.destroy();
  });
});

/** What the page records, read back with `page.evaluate`. */
interface PageReport {
  members: string[];
  errors: string[];
  /** Per error: whether it is a `CastError` of the bundled client. */
  castErrors: boolean[];
  state: string;
  states: string[];
  /** The data of every `note` event received. */
  notes: unknown[];
  /** How many tokens the page's provider fetched. */
  tokens: number;
}

// The page's user comes from its query (`?user=`), so each test has its own.
const PAGE = (castUrl: string) => `<!doctype html><meta charset="utf-8"><title>presence</title>
<script type="module">
  import { CastError, createRealtime } from '/realtime-client.js';
  const user = new URLSearchParams(location.search).get('user') ?? 'page';
  window.report = { members: [], errors: [], castErrors: [], state: '', states: [], notes: [], tokens: 0 };
  const realtime = createRealtime({
    url: ${JSON.stringify(castUrl)},
    token: async () => {
      window.report.tokens++;
      return (await (await fetch('/token?user=' + encodeURIComponent(user))).json()).token;
    },
  });
  window.realtime = realtime;
  const view = realtime.presence(${JSON.stringify(CHANNEL)});
  view.onChange((members) => { window.report.members = members.map((m) => m.userId).sort(); });
  realtime.on('note', (e) => window.report.notes.push(e.data));
  realtime.onError((e) => {
    window.report.errors.push(e.code);
    window.report.castErrors.push(e instanceof CastError);
  });
  realtime.onStateChange((s) => {
    window.report.state = s;
    window.report.states.push(s);
  });
</script>`;

describe.skipIf(skipWhenMissing(!existsSync(CHROMIUM)))(
  'realtime client presence, revocation and disconnect, in Chromium',
  () => {
    let site: PageSite;
    let browser: Browser;

    beforeAll(async () => {
      site = await servePage({
        files: { '/': PAGE(server.url), '/realtime-client.js': await bundleForBrowser(CLIENT_DIST) },
        json: {
          '/token': (url) =>
            issueToken(server, { channels: [CHANNEL], userId: url.searchParams.get('user') ?? 'page', presence: true }),
        },
      });
      browser = await launchChromium(CHROMIUM);
    });
    afterAll(async () => {
      await browser?.close();
      await site?.close();
    });

    /** Opens the page as `user`; `until` polls its report until a check passes. */
    async function openPage(user: string) {
      const page = await browser.newPage();
      const report = () => page.evaluate(() => (window as unknown as { report: PageReport }).report);
      const until = async (check: (r: PageReport) => boolean, what: string) => {
        const deadline = Date.now() + 10_000;
        for (;;) {
          const r = await report().catch(() => undefined);
          if (r && check(r)) return r;
          if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(r)}`);
          await new Promise((x) => setTimeout(x, 50));
        }
      };
      await page.goto(`${site.url}?user=${encodeURIComponent(user)}`);
      return { page, report, until };
    }

    const connections = (r: PageReport) => r.states.filter((s) => s === 'connected').length;
    const note = async (n: number) =>
      expect((await publish(server, { channel: CHANNEL, event: 'note', data: { n } })).status).toBe(200);

    it('shows members joining and leaving, then stops with TOKEN_REVOKED when its user is revoked', async () => {
      const { page, until: pageUntil } = await openPage('page');
      await pageUntil((r) => r.members.join() === 'page', 'the page in its own view');

      const erin = client('erin');
      await pageUntil((r) => r.members.join() === 'erin,page', 'erin joining, seen in the page');
      erin.realtime.destroy();
      await pageUntil((r) => r.members.join() === 'page', 'erin leaving, seen in the page');

      expect(await api('/push/revoke', { userId: 'page' })).toEqual({ revoked: 1 });
      const r = await pageUntil(
        (x) => x.errors.includes('TOKEN_REVOKED') && x.state === 'disconnected',
        'TOKEN_REVOKED in the page',
      );
      expect(r.state).toBe('disconnected');
      await page.close();
    });

    it('reconnects on its own after disconnected with reconnect: true, with a fresh token, and gets the later events', async () => {
      const { page, report, until } = await openPage('pia');
      await until((r) => r.state === 'connected' && r.members.includes('pia'), 'the page connected');
      await note(1);
      await until((r) => r.notes.length === 1, 'the first note in the page');

      expect(await api('/push/disconnect', { userId: 'pia', reconnect: true })).toEqual({ disconnected: 1 });
      const back = await until((r) => connections(r) === 2 && r.state === 'connected', 'the page connected again');
      expect(back.states).toContain('reconnecting');
      expect(back.tokens).toBe(2);
      await note(2);
      const r = await until((x) => x.notes.some((d) => (d as { n: number }).n === 2), 'a note after the reconnect');
      expect(r.notes).toEqual([{ n: 1 }, { n: 2 }]);
      expect(r.errors).not.toContain('DISCONNECTED');
      expect(r.state).toBe('connected');
      expect((await report()).states).not.toContain('disconnected');
      await page.close();
    });

    it('stops for good after disconnected with reconnect: false (DISCONNECTED through onError) until connect() is called', async () => {
      const { page, report, until } = await openPage('quin');
      await until((r) => r.state === 'connected' && r.members.includes('quin'), 'the page connected');

      expect(await api('/push/disconnect', { userId: 'quin', reconnect: false })).toEqual({ disconnected: 1 });
      const stopped = await until((r) => r.state === 'disconnected', 'the page disconnected');
      expect(stopped.errors).toEqual(['DISCONNECTED']);
      expect(stopped.castErrors).toEqual([true]);
      // Nothing brings it back on its own: no reconnect, no token asked, no event received.
      await note(1);
      await new Promise((r) => setTimeout(r, 1500));
      const still = await report();
      expect(still.state).toBe('disconnected');
      expect(connections(still)).toBe(1);
      expect(still.tokens).toBe(1);
      expect(still.notes).toEqual([]);
      expect(ids((await api(`/push/presence?channel=${encodeURIComponent(CHANNEL)}`)).members)).not.toContain('quin');

      // connect() opens it again, with a fresh token.
      await page.evaluate(() => (window as unknown as { realtime: Realtime }).realtime.connect());
      const again = await until((r) => connections(r) === 2 && r.state === 'connected', 'the page connected again');
      expect(again.tokens).toBe(2);
      await note(2);
      await until((r) => r.notes.some((d) => (d as { n: number }).n === 2), 'a note after connect()');
      await page.close();
    });
  },
);
