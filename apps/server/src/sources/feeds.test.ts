import type { EventPosition } from '@cast/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createMemoryBroker } from '../broker/memory.js';
import type { Broker, StoredEvent } from '../broker/types.js';
import { ChangeFeeds, collectionChannel } from './feeds.js';
import type { Change, ChangeSink, ChangeSource } from './types.js';

function fakeSource(names: string[] = ['public.todos']) {
  const calls: string[] = [];
  let sink: ChangeSink | undefined;
  let listed = [...names];
  const source: ChangeSource = {
    kind: 'fake',
    async start(s) {
      sink = s;
    },
    async collections(refresh) {
      calls.push(`collections ${refresh}`);
      return refresh ? listed : names;
    },
    watch: (tenant, collection) => calls.push(`watch ${tenant}/${collection}`),
    unwatch: (tenant, collection) => calls.push(`unwatch ${tenant}/${collection}`),
    ready: () => true,
    close: async () => {
      calls.push('close');
    },
  };
  return {
    source,
    calls,
    sink: () => sink as ChangeSink,
    setListed: (n: string[]) => {
      listed = n;
    },
  };
}

function memory(): Broker {
  return createMemoryBroker({
    historySize: 100,
    historyMaxAgeSeconds: 3600,
    historyMaxBytes: 1 << 20,
    idempotencyWindowSeconds: 60,
  });
}

interface Setup {
  feeds: ChangeFeeds;
  broker: Broker;
  delivered: StoredEvent[];
  closed: string[];
  src: ReturnType<typeof fakeSource>;
  clock: { t: number };
}

async function setup(
  options: { lingerMs?: number; dedupe?: boolean; maxDocumentBytes?: number; inner?: Broker; names?: string[] } = {},
): Promise<Setup> {
  const src = fakeSource(options.names);
  const clock = { t: 1_000 };
  const feeds = new ChangeFeeds(src.source, {
    maxDocumentBytes: options.maxDocumentBytes ?? 10_000,
    lingerMs: options.lingerMs ?? 0,
    dedupe: options.dedupe ?? false,
    now: () => clock.t,
    log: () => {},
  });
  const broker = options.inner ?? memory();
  const delivered: StoredEvent[] = [];
  const closed: string[] = [];
  await broker.start({
    deliver: (_tenant, e) => {
      delivered.push(e);
      return 1;
    },
  });
  await feeds.start(broker, {
    closeChannel: (tenant, channel) => {
      closed.push(`${tenant}/${channel}`);
      return 1;
    },
  });
  return { feeds, broker, delivered, closed, src, clock };
}

const change = (over: Partial<Change> = {}): Change => ({
  tenant: 'acme',
  collection: 'public.todos',
  type: 'insert',
  documentId: '1',
  document: { id: 1, tenant_id: 'acme' },
  changeId: 'c1',
  ...over,
});

const CH = collectionChannel('public.todos');

describe('watches follow the hub', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('starts a watch on the first subscriber of a tenant collection and stops it after the last leaves and the linger ends', async () => {
    const s = await setup({ lingerMs: 30_000 });
    s.feeds.channelOpened('acme', CH);
    s.feeds.channelOpened('acme', 'orders');
    expect(s.src.calls.filter((c) => c.startsWith('watch') || c.startsWith('unwatch'))).toEqual([
      'watch acme/public.todos',
    ]);
    s.feeds.channelClosed('acme', CH);
    await vi.advanceTimersByTimeAsync(29_999);
    expect(s.src.calls).not.toContain('unwatch acme/public.todos');
    await vi.advanceTimersByTimeAsync(1);
    expect(s.src.calls).toContain('unwatch acme/public.todos');
    expect(s.feeds.watching).toBe(0);
  });

  it('keeps the watch when a subscriber returns within the linger', async () => {
    const s = await setup({ lingerMs: 30_000 });
    s.feeds.channelOpened('acme', CH);
    s.feeds.channelClosed('acme', CH);
    await vi.advanceTimersByTimeAsync(10_000);
    s.feeds.channelOpened('acme', CH);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(s.src.calls.filter((c) => c.includes('watch'))).toEqual(['watch acme/public.todos']);
    expect(s.feeds.watching).toBe(1);
  });

  it('keeps tenants apart: one watch per tenant and collection', async () => {
    const s = await setup();
    s.feeds.channelOpened('acme', CH);
    s.feeds.channelOpened('beta', CH);
    s.feeds.channelClosed('acme', CH);
    expect(s.src.calls.filter((c) => c.includes('watch'))).toEqual([
      'watch acme/public.todos',
      'watch beta/public.todos',
      'unwatch acme/public.todos',
    ]);
  });

  it('whenActive resolves when the source says the watch is active, and false after the timeout', async () => {
    const s = await setup();
    const waiting = s.feeds.whenActive('acme', 'public.todos', 2000);
    s.src.sink().active([{ tenant: 'acme', collection: 'public.todos' }], false);
    await expect(waiting).resolves.toBe(true);
    const timing = s.feeds.whenActive('beta', 'public.todos', 2000);
    await vi.advanceTimersByTimeAsync(2000);
    await expect(timing).resolves.toBe(false);
  });
});

describe('changes', () => {
  it('publishes a watched change into the tenant log as {type, documentId, document}', async () => {
    const s = await setup();
    s.feeds.channelOpened('acme', CH);
    await s.src.sink().change(change({ type: 'delete', document: { id: 1, title: 'old' } }));
    expect(s.delivered).toHaveLength(1);
    expect(s.delivered[0]?.channel).toBe(CH);
    expect(s.delivered[0]?.event).toBe('message');
    expect(JSON.parse(s.delivered[0]?.data as string)).toEqual({
      type: 'delete',
      documentId: '1',
      document: { id: 1, title: 'old' },
    });
  });

  it('publishes the document as the JSON text the source wrote, large numbers unchanged', async () => {
    const s = await setup();
    s.feeds.channelOpened('acme', CH);
    const documentJson = '{"id":9007199254740993,"n":1e999,"tenant_id":"acme"}';
    await s.src.sink().change(change({ document: JSON.parse(documentJson), documentJson }));
    expect(s.delivered[0]?.data).toBe(`{"type":"insert","documentId":"1","document":${documentJson}}`);
  });

  it('drops a change nobody here watches (a late notification)', async () => {
    const s = await setup();
    await s.src.sink().change(change());
    expect(s.delivered).toHaveLength(0);
  });

  it('sends a document over the limit as tooLarge, never truncated', async () => {
    const s = await setup({ maxDocumentBytes: 100 });
    s.feeds.channelOpened('acme', CH);
    await s.src.sink().change(change({ document: { body: 'x'.repeat(200) } }));
    expect(JSON.parse(s.delivered[0]?.data as string)).toEqual({
      type: 'insert',
      documentId: '1',
      document: null,
      tooLarge: true,
    });
  });

  it('publishes a change seen by several nodes once, with an idempotency key from the change', async () => {
    const shared = memory();
    const a = await setup({ dedupe: true, inner: shared });
    const b = await setup({ dedupe: true, inner: shared });
    a.feeds.channelOpened('acme', CH);
    b.feeds.channelOpened('acme', CH);
    await a.src.sink().change(change({ changeId: 'same' }));
    await b.src.sink().change(change({ changeId: 'same' }));
    const log = await shared.replay('acme', [CH], { ms: 0, seq: 0 });
    expect(log.events).toHaveLength(1);
  });

  it('ends the streams of a watch whose change could not be published, so they resume with recovered: false', async () => {
    const inner = memory();
    const failing: Broker = { ...inner, publish: async () => Promise.reject(new Error('down')) };
    const s = await setup({ inner: failing });
    s.feeds.channelOpened('acme', CH);
    s.src.sink().active([{ tenant: 'acme', collection: 'public.todos' }], false);
    s.clock.t = 5_000;
    await s.src.sink().change(change());
    expect(s.closed).toEqual([`acme/${CH}`]);
    expect(s.feeds.coveredSince('acme', 'public.todos', 4_000)).toBe(false);
    expect(s.feeds.coveredSince('acme', 'public.todos', 5_000)).toBe(true);
  });
});

describe('recovered', () => {
  /** A resume's `recovered`, as the stream route decides it: the broker's, and the feeds' coverage. */
  async function resume(
    s: Setup,
    channels: string[],
    after: EventPosition,
  ): Promise<{ recovered: boolean; events: number }> {
    const r = await s.broker.replay('acme', channels, after);
    const covered = s.feeds.covers('acme', channels, after);
    return { recovered: r.recovered && covered, events: r.events.length };
  }

  async function resumeAfterOne(s: Setup): Promise<{ recovered: boolean; events: number }> {
    const [first] = await s.broker.publish('acme', [{ channel: CH, event: 'message', data: '1' }]);
    return resume(s, [CH], first?.event.position as EventPosition);
  }

  it('is false while the watch is not active: changes may have passed unseen', async () => {
    const s = await setup();
    s.feeds.channelOpened('acme', CH);
    expect((await resumeAfterOne(s)).recovered).toBe(false);
  });

  it('is true when the watch was active since before the last event the client saw', async () => {
    const s = await setup();
    s.feeds.channelOpened('acme', CH);
    s.clock.t = 0;
    s.src.sink().active([{ tenant: 'acme', collection: 'public.todos' }], false);
    expect(await resumeAfterOne(s)).toEqual({ recovered: true, events: 0 });
  });

  it('is false after a reconnect for ids from before it, and the open streams are ended', async () => {
    const s = await setup();
    s.feeds.channelOpened('acme', CH);
    const w = [{ tenant: 'acme', collection: 'public.todos' }];
    s.clock.t = 0;
    s.src.sink().active(w, false);
    const [first] = await s.broker.publish('acme', [{ channel: CH, event: 'message', data: '1' }]);
    s.src.sink().inactive(w);
    s.clock.t = Date.now() + 60_000;
    s.src.sink().active(w, true);
    expect(s.closed).toEqual([`acme/${CH}`]);
    const r = await resume(s, [CH], first?.event.position as EventPosition);
    expect(r.recovered).toBe(false);
  });

  it('leaves replays of other channels alone', async () => {
    const s = await setup();
    const [first] = await s.broker.publish('acme', [{ channel: 'orders', event: 'x', data: '1' }]);
    expect((await resume(s, ['orders'], first?.event.position as EventPosition)).recovered).toBe(true);
  });
});

describe('resolve', () => {
  it('finds an exact name, a bare table name, and asks the source again before saying no', async () => {
    const s = await setup();
    expect(await s.feeds.resolve('public.todos')).toBe('public.todos');
    expect(await s.feeds.resolve('todos')).toBe('public.todos');
    s.src.setListed(['public.todos', 'app.notes']);
    expect(await s.feeds.resolve('notes')).toBe('app.notes');
    expect(await s.feeds.resolve('missing')).toBeUndefined();
    expect(s.src.calls.filter((c) => c === 'collections true')).toHaveLength(2);
  });

  it('says when a bare name is in several schemas', async () => {
    const s = await setup({ names: ['public.todos', 'app.todos'] });
    expect(await s.feeds.resolve('app.todos')).toBe('app.todos');
    expect(await s.feeds.resolve('todos')).toEqual({ ambiguous: ['public.todos', 'app.todos'] });
  });
});
