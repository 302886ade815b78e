import type { CastError } from '@cast/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FAKED_TIMERS, connectedFrame, createFakeFetch, eventFrame, settle } from '../testing/fake-fetch.js';
import type { FakeStream } from '../testing/fake-fetch.js';
import type { ConnectionState, RealtimeEvent, RealtimeOptions } from '../types.js';
import { createSharedRealtime, type SharedRealtime } from './index.js';

/** Web Locks as the browser has them, for one process: exclusive, FIFO, abortable while waiting. */
function createFakeLocks() {
  const queues = new Map<string, Array<{ grant: () => void; signal: AbortSignal }>>();
  const held = new Set<string>();
  const next = (name: string) => {
    if (held.has(name)) return;
    const waiter = queues.get(name)?.shift();
    if (waiter) waiter.grant();
  };
  return {
    request(name: string, options: { signal: AbortSignal }, callback: () => Promise<void>): Promise<unknown> {
      return new Promise((resolve, reject) => {
        const waiter = {
          signal: options.signal,
          grant: () => {
            held.add(name);
            void callback().then((value) => {
              held.delete(name);
              resolve(value);
              next(name);
            });
          },
        };
        options.signal.addEventListener('abort', () => {
          const queue = queues.get(name) ?? [];
          const at = queue.indexOf(waiter);
          if (at >= 0) {
            queue.splice(at, 1);
            reject(Object.assign(new Error('aborted'), { name: 'AbortError' }));
          }
        });
        queues.set(name, [...(queues.get(name) ?? []), waiter]);
        next(name);
      });
    },
  };
}

interface Tab {
  realtime: SharedRealtime;
  events: RealtimeEvent[];
  errors: CastError[];
  states: ConnectionState[];
  /** What onOwnStream said, each time. */
  own: string[][];
}

let server: ReturnType<typeof createFakeFetch>;
let tabs: Tab[];
let channelName: string;

/** A token whose claims grant `chs`, base64url UTF-8 JSON as the server signs it (the client never checks the signature). */
function tokenFor(chs: string[]): string {
  // A user id beyond ASCII, and `?>` in it, so that the claims' base64 has '_' and '-' to decode.
  const json = new TextEncoder().encode(JSON.stringify({ tid: 'acme', chs, sub: 'zoë??>>' }));
  const claims = btoa(String.fromCharCode(...json));
  return `eyJhbGciOiJIUzI1NiJ9.${claims.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')}.sig`;
}
const ALL = tokenFor(['orders', 'room:1', 'room:2']);

function openTab(extra: Partial<RealtimeOptions> = {}): Tab {
  const realtime = createSharedRealtime({
    url: 'http://cast.test',
    token: ALL,
    fetch: server.fetch,
    name: channelName,
    ...extra,
  });
  const tab: Tab = { realtime, events: [], errors: [], states: [], own: [] };
  realtime.onOwnStream((missing) => tab.own.push(missing));
  realtime.onAny((e) => tab.events.push(e));
  realtime.onError((e) => tab.errors.push(e));
  realtime.onStateChange((s) => tab.states.push(s));
  tabs.push(tab);
  return tab;
}

/** Lets the tabs talk (BroadcastChannel messages) and the election timers run. */
async function run(ms = 0): Promise<void> {
  await settle();
  await vi.advanceTimersByTimeAsync(ms);
  await settle();
}

/**
 * Lets the timers run for `ms` in steps of 50 ms. Between timers the fake clock does not wait for the tabs' messages: a
 * leader elected by the heartbeat would end its gathering before the answers to its lead came, which a browser's
 * 150 ms leave time for.
 */
async function runInSteps(ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 50) await run(50);
}

async function acceptLast(data: Record<string, unknown> = { channels: ['orders'] }): Promise<FakeStream> {
  const stream = server.last.respond();
  stream.push(connectedFrame(data));
  await run();
  return stream;
}

const types = (tab: Tab) => tab.events.map((e) => e.type);
/** The `types` filter of the last stream opened, in any order. */
const filter = () => server.last.url.searchParams.get('types')?.split(',').sort();

beforeEach(() => {
  vi.useFakeTimers({ toFake: [...FAKED_TIMERS] });
  // Backoff jitter near its middle; a little more each call, so that tabs opened at one fake instant have distinct ids.
  let calls = 0;
  vi.spyOn(Math, 'random').mockImplementation(() => 0.5 + ++calls * 1e-9);
  server = createFakeFetch();
  tabs = [];
  channelName = `cast-test-${Date.now()}-${performance.now()}`;
});
afterEach(() => {
  for (const tab of tabs) tab.realtime.destroy();
  vi.useRealTimers();
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
});

describe('createSharedRealtime with Web Locks', () => {
  beforeEach(() => {
    vi.stubGlobal('navigator', { locks: createFakeLocks() });
  });

  it('opens one stream for three tabs; every tab gets every event once, in the same shape', async () => {
    const [a, b, c] = [openTab(), openTab(), openTab()];
    await run(200);
    expect(server.calls).toHaveLength(1);
    const stream = await acceptLast();
    stream.push(eventFrame('1-0', 'orders', 'order.created', { id: 'o1' }));
    stream.push(eventFrame('1-1', 'orders', 'order.paid', { id: 'o1' }));
    await run();
    for (const tab of [a, b, c] as Tab[]) {
      expect(tab.realtime.state).toBe('connected');
      expect(tab.events).toEqual([
        { type: 'order.created', data: { id: 'o1' }, id: '1-0/orders', channel: 'orders' },
        { type: 'order.paid', data: { id: 'o1' }, id: '1-1/orders', channel: 'orders' },
      ]);
      expect(tab.realtime.lastEventId).toBe('1-1/orders');
    }
    expect(server.calls).toHaveLength(1);
  });

  it('hands over when the leader goes: resumes from the last id, nothing lost or duplicated', async () => {
    const [a, b, c] = [openTab(), openTab(), openTab()];
    await run(200);
    const first = await acceptLast();
    first.push(eventFrame('1-0', 'orders', 'order.created', 1));
    await run();
    a.realtime.destroy();
    await run(200);
    expect(first.cancelled).toBe(true);
    expect(server.calls).toHaveLength(2);
    expect(server.last.headers['last-event-id']).toBe('1-0/orders');
    const second = await acceptLast({ channels: ['orders'], recovered: true });
    // The replay overlaps what the tabs had: dropped; what follows is delivered.
    second.push(eventFrame('1-0', 'orders', 'order.created', 1));
    second.push(eventFrame('1-1', 'orders', 'order.paid', 2));
    await run();
    for (const tab of [b, c] as Tab[]) {
      expect(types(tab)).toEqual(['order.created', 'order.paid']);
      expect(tab.realtime.state).toBe('connected');
      expect(tab.states).not.toContain('closed');
    }
    expect(server.calls).toHaveLength(2);
  });

  it('resumes from the oldest last id among the open tabs, and each tab drops what it already had', async () => {
    const a = openTab();
    const b = openTab();
    await run(200);
    const first = await acceptLast();
    first.push(eventFrame('1-0', 'orders', 'order.created', 1));
    await run();
    // A tab restored from an id saved earlier, behind the others.
    const c = openTab({ lastEventId: '0-5/orders' });
    await run(200);
    a.realtime.destroy();
    await run(200);
    expect(server.last.headers['last-event-id']).toBe('0-5/orders');
    const second = await acceptLast({ channels: ['orders'], recovered: true });
    second.push(eventFrame('0-9', 'orders', 'order.seen', 0));
    second.push(eventFrame('1-0', 'orders', 'order.created', 1));
    second.push(eventFrame('1-1', 'orders', 'order.paid', 2));
    await run();
    expect(types(b)).toEqual(['order.created', 'order.paid']);
    expect(types(c)).toEqual(['order.seen', 'order.created', 'order.paid']);
  });

  it('tells every tab about a resume that lost events, and then accepts the new server’s lower positions', async () => {
    const [a, b] = [openTab(), openTab()];
    const resumes: unknown[] = [];
    b.realtime.onResume((info) => resumes.push(info));
    await run(200);
    const first = await acceptLast({ channels: ['room:1'] });
    first.push(eventFrame('9-0', 'room:1', 'presence.sync', { channel: 'room:1', members: [] }));
    await run();
    first.end();
    await run(1_000);
    const second = await acceptLast({ channels: ['room:1'], recovered: false });
    expect(resumes).toEqual([{ recovered: false, lastEventId: '9-0/room:1' }]);
    expect(b.realtime.presence('room:1').synced).toBe(false);
    second.push(
      eventFrame('1-0', 'room:1', 'presence.sync', {
        channel: 'room:1',
        members: [{ userId: 'ada', userInfo: null, connections: 1 }],
      }),
    );
    second.push(eventFrame('1-1', 'room:1', 'note', 1));
    await run();
    for (const tab of [a, b]) {
      expect(types(tab)).toEqual(['presence.sync', 'presence.sync', 'note']);
      expect(tab.realtime.presence('room:1').members.map((m) => m.userId)).toEqual(['ada']);
    }
  });

  it('gives every tab the sync of each channel of the stream, though they share one position', async () => {
    const [a, b] = [openTab(), openTab()];
    await run(200);
    const stream = await acceptLast({ channels: ['room:1', 'room:2'] });
    stream.push(
      eventFrame('3-0', 'room:1', 'presence.sync', {
        channel: 'room:1',
        members: [{ userId: 'ada', userInfo: null, connections: 1 }],
      }),
    );
    stream.push(
      eventFrame('3-0', 'room:2', 'presence.sync', {
        channel: 'room:2',
        members: [{ userId: 'bob', userInfo: null, connections: 1 }],
      }),
    );
    await run();
    for (const tab of [a, b]) {
      expect(types(tab)).toEqual(['presence.sync', 'presence.sync']);
      expect(tab.realtime.presence('room:1').members.map((m) => m.userId)).toEqual(['ada']);
      expect(tab.realtime.presence('room:2').members.map((m) => m.userId)).toEqual(['bob']);
    }
  });

  it('lets a late tab join without a new stream, with the state and the presence so far', async () => {
    const a = openTab();
    await run(200);
    const stream = await acceptLast({ channels: ['room:1'] });
    stream.push(
      eventFrame('1-0', 'room:1', 'presence.sync', {
        channel: 'room:1',
        members: [{ userId: 'ada', userInfo: null, connections: 1 }],
      }),
    );
    await run();
    const late = openTab();
    await run(200);
    expect(server.calls).toHaveLength(1);
    expect(late.realtime.state).toBe('connected');
    expect(late.realtime.presence('room:1').members.map((m) => m.userId)).toEqual(['ada']);
    stream.push(eventFrame('1-1', 'room:1', 'presence.join', { channel: 'room:1', userId: 'bob', userInfo: null }));
    await run();
    for (const tab of [a, late]) {
      expect(tab.realtime.presence('room:1').members.map((m) => m.userId)).toEqual(['ada', 'bob']);
    }
    expect(types(late)).toEqual(['presence.join']);
  });

  it('asks the server for the union of the tabs’ types, and gives each tab only its own', async () => {
    const orders = openTab({ types: ['order.*'] });
    await run(200);
    expect(server.last.url.searchParams.get('types')).toBe('order.*');
    await acceptLast();
    const tickets = openTab({ types: ['ticket.closed'] });
    await run(200);
    // The leader reopens with the wider filter, resuming where it was.
    expect(server.calls).toHaveLength(2);
    expect(server.last.url.searchParams.get('types')).toBe('order.*,ticket.closed');
    const stream = await acceptLast();
    stream.push(eventFrame('2-0', 'orders', 'order.created', 1));
    stream.push(eventFrame('2-1', 'orders', 'ticket.closed', 2));
    await run();
    expect(types(orders)).toEqual(['order.created']);
    expect(types(tickets)).toEqual(['ticket.closed']);
  });

  it('narrows the filter five seconds after the tab that widened it is gone, resuming where the stream was', async () => {
    const orders = openTab({ types: ['order.*'] });
    await run(200);
    await acceptLast();
    const tickets = openTab({ types: ['ticket.closed'] });
    await run(200);
    expect(server.last.url.searchParams.get('types')).toBe('order.*,ticket.closed');
    const wide = await acceptLast();
    wide.push(eventFrame('2-0', 'orders', 'order.created', 1));
    await run();
    tickets.realtime.destroy();
    await run(4_900);
    expect(server.calls).toHaveLength(2);
    await run(100);
    expect(server.calls).toHaveLength(3);
    expect(wide.cancelled).toBe(true);
    expect(server.last.url.searchParams.get('types')).toBe('order.*');
    expect(server.last.headers['last-event-id']).toBe('2-0/orders');
    const narrow = await acceptLast({ channels: ['orders'], recovered: true });
    narrow.push(eventFrame('2-1', 'orders', 'order.paid', 2));
    await run();
    expect(types(orders)).toEqual(['order.created', 'order.paid']);
  });

  it('lifts the filter for an unfiltered tab, and puts it back once that tab is gone', async () => {
    openTab({ types: ['order.*'] });
    await run(200);
    await acceptLast();
    const everything = openTab();
    await run(200);
    expect(server.calls).toHaveLength(2);
    expect(server.last.url.searchParams.has('types')).toBe(false);
    await acceptLast();
    everything.realtime.destroy();
    await run(5_000);
    expect(server.calls).toHaveLength(3);
    expect(server.last.url.searchParams.get('types')).toBe('order.*');
  });

  it('does not reopen for a tab gone whose types another tab shares, nor for a reload', async () => {
    openTab({ types: ['order.*'] });
    await run(200);
    await acceptLast();
    const [one, other] = [openTab({ types: ['ticket.closed'] }), openTab({ types: ['ticket.closed'] })];
    await run(200);
    expect(server.calls).toHaveLength(2);
    await acceptLast();
    one.realtime.destroy();
    await run(10_000);
    // A reload: the page says bye, and its next page hello with the same types a second later.
    other.realtime.destroy();
    await run(1_000);
    openTab({ types: ['ticket.closed'] });
    await run(10_000);
    expect(server.calls).toHaveLength(2);
  });

  it('asks, when it takes the lead, for the types of the tabs open then only', async () => {
    const first = openTab({ types: ['order.*'] });
    await run(200);
    await acceptLast();
    // The next in line for the lock heard the later tabs say hello.
    const [, , closed] = [
      openTab({ types: ['ticket.*'] }),
      openTab({ types: ['note'] }),
      openTab({ types: ['alert'] }),
    ];
    await run(200);
    expect(filter()).toEqual(['alert', 'note', 'order.*', 'ticket.*']);
    await acceptLast();
    closed.realtime.destroy();
    await run();
    first.realtime.destroy();
    await run(200);
    expect(filter()).toEqual(['note', 'ticket.*']);
  });

  it('asks, when it takes the lead, for no types of a tab that said hello and vanished without a bye (a crash)', async () => {
    const first = openTab({ types: ['order.*'] });
    openTab({ types: ['ticket.*'] });
    await run(200);
    await acceptLast();
    const crashed = new BroadcastChannel(channelName);
    crashed.postMessage({ t: 'hello', from: 'crashed', types: ['crash'], chs: ['orders'] });
    crashed.close();
    await run(200);
    expect(filter()).toEqual(['crash', 'order.*', 'ticket.*']);
    await acceptLast();
    first.realtime.destroy();
    await run(200);
    expect(filter()).toEqual(['ticket.*']);
  });

  it('widens the stream for a tab that answers the new leader late (it was frozen), from that tab’s last id', async () => {
    const first = openTab({ types: ['order.*'] });
    const next = openTab({ types: ['order.*'] });
    await run(200);
    const stream = await acceptLast();
    stream.push(eventFrame('1-0', 'orders', 'order.created', 1));
    await run();
    // A frozen tab: it runs again only once the new leader's stream is open.
    const frozen = new BroadcastChannel(channelName);
    let lead: { t: string; from: string } | undefined;
    frozen.onmessage = ({ data }: MessageEvent<{ t: string; from: string }>) => {
      if (data.t === 'lead') lead = data;
    };
    first.realtime.destroy();
    await run(200);
    expect(server.calls).toHaveLength(2);
    const second = await acceptLast({ channels: ['orders'], recovered: true });
    second.push(eventFrame('1-1', 'orders', 'order.paid', 2));
    await run();
    frozen.postMessage({ t: 'seen', to: lead?.from, from: 'frozen', lastEventId: '1-0/orders', types: ['ticket.*'] });
    frozen.close();
    await run();
    expect(server.calls).toHaveLength(3);
    expect(server.last.url.searchParams.get('types')).toBe('order.*,ticket.*');
    expect(server.last.headers['last-event-id']).toBe('1-0/orders');
    const third = await acceptLast({ channels: ['orders'], recovered: true });
    third.push(eventFrame('1-1', 'orders', 'order.paid', 2));
    third.push(eventFrame('1-2', 'orders', 'order.shipped', 3));
    await run();
    expect(types(next)).toEqual(['order.created', 'order.paid', 'order.shipped']);
  });

  it('says bye when its page goes away, and hello again when the page comes back from the back-forward cache', async () => {
    openTab({ types: ['order.*'] });
    await run(200);
    await acceptLast();
    // The window of the second tab only: the first was created where Node.js has no window.
    const window = new EventTarget();
    vi.stubGlobal('addEventListener', window.addEventListener.bind(window));
    vi.stubGlobal('removeEventListener', window.removeEventListener.bind(window));
    openTab({ types: ['ticket.closed'] });
    await run(200);
    expect(server.last.url.searchParams.get('types')).toBe('order.*,ticket.closed');
    await acceptLast();
    window.dispatchEvent(new Event('pagehide'));
    await run(5_000);
    expect(server.calls).toHaveLength(3);
    expect(server.last.url.searchParams.get('types')).toBe('order.*');
    await acceptLast();
    window.dispatchEvent(Object.assign(new Event('pageshow'), { persisted: true }));
    await run();
    expect(server.calls).toHaveLength(4);
    expect(server.last.url.searchParams.get('types')).toBe('order.*,ticket.closed');
  });

  it('reports the leader’s terminal errors in every tab, and connect() in a follower reconnects the leader', async () => {
    const [, b] = [openTab(), openTab()];
    await run(200);
    const stream = await acceptLast();
    stream.push('event: revoked\ndata: {"reason":"token_revoked"}\n\n');
    await run();
    expect(b.errors.map((e) => [e.code, e.retryable, e.status])).toEqual([['TOKEN_REVOKED', false, 401]]);
    expect(b.errors[0]).toMatchObject({ name: 'CastError', message: 'The token was revoked (token_revoked).' });
    expect(b.realtime.state).toBe('disconnected');
    await run(60_000);
    expect(server.calls).toHaveLength(1);
    b.realtime.connect();
    await run();
    expect(server.calls).toHaveLength(2);
  });

  it('hands the stream over when the leader page freezes', async () => {
    const doc = new EventTarget();
    vi.stubGlobal('document', doc);
    const a = openTab();
    await run(200);
    await acceptLast();
    const b = openTab();
    await run(200);
    doc.dispatchEvent(new Event('freeze')); // both tabs share this fake document; only the leader acts
    await run(200);
    expect(server.calls).toHaveLength(2);
    expect(server.calls[0]?.signal.aborted).toBe(true);
    await acceptLast();
    expect(b.realtime.state).toBe('connected');
    expect(a.realtime.state).toBe('connected');
  });
});

describe('createSharedRealtime with tabs of different grants', () => {
  beforeEach(() => {
    vi.stubGlobal('navigator', { locks: createFakeLocks() });
  });

  it('shares the stream with a tab of a narrower grant, which gets only its own channels’ events', async () => {
    const wide = openTab();
    await run(200);
    const stream = await acceptLast({ channels: ['orders', 'room:1', 'room:2'] });
    stream.push(
      eventFrame('1-0', 'room:1', 'presence.sync', {
        channel: 'room:1',
        members: [{ userId: 'ada', userInfo: null, connections: 1 }],
      }),
    );
    await run();
    const narrow = openTab({ token: tokenFor(['orders']) });
    await run(200);
    stream.push(eventFrame('1-1', 'room:1', 'note', 1));
    stream.push(eventFrame('1-2', 'orders', 'order.created', 2));
    stream.push(eventFrame('1-3', 'room:2', 'note', 3));
    await run();
    expect(server.calls).toHaveLength(1);
    expect(narrow.realtime.state).toBe('connected');
    expect(narrow.events.map((e) => [e.type, e.channel])).toEqual([['order.created', 'orders']]);
    expect(narrow.realtime.presence('room:1').synced).toBe(false); // the welcome's snapshot is not its to see
    expect(narrow.own).toEqual([]);
    expect(types(wide)).toEqual(['presence.sync', 'note', 'order.created', 'note']);
  });

  it('gives a tab whose grant has a channel the leader’s stream lacks a stream of its own, and says so', async () => {
    const leader = openTab({ token: tokenFor(['orders']) });
    await run(200);
    const shared = await acceptLast({ channels: ['orders'] });
    shared.push(eventFrame('1-0', 'orders', 'order.created', 1));
    await run();
    const wider = tokenFor(['orders', 'tickets']);
    const tab = openTab({ token: async () => wider, lastEventId: '0-5/orders' });
    // The tab has read its grant and said hello; the leader relays an event before its welcome.
    for (let i = 0; i < 10; i++) await Promise.resolve();
    shared.push(eventFrame('1-1', 'orders', 'order.paid', 2));
    await run(200);
    expect(tab.own).toEqual([['tickets']]);
    expect(server.calls).toHaveLength(2);
    // Its own token, resuming from its own last id: the event relayed before the welcome did not move it on.
    expect(server.last.url.searchParams.get('token')).toBe(wider);
    expect(server.last.headers['last-event-id']).toBe('0-5/orders');
    const own = await acceptLast({ channels: ['orders', 'tickets'], recovered: true });
    own.push(eventFrame('1-0', 'orders', 'order.created', 1));
    own.push(eventFrame('1-1', 'orders', 'order.paid', 2));
    own.push(eventFrame('1-2', 'tickets', 'ticket.opened', 3));
    shared.push(eventFrame('1-3', 'orders', 'order.shipped', 4));
    own.push(eventFrame('1-3', 'orders', 'order.shipped', 4));
    await run();
    expect(types(tab)).toEqual(['order.created', 'order.paid', 'ticket.opened', 'order.shipped']);
    expect(tab.realtime.state).toBe('connected');
    expect(types(leader)).toEqual(['order.created', 'order.paid', 'order.shipped']);
    // It left the tabs: the leader going does not move it, nor does it lead anyone.
    leader.realtime.destroy();
    await run(2_000);
    expect(server.calls).toHaveLength(2);
    expect(tab.own).toEqual([['tickets']]);
    tab.realtime.destroy();
    await run();
    expect(own.cancelled).toBe(true);
  });

  it('asks its own stream for its own types only', async () => {
    openTab({ token: tokenFor(['orders']), types: ['order.*'] });
    await run(200);
    await acceptLast();
    openTab({ types: ['note'] });
    await run(200);
    expect(server.calls).toHaveLength(2);
    expect(server.last.url.searchParams.get('token')).toBe(ALL);
    expect(server.last.url.searchParams.get('types')).toBe('note');
  });

  it('moves a follower to a stream of its own when the new leader’s grant lacks its channels, from the last id', async () => {
    const first = openTab();
    const narrow = openTab({ token: tokenFor(['orders']) });
    const wide = openTab();
    await run(200);
    const stream = await acceptLast({ channels: ['orders', 'room:1', 'room:2'] });
    stream.push(eventFrame('1-0', 'room:1', 'note', 1));
    await run();
    first.realtime.destroy(); // the next in line for the lock is the narrow tab
    await run(200);
    expect(wide.own).toEqual([['room:1', 'room:2']]);
    expect(narrow.own).toEqual([]);
    expect(server.calls).toHaveLength(3);
    const streams = server.calls.slice(1).map((c) => [c.url.searchParams.get('token'), c.headers['last-event-id']]);
    expect(streams).toContainEqual([tokenFor(['orders']), '1-0/room:1']);
    expect(streams).toContainEqual([ALL, '1-0/room:1']);
  });

  it('holds a stream of its own when it cannot read its grant, and says so with no channel named', async () => {
    let calls = 0;
    const failing = openTab({
      token: async () => {
        if (calls++ === 0) throw new Error('token service down');
        return ALL;
      },
    });
    const opaque = openTab({ token: 'not-a-jwt' });
    await run(200);
    expect(failing.own).toEqual([[]]);
    expect(opaque.own).toEqual([[]]);
    expect(server.calls.map((c) => c.url.searchParams.get('token')).sort()).toEqual([ALL, 'not-a-jwt'].sort());
  });
});

describe('createSharedRealtime without Web Locks (BroadcastChannel heartbeat)', () => {
  it('elects one leader, and another tab takes over within two seconds of it going quiet', async () => {
    const [a, b] = [openTab(), openTab()];
    await run(300 + 200);
    expect(server.calls).toHaveLength(1);
    const first = await acceptLast();
    first.push(eventFrame('1-0', 'orders', 'x', 1));
    await run(5_000); // heartbeats keep the leader
    expect(server.calls).toHaveLength(1);
    a.realtime.destroy();
    await run(2_000);
    expect(server.calls).toHaveLength(2);
    expect(server.last.headers['last-event-id']).toBe('1-0/orders');
    const second = await acceptLast();
    second.push(eventFrame('1-1', 'orders', 'y', 2));
    await run();
    expect(types(b)).toEqual(['x', 'y']);
  });

  it('takes over with the types of the tabs still open, and narrows when one of them goes', async () => {
    const a = openTab({ types: ['order.*'] });
    openTab({ types: ['ticket.*'] });
    const c = openTab({ types: ['note'] });
    await runInSteps(300 + 200);
    expect(server.calls).toHaveLength(1);
    expect(filter()).toEqual(['note', 'order.*', 'ticket.*']);
    await acceptLast();
    a.realtime.destroy();
    await runInSteps(2_000);
    expect(server.calls).toHaveLength(2);
    expect(filter()).toEqual(['note', 'ticket.*']);
    const second = await acceptLast();
    // The older of the two took over (the larger id gives way): the other one goes, and the stream narrows.
    c.realtime.destroy();
    await run(4_000);
    expect(second.cancelled).toBe(false);
    await run(1_000);
    expect(server.calls).toHaveLength(3);
    expect(filter()).toEqual(['ticket.*']);
  });

  it('gives a tab whose grant has a channel the leader’s stream lacks a stream of its own', async () => {
    openTab({ token: tokenFor(['orders']) });
    await run(300 + 200);
    await acceptLast();
    const wide = openTab();
    await run(200);
    expect(wide.own).toEqual([['room:1', 'room:2']]);
    expect(server.calls).toHaveLength(2);
    expect(server.last.url.searchParams.get('token')).toBe(ALL);
    await acceptLast({ channels: ['orders', 'room:1', 'room:2'] });
    await run(5_000); // the leader's heartbeats no longer reach it
    expect(server.calls).toHaveLength(2);
    expect(wide.realtime.state).toBe('connected');
  });
});

describe('createSharedRealtime where BroadcastChannel is missing', () => {
  it('is a plain client with its own stream', async () => {
    vi.stubGlobal('BroadcastChannel', undefined);
    const a = openTab({ token: tokenFor(['orders']) });
    await run();
    expect(server.calls).toHaveLength(1);
    await acceptLast();
    expect(a.realtime.state).toBe('connected');
    expect(a.own).toEqual([]);
  });

  it('checks the options at construction', () => {
    expect(() => createSharedRealtime({ url: 'ftp://x', token: 't', fetch: server.fetch })).toThrowError(
      expect.objectContaining({ code: 'INVALID_OPTIONS' }),
    );
    expect(() => createSharedRealtime({ url: 'http://x', token: 't', fetch: server.fetch, name: '' })).toThrowError(
      expect.objectContaining({ code: 'INVALID_OPTIONS' }),
    );
  });
});
