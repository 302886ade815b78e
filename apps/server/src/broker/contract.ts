import { comparePositions, type EventPosition, formatPosition, parsePosition } from '@cast/protocol';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Broker, ControlMessage, LocalDelivery, PublishInput, StoredEvent } from './types.js';

/** Limits a contract test asks its broker for. */
export interface BrokerContractOptions {
  historySize: number;
  historyMaxAgeSeconds: number;
  /** Bytes of history kept per tenant (each broker counts its own overhead per event). */
  historyMaxBytes: number;
  idempotencyWindowSeconds: number;
  /** How long a revocation is kept after its time (the longest token lifetime), seconds. */
  revocationTtlSeconds: number;
  /** Most revocations held per tenant. */
  maxRevocations: number;
  /** The broker's clock for age limits; the suite moves it forward. */
  now: () => number;
}

/** A broker made for one test, and how to dispose of it. */
export interface BrokerFixture {
  broker: Broker;
  /** Closes the broker and removes whatever it stored. */
  cleanup(): Promise<void>;
}

/** Makes a fresh broker (its own empty store) for one test. */
export type BrokerFactory = (options: BrokerContractOptions) => Promise<BrokerFixture>;

/** A local delivery that records what the broker hands it. */
class Recorder implements LocalDelivery {
  readonly received: Array<{ tenant: string; event: StoredEvent }> = [];
  /** Connections per `tenant/channel` that "take" an event (default 1). */
  readonly takers = new Map<string, number>();
  readonly controls: Array<{ tenant: string; message: ControlMessage }> = [];
  /** Streams each control message "ends" here. */
  controlAnswer = 2;
  control(tenant: string, message: ControlMessage): number {
    this.controls.push({ tenant, message });
    return this.controlAnswer;
  }
  deliver(tenant: string, event: StoredEvent): number {
    this.received.push({ tenant, event });
    return this.takers.get(`${tenant}/${event.channel}`) ?? 1;
  }
  positionsOf(tenant: string): EventPosition[] {
    return this.received.filter((r) => r.tenant === tenant).map((r) => r.event.position);
  }
}

/** A position written as its string form, `<ms>-<seq>`. */
function at(p: string): EventPosition {
  const parsed = parsePosition(p);
  if (!parsed) throw new Error(`not a position: ${p}`);
  return parsed;
}

function expectIncreasing(positions: readonly EventPosition[]): void {
  for (let i = 1; i < positions.length; i++) {
    const [a, b] = [positions[i - 1] as EventPosition, positions[i] as EventPosition];
    expect(comparePositions(b, a), `${formatPosition(a)} < ${formatPosition(b)}`).toBeGreaterThan(0);
  }
}

const ev = (channel: string, n: number, extra: Partial<PublishInput> = {}): PublishInput => ({
  channel,
  event: 'order.created',
  data: JSON.stringify({ n, text: 'grüße ✓' }),
  ...extra,
});

/**
 * Registers the broker contract: the behaviour every `Broker` must have,
 * whichever engine runs behind it. Call it from a test file with a factory
 * that makes a fresh, empty broker.
 *
 * @param name - the engine's name, for the test titles
 * @param factory - makes one broker per test
 * @example
 * ```ts
 * describeBrokerContract('memory', async (o) => {
 *   const broker = createMemoryBroker(o)
 *   return { broker, cleanup: () => broker.close() }
 * })
 * ```
 */
export function describeBrokerContract(name: string, factory: BrokerFactory): void {
  describe(`broker contract: ${name}`, () => {
    let fixtures: BrokerFixture[] = [];
    let clock = Date.now();

    async function make(overrides: Partial<Omit<BrokerContractOptions, 'now'>> = {}) {
      clock = Date.now();
      const fixture = await factory({
        historySize: 100,
        historyMaxAgeSeconds: 3600,
        historyMaxBytes: 64 * 1024 * 1024,
        idempotencyWindowSeconds: 3600,
        revocationTtlSeconds: 3600,
        maxRevocations: 1000,
        ...overrides,
        now: () => clock,
      });
      fixtures.push(fixture);
      const local = new Recorder();
      await fixture.broker.start(local);
      return { broker: fixture.broker, local };
    }

    afterEach(async () => {
      await Promise.all(fixtures.map((f) => f.cleanup()));
      fixtures = [];
    });

    it('gives increasing positions and replays the events after one, in order', async () => {
      const { broker } = await make();
      const first = await broker.publish('acme', [ev('orders', 1)]);
      const batch = await broker.publish('acme', [ev('orders', 2), ev('tickets', 3), ev('orders', 4)]);
      const last = await broker.publish('acme', [ev('tickets', 5)]);
      const all = [...first, ...batch, ...last].map((o) => o.event);
      expectIncreasing(all.map((e) => e.position));
      expect(new Set(all.map((e) => e.messageId)).size).toBe(5);

      const replay = await broker.replay('acme', ['orders', 'tickets'], all[0]!.position);
      expect(replay.recovered).toBe(true);
      expect(replay.events).toEqual(all.slice(1));
    });

    it('replays only the channels asked for', async () => {
      const { broker } = await make();
      const out = await broker.publish('acme', [ev('orders', 1), ev('tickets', 2), ev('orders', 3), ev('other', 4)]);
      const replay = await broker.replay('acme', ['orders'], out[0]!.event.position);
      expect(replay.events.map((e) => e.data)).toEqual([out[2]!.event.data]);
      expect(replay.recovered).toBe(true);
    });

    it('is recovered with nothing to send when resuming from the newest position', async () => {
      const { broker } = await make();
      const out = await broker.publish('acme', [ev('orders', 1), ev('orders', 2)]);
      const replay = await broker.replay('acme', ['orders'], out[1]!.event.position);
      expect(replay).toEqual({ events: [], recovered: true });
    });

    it('is not recovered for a position the log never gave (ahead of it, or before it began)', async () => {
      const { broker } = await make();
      await broker.publish('acme', [ev('orders', 1)]);
      expect((await broker.replay('acme', ['orders'], at(`${Date.now() + 3_600_000}-0`))).recovered).toBe(false);
      expect((await broker.replay('acme', ['orders'], at('1-0'))).recovered).toBe(false);
      // A tenant that never published: an old position cannot be vouched for.
      expect((await broker.replay('nobody', ['orders'], at('1-0'))).recovered).toBe(false);
    });

    it('trims by count: resuming from before the trimmed events is not recovered, from the last trimmed one is', async () => {
      const { broker } = await make({ historySize: 3 });
      const out = [];
      for (let i = 1; i <= 6; i++) out.push(...(await broker.publish('acme', [ev('orders', i)])));
      const positions = out.map((o) => o.event.position);

      const early = await broker.replay('acme', ['orders'], positions[0]!);
      expect(early.recovered).toBe(false);
      expect(early.events.map((e) => e.position)).toEqual(positions.slice(3));

      const edge = await broker.replay('acme', ['orders'], positions[2]!);
      expect(edge.recovered).toBe(true);
      expect(edge.events.map((e) => e.position)).toEqual(positions.slice(3));
    });

    it('trims by age: events older than the limit are gone and resuming before them is not recovered', async () => {
      const { broker } = await make({ historyMaxAgeSeconds: 60 });
      const out = await broker.publish('acme', [ev('orders', 1), ev('orders', 2)]);
      clock += 61_000;
      const old = await broker.replay('acme', ['orders'], out[0]!.event.position);
      expect(old).toEqual({ events: [], recovered: false });
      // The client that saw the newest event missed nothing.
      expect(await broker.replay('acme', ['orders'], out[1]!.event.position)).toEqual({ events: [], recovered: true });
    });

    it('keeps nothing with a history size of 0, and says so', async () => {
      const { broker } = await make({ historySize: 0 });
      const out = await broker.publish('acme', [ev('orders', 1), ev('orders', 2)]);
      expect(await broker.replay('acme', ['orders'], out[0]!.event.position)).toEqual({ events: [], recovered: false });
      expect((await broker.replay('acme', ['orders'], out[1]!.event.position)).recovered).toBe(true);
    });

    it('answers a repeated idempotency key with the first outcome and logs and delivers the event once', async () => {
      const { broker, local } = await make();
      broker.listen('acme', 'orders');
      const [first] = await broker.publish('acme', [ev('orders', 1, { idempotencyKey: 'k-1' })]);
      const [again] = await broker.publish('acme', [ev('orders', 1, { idempotencyKey: 'k-1' })]);
      expect(first!.duplicate).toBe(false);
      expect(again!.duplicate).toBe(true);
      expect(again!.event.messageId).toBe(first!.event.messageId);
      expect(again!.event.position).toEqual(first!.event.position);
      expect(again!.delivered).toBe(first!.delivered);

      // The same key twice in one batch is one event too.
      const batch = await broker.publish('acme', [
        ev('orders', 2, { idempotencyKey: 'k-2' }),
        ev('orders', 2, { idempotencyKey: 'k-2' }),
      ]);
      expect(batch.map((o) => o.duplicate)).toEqual([false, true]);
      expect(batch[1]!.event.messageId).toBe(batch[0]!.event.messageId);

      // Two keys in one batch: a retry of each answers its own first outcome, delivered count included.
      const pair = await broker.publish('acme', [
        ev('orders', 3, { idempotencyKey: 'k-3' }),
        ev('orders', 4, { idempotencyKey: 'k-4' }),
      ]);
      const retried = await broker.publish('acme', [
        ev('orders', 4, { idempotencyKey: 'k-4' }),
        ev('orders', 3, { idempotencyKey: 'k-3' }),
      ]);
      expect(pair.map((o) => o.delivered)).toEqual([1, 1]);
      expect(retried.map((o) => [o.duplicate, o.event.messageId, o.delivered])).toEqual([
        [true, pair[1]!.event.messageId, 1],
        [true, pair[0]!.event.messageId, 1],
      ]);
      const ids = [first!.event.messageId, batch[0]!.event.messageId, ...pair.map((o) => o.event.messageId)];

      const replay = await broker.replay('acme', ['orders'], at('0-1'));
      expect(replay.events.map((e) => e.messageId)).toEqual(ids);
      expect(local.received.map((r) => r.event.messageId)).toEqual(ids);
    });

    it('refuses an idempotency key reused for a different request (channel, event or data) and publishes nothing of that batch', async () => {
      const { broker, local } = await make();
      broker.listen('acme', 'orders');
      broker.listen('acme', 'tickets');
      const [first] = await broker.publish('acme', [ev('orders', 1, { idempotencyKey: 'k-1' })]);
      const others = [
        ev('tickets', 1, { idempotencyKey: 'k-1' }),
        ev('orders', 1, { idempotencyKey: 'k-1', event: 'order.updated' }),
        ev('orders', 2, { idempotencyKey: 'k-1' }),
      ];
      for (const other of others) {
        await expect(broker.publish('acme', [ev('orders', 9), other])).rejects.toMatchObject({
          code: 'IDEMPOTENCY_KEY_REUSED',
          status: 409,
        });
      }
      // Within one batch too.
      await expect(
        broker.publish('acme', [
          ev('orders', 3, { idempotencyKey: 'k-2' }),
          ev('orders', 4, { idempotencyKey: 'k-2' }),
        ]),
      ).rejects.toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
      // The same request stays a duplicate.
      const [again] = await broker.publish('acme', [ev('orders', 1, { idempotencyKey: 'k-1' })]);
      expect(again!.duplicate).toBe(true);
      expect(again!.event.messageId).toBe(first!.event.messageId);
      const replay = await broker.replay('acme', ['orders', 'tickets'], at('0-1'));
      expect(replay.events.map((e) => e.messageId)).toEqual([first!.event.messageId]);
      expect(local.received.map((r) => r.event.messageId)).toEqual([first!.event.messageId]);
    });

    it('reads a replay in pages of about maxBytes, at least one event each, that add up to the whole replay', async () => {
      const { broker } = await make();
      const pad = 'x'.repeat(1000);
      const out = await broker.publish(
        'acme',
        Array.from({ length: 12 }, (_, i) =>
          ev(i % 3 === 2 ? 'tickets' : 'orders', i, { data: JSON.stringify({ i, pad }) }),
        ),
      );
      const from = out[0]!.event.position;
      const whole = await broker.replay('acme', ['orders'], from);
      const paged: StoredEvent[] = [];
      let after = from;
      let pages = 0;
      let end: EventPosition | undefined;
      for (; pages < 50; pages++) {
        const page = await broker.replayPage('acme', ['orders'], after, 2500);
        expect(page.recovered).toBe(true);
        expect(page.events.length).toBeGreaterThanOrEqual(1);
        const bytes = page.events.reduce((n, e) => n + e.data.length, 0);
        if (page.events.length > 1) expect(bytes).toBeLessThanOrEqual(2500);
        paged.push(...page.events);
        if (page.next === undefined) {
          end = page.end;
          break;
        }
        after = page.next;
      }
      expect(paged).toEqual(whole.events);
      expect(pages).toBeGreaterThan(2);
      expect(end).toEqual(out[11]!.event.position);
      // A budget smaller than one event still moves on by one.
      expect((await broker.replayPage('acme', ['orders'], from, 1)).events.map((e) => e.position)).toEqual([
        out[1]!.event.position,
      ]);
    });

    it('ends a replay from beyond the log at the log end, not recovered, so live delivery can start from there', async () => {
      const { broker } = await make();
      const out = await broker.publish('acme', [ev('orders', 1), ev('orders', 2)]);
      const page = await broker.replayPage('acme', ['orders'], at(`${Date.now() + 3_600_000}-0`), 1 << 20);
      expect(page).toEqual({ events: [], recovered: false, next: undefined, end: out[1]!.event.position });
    });

    it('trims by bytes: keeps the newest events within the cap, and the floor stays exact', async () => {
      const { broker } = await make({ historyMaxBytes: 10_000 });
      const out = [];
      for (let i = 0; i < 30; i++)
        out.push(
          ...(await broker.publish('acme', [ev('orders', i, { data: JSON.stringify({ i, pad: 'x'.repeat(1000) }) })])),
        );
      const positions = out.map((o) => o.event.position);
      const all = await broker.replay('acme', ['orders'], positions[0]!);
      expect(all.recovered).toBe(false);
      const kept = all.events.length;
      expect(kept).toBeGreaterThanOrEqual(2);
      expect(kept * 1000).toBeLessThanOrEqual(10_000);
      expect(all.events.map((e) => e.position)).toEqual(positions.slice(30 - kept));
      // From the newest trimmed event, everything after it is held; from the one before, not.
      expect((await broker.replay('acme', ['orders'], positions[29 - kept]!)).recovered).toBe(true);
      expect((await broker.replay('acme', ['orders'], positions[28 - kept]!)).recovered).toBe(false);
    });

    it('keeps idempotency keys per tenant', async () => {
      const { broker } = await make();
      const [a] = await broker.publish('acme', [ev('orders', 1, { idempotencyKey: 'same' })]);
      const [b] = await broker.publish('globex', [ev('orders', 1, { idempotencyKey: 'same' })]);
      expect(a!.duplicate).toBe(false);
      expect(b!.duplicate).toBe(false);
      expect(b!.event.messageId).not.toBe(a!.event.messageId);
    });

    it('keeps tenants apart: their own logs, replays and deliveries', async () => {
      const { broker, local } = await make();
      broker.listen('acme', 'orders');
      broker.listen('globex', 'orders');
      const a = await broker.publish('acme', [ev('orders', 1), ev('orders', 2)]);
      const g = await broker.publish('globex', [ev('orders', 10)]);
      const acmeReplay = await broker.replay('acme', ['orders'], at('0-1'));
      const globexReplay = await broker.replay('globex', ['orders'], at('0-1'));
      expect(acmeReplay.events.map((e) => e.messageId)).toEqual(a.map((o) => o.event.messageId));
      expect(globexReplay.events.map((e) => e.messageId)).toEqual(g.map((o) => o.event.messageId));
      expect(local.received.filter((r) => r.tenant === 'acme').map((r) => r.event.messageId)).toEqual(
        a.map((o) => o.event.messageId),
      );
      expect(local.received.filter((r) => r.tenant === 'globex').map((r) => r.event.messageId)).toEqual(
        g.map((o) => o.event.messageId),
      );
    });

    it('hands every event of a listened tenant to local delivery once, in position order, and counts what it took', async () => {
      const { broker, local } = await make();
      local.takers.set('acme/orders', 3);
      local.takers.set('acme/tickets', 0);
      broker.listen('acme', 'orders');
      broker.listen('acme', 'tickets');
      const outcomes = (
        await Promise.all(
          Array.from({ length: 20 }, (_, i) => broker.publish('acme', [ev(i % 2 ? 'tickets' : 'orders', i)])),
        )
      ).flat();
      const delivered = local.positionsOf('acme');
      expect(delivered).toHaveLength(20);
      expectIncreasing(delivered);
      expect([...delivered].sort(comparePositions)).toEqual(
        outcomes.map((o) => o.event.position).sort(comparePositions),
      );
      for (const o of outcomes) expect(o.delivered).toBe(o.event.channel === 'orders' ? 3 : 0);
      const replay = await broker.replay('acme', ['orders', 'tickets'], at('0-1'));
      expect(replay.events.map((e) => e.position)).toEqual(delivered);
    });

    it('hands over from replay to live delivery with every event once: nothing delivered later is at or before the replay end', async () => {
      const { broker, local } = await make();
      const early = await broker.publish('acme', [ev('orders', 1), ev('orders', 2), ev('orders', 3)]);
      // A stream resuming after the first event: the hub listens, then replays.
      broker.listen('acme', 'orders');
      const replay = await broker.replay('acme', ['orders'], early[0]!.event.position);
      const deliveredBefore = local.received.length;
      const [later] = await broker.publish('acme', [ev('orders', 4)]);
      await vi.waitFor(() => expect(local.positionsOf('acme')).toContainEqual(later!.event.position));
      const last = replay.events.at(-1)?.position ?? early[0]!.event.position;
      const lateLive = local.received.slice(deliveredBefore).map((r) => r.event.position);
      // What the stream sends: the replay, then live events after its end.
      const sent = [...replay.events.map((e) => e.position), ...lateLive.filter((p) => comparePositions(p, last) > 0)];
      for (const p of lateLive) {
        expect(comparePositions(p, last), `${formatPosition(p)} after the replay`).toBeGreaterThan(0);
      }
      expect(sent).toEqual([...early.slice(1), later!].map((o) => o.event.position));
    });

    it('lists sessions by channel and by user, per tenant, and forgets removed ones', async () => {
      const { broker } = await make();
      const at = new Date().toISOString();
      broker.addSession({ tenant: 'acme', id: 's1', userId: 'u1', channels: ['orders', 'tickets'], connectedAt: at });
      broker.addSession({ tenant: 'acme', id: 's2', userId: 'u2', channels: ['orders'], connectedAt: at });
      broker.addSession({ tenant: 'acme', id: 's3', userId: null, channels: ['tickets'], connectedAt: at });
      broker.addSession({ tenant: 'globex', id: 's4', userId: 'u1', channels: ['orders'], connectedAt: at });
      const ids = async (filter: { channel?: string; userId?: string }, tenant = 'acme') =>
        (await broker.listSessions(tenant, filter)).map((s) => s.id).sort();
      expect(await ids({})).toEqual(['s1', 's2', 's3']);
      expect(await ids({ channel: 'orders' })).toEqual(['s1', 's2']);
      expect(await ids({ userId: 'u1' })).toEqual(['s1']);
      expect(await ids({ channel: 'tickets', userId: 'u2' })).toEqual([]);
      expect(await ids({}, 'globex')).toEqual(['s4']);
      expect((await broker.listSessions('acme', { userId: 'u1' }))[0]).toEqual({
        id: 's1',
        userId: 'u1',
        channels: ['orders', 'tickets'],
        connectedAt: at,
      });
      broker.removeSession('acme', 's1');
      expect(await ids({ channel: 'orders' })).toEqual(['s2']);
      broker.removeSession('acme', 'unknown');
      expect(await ids({})).toEqual(['s2', 's3']);
    });

    const token = (over: { tokenId?: string; userId?: string | null; issuedAt: number }) => ({
      tokenId: over.tokenId,
      userId: over.userId ?? null,
      issuedAt: over.issuedAt,
    });

    it('has no revocations for a tenant that never revoked', async () => {
      const { broker } = await make();
      const list = await broker.revocations('acme');
      expect(list.covers(token({ tokenId: 't1', userId: 'u1', issuedAt: clock - 1000 }))).toBe(false);
    });

    it("revokes a user's tokens issued strictly before the revocation time, not later ones, not other users'", async () => {
      const { broker } = await make();
      await broker.revocations('acme');
      const before = clock;
      await broker.revoke('acme', { kind: 'user', userId: 'u1', before });
      const list = await broker.revocations('acme');
      expect(list.covers(token({ userId: 'u1', issuedAt: before - 1 }))).toBe(true);
      expect(list.covers(token({ userId: 'u1', issuedAt: before }))).toBe(false);
      expect(list.covers(token({ userId: 'u2', issuedAt: before - 1 }))).toBe(false);
      expect(list.covers(token({ userId: null, issuedAt: before - 1 }))).toBe(false);
      // An earlier time for the same user never narrows a later revocation.
      await broker.revoke('acme', { kind: 'user', userId: 'u1', before: before - 5000 });
      expect((await broker.revocations('acme')).covers(token({ userId: 'u1', issuedAt: before - 1 }))).toBe(true);
    });

    it('revokes one token by id whenever it was issued, and a whole tenant by issue time', async () => {
      const { broker } = await make();
      await broker.revoke('acme', { kind: 'token', tokenId: 'tok-1', at: clock });
      let list = await broker.revocations('acme');
      expect(list.covers(token({ tokenId: 'tok-1', issuedAt: clock + 10_000 }))).toBe(true);
      expect(list.covers(token({ tokenId: 'tok-2', issuedAt: clock - 10_000 }))).toBe(false);
      await broker.revoke('acme', { kind: 'all', before: clock - 1000 });
      list = await broker.revocations('acme');
      expect(list.covers(token({ tokenId: 'tok-3', userId: 'u9', issuedAt: clock - 1001 }))).toBe(true);
      expect(list.covers(token({ tokenId: 'tok-3', userId: 'u9', issuedAt: clock - 1000 }))).toBe(false);
    });

    it('keeps revocations per tenant', async () => {
      const { broker } = await make();
      await broker.revoke('acme', { kind: 'all', before: clock });
      await broker.revoke('acme', { kind: 'token', tokenId: 'tok-1', at: clock });
      const globex = await broker.revocations('globex');
      expect(globex.covers(token({ tokenId: 'tok-1', userId: 'u1', issuedAt: clock - 1 }))).toBe(false);
    });

    it('hands a revocation to local control and answers the streams it ended', async () => {
      const { broker, local } = await make();
      // A node serving streams of the tenant has read its revocations first.
      await broker.revocations('acme');
      const revocation = { kind: 'user', userId: 'u1', before: clock } as const;
      expect(await broker.revoke('acme', revocation)).toBe(2);
      expect(local.controls).toEqual([{ tenant: 'acme', message: { type: 'revoke', revocation } }]);
    });

    it('broadcasts a disconnect to local control and answers the sum', async () => {
      const { broker, local } = await make();
      await broker.revocations('acme');
      local.controlAnswer = 3;
      const message: ControlMessage = { type: 'disconnect', userId: 'u1', channel: 'orders', reconnect: true };
      expect(await broker.broadcast('acme', message)).toBe(3);
      expect(local.controls).toEqual([{ tenant: 'acme', message }]);
      // Nothing is stored: a disconnect refuses no token.
      expect((await broker.revocations('acme')).covers(token({ userId: 'u1', issuedAt: clock - 1 }))).toBe(false);
    });

    it('refuses a revocation past the most kept per tenant with RATE_LIMITED, but takes a repeat of a held one', async () => {
      const { broker } = await make({ maxRevocations: 10 });
      for (let i = 0; i < 10; i++) await broker.revoke('acme', { kind: 'token', tokenId: `t${i}`, at: clock });
      await expect(broker.revoke('acme', { kind: 'token', tokenId: 'one-more', at: clock })).rejects.toMatchObject({
        code: 'RATE_LIMITED',
        status: 429,
      });
      await expect(broker.revoke('acme', { kind: 'token', tokenId: 't5', at: clock + 1 })).resolves.toBeTypeOf(
        'number',
      );
      await expect(broker.revoke('globex', { kind: 'token', tokenId: 'one-more', at: clock })).resolves.toBeTypeOf(
        'number',
      );
    });

    it('presence: a user joins once however many streams, with the newest userInfo; the join is in the log', async () => {
      const { broker } = await make();
      const p = broker.presence;
      expect(await p.occupy('acme', 'room')).toBe(true);
      expect(await p.occupy('acme', 'room')).toBe(false);
      expect(await p.join('acme', 'room', 'ada', '{"name":"Ada"}')).toBe(true);
      expect(await p.join('acme', 'room', 'ada', '{"name":"Ada L."}')).toBe(false);
      expect(await p.join('acme', 'room', 'bob', null)).toBe(true);
      const log = await broker.replay('acme', ['room'], at('0-0'));
      expect(log.events.map((e) => [e.event, JSON.parse(e.data)])).toEqual([
        ['presence.join', { channel: 'room', userId: 'ada', userInfo: { name: 'Ada' } }],
        ['presence.join', { channel: 'room', userId: 'bob', userInfo: null }],
      ]);
      const snap = await p.snapshot('acme', ['room', 'empty']);
      expect(snap.position).toEqual(log.events[1]!.position);
      const members = [...snap.channels[0]!.members].sort((a, b) => a.userId.localeCompare(b.userId));
      expect(members).toEqual([
        { userId: 'ada', userInfo: { name: 'Ada L.' }, connections: 2 },
        { userId: 'bob', userInfo: null, connections: 1 },
      ]);
      expect(snap.channels[1]).toEqual({ channel: 'empty', members: [], connections: 0 });
      // Other tenants see nothing of it.
      expect((await p.snapshot('globex', ['room'])).channels[0]!.members).toEqual([]);
    });

    it('presence: a user leaves once, only after the grace period, and not while another stream remains', async () => {
      const { broker } = await make();
      const p = broker.presence;
      await p.join('acme', 'room', 'ada', null);
      await p.join('acme', 'room', 'ada', null);
      await p.part('acme', 'room', 'ada');
      clock += 10_000;
      expect(await p.settleMember('acme', 'room', 'ada', 5000)).toBe(false);
      await p.part('acme', 'room', 'ada');
      clock += 4000;
      expect(await p.settleMember('acme', 'room', 'ada', 5000)).toBe(false);
      // In the grace period the member is still there, with no stream.
      expect((await p.snapshot('acme', ['room'])).channels[0]!.members).toEqual([
        { userId: 'ada', userInfo: null, connections: 0 },
      ]);
      clock += 1000;
      expect(await p.settleMember('acme', 'room', 'ada', 5000)).toBe(true);
      expect(await p.settleMember('acme', 'room', 'ada', 5000)).toBe(false);
      const log = await broker.replay('acme', ['room'], at('0-0'));
      expect(log.events.map((e) => e.event)).toEqual(['presence.join', 'presence.leave']);
      expect(JSON.parse(log.events[1]!.data)).toEqual({ channel: 'room', userId: 'ada', userInfo: null });
      expect((await p.snapshot('acme', ['room'])).channels[0]!.members).toEqual([]);
    });

    it('presence: a reconnect within the grace period produces neither a leave nor a join', async () => {
      const { broker } = await make();
      const p = broker.presence;
      await p.occupy('acme', 'room');
      await p.join('acme', 'room', 'ada', null);
      await p.part('acme', 'room', 'ada');
      await p.release('acme', 'room');
      clock += 2000;
      expect(await p.occupy('acme', 'room')).toBe(false);
      expect(await p.join('acme', 'room', 'ada', null)).toBe(false);
      clock += 10_000;
      expect(await p.settleMember('acme', 'room', 'ada', 5000)).toBe(false);
      expect(await p.settleChannel('acme', 'room', 5000)).toBe(false);
      expect((await broker.replay('acme', ['room'], at('0-0'))).events.map((e) => e.event)).toEqual(['presence.join']);
    });

    it('occupancy: a channel is vacated once, after the grace period of its last stream', async () => {
      const { broker } = await make();
      const p = broker.presence;
      expect(await p.occupy('acme', 'room')).toBe(true);
      await p.release('acme', 'room');
      clock += 4999;
      expect(await p.settleChannel('acme', 'room', 5000)).toBe(false);
      clock += 1;
      expect(await p.settleChannel('acme', 'room', 5000)).toBe(true);
      expect(await p.settleChannel('acme', 'room', 5000)).toBe(false);
      expect(await p.occupy('acme', 'room')).toBe(true);
    });

    it('presence: the snapshot is at a log position, so it and the events after it make the membership', async () => {
      const { broker } = await make();
      const p = broker.presence;
      await p.join('acme', 'room', 'ada', null);
      const [other] = await broker.publish('acme', [ev('room', 1)]);
      const snap = await p.snapshot('acme', ['room']);
      expect(snap.position).toEqual(other!.event.position);
      await p.join('acme', 'room', 'bob', null);
      await p.part('acme', 'room', 'ada');
      clock += 6000;
      await p.settleMember('acme', 'room', 'ada', 5000);
      const after = await broker.replay('acme', ['room'], snap.position!);
      const members = new Set(snap.channels[0]!.members.map((m) => m.userId));
      for (const e of after.events) {
        const { userId } = JSON.parse(e.data) as { userId: string };
        if (e.event === 'presence.join') members.add(userId);
        if (e.event === 'presence.leave') members.delete(userId);
      }
      const now = await p.snapshot('acme', ['room']);
      expect([...members].sort()).toEqual(now.channels[0]!.members.map((m) => m.userId).sort());
      expect([...members]).toEqual(['bob']);
    });

    it('lists occupied channels in name order with connection and user counts, by prefix, page by page', async () => {
      const { broker } = await make();
      const p = broker.presence;
      const at = new Date().toISOString();
      const names = ['room:a', 'room:b', 'room:c', 'lobby', 'room:d'];
      names.forEach((ch, i) => {
        broker.addSession({ tenant: 'acme', id: `s${i}`, userId: `u${i}`, channels: [ch], connectedAt: at });
      });
      broker.addSession({ tenant: 'acme', id: 'anon', userId: null, channels: ['room:a'], connectedAt: at });
      for (const [i, ch] of names.entries()) {
        await p.occupy('acme', ch);
        await p.join('acme', ch, `u${i}`, null);
      }
      const first = await p.channels('acme', { prefix: 'room:', after: undefined, limit: 2 });
      expect(first.channels).toEqual([
        { channel: 'room:a', connections: 2, users: 1 },
        { channel: 'room:b', connections: 1, users: 1 },
      ]);
      expect(first.next).toBe('room:b');
      const second = await p.channels('acme', { prefix: 'room:', after: first.next, limit: 2 });
      expect(second.channels.map((c) => c.channel)).toEqual(['room:c', 'room:d']);
      expect(second.next).toBeUndefined();
      expect(
        (await p.channels('acme', { prefix: '', after: undefined, limit: 10 })).channels.map((c) => c.channel),
      ).toEqual(['lobby', 'room:a', 'room:b', 'room:c', 'room:d']);
      expect((await p.channels('globex', { prefix: '', after: undefined, limit: 10 })).channels).toEqual([]);
      // A channel whose last stream closed is not listed, even in its grace period.
      broker.removeSession('acme', 's3');
      await p.release('acme', 'lobby');
      expect((await p.channels('acme', { prefix: 'lob', after: undefined, limit: 10 })).channels).toEqual([]);
    });

    it('is ready once started', async () => {
      const { broker } = await make();
      expect(await broker.ready()).toBe(true);
      expect(broker.kind).toBe(name);
    });
  });
}
