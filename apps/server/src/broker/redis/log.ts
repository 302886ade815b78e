import type { EventPosition } from '@cast/protocol';
import { randomUUID } from 'node:crypto';
import type { CastError } from '@cast/protocol';
import { fingerprint, reusedKey } from '../idempotency.js';
import { comparePositions, formatRedisPosition, parseRedisPosition } from './codec.js';
import type { RedisKeys } from './keys.js';
import type { PublishInput, PublishOutcome, ReplayPage, ReplayResult, StoredEvent } from '../types.js';
import type { Fanout } from './fanout.js';
import { type ScriptClient, TENANT_KEYS, tenantKeys } from './scripts.js';
import type { SentCall } from './errors.js';

/** Events read from Redis per round trip when replaying or catching up. */
const PAGE = 1000;

/** One page of a tenant's log, as the read script answers it (its stream ids parsed). */
export interface PageResult {
  recovered: boolean;
  /** Events at or before it may be gone from the log. */
  floor: EventPosition | undefined;
  /** Where to read on from when the page was full; undefined otherwise. */
  more: EventPosition | undefined;
  events: StoredEvent[];
  /** The newest position of the log; undefined when it has none. */
  last: EventPosition | undefined;
}

/** What the log uses of its broker. */
export interface LogHost {
  cmd: ScriptClient;
  keys: RedisKeys;
  node: string;
  fanout: Fanout;
  /** The scripts' `now` argument ('' for Redis's clock). */
  scriptNow(): string;
  maxAgeMs: number;
  historySize: number;
  historyMaxBytes: number;
  idempotencyWindowMs: number;
  maxIdempotencyKeys: number;
  /** Most bytes a tenant's idempotency keys hold in Redis; -1 for no cap. */
  maxIdempotencyBytes: number;
  nodeTtlMs: number;
  /** Notes a call of the tenant's as it is sent (for {@link unavailable}). */
  sending(tenant: string, write: boolean): SentCall;
  /** The 503 of a failed call; `sent` says what was known as it was sent. */
  unavailable(err: unknown, what: string, sent?: SentCall): CastError;
}

/**
 * The tenant's log in Redis: publishing (one script appends, trims, answers
 * idempotency keys and publishes live, atomically) and reading it back for
 * replays and catch-ups.
 *
 * @example
 * ```ts
 * const log = new RedisLog(host)
 * const [outcome] = await log.publish('acme', [{ channel: 'orders', event: 'order.created', data: '{}' }])
 * ```
 */
export class RedisLog {
  constructor(private readonly host: LogHost) {}

  async publish(tenant: string, inputs: readonly PublishInput[]): Promise<PublishOutcome[]> {
    const { host } = this;
    const { fanout, keys } = host;
    const messageIds = inputs.map(() => randomUUID());
    // Events come back to this node through its own feed (one order for every
    // publisher); the hub's count for each is picked up there.
    const listening = fanout.listening(tenant);
    if (listening) for (const id of messageIds) fanout.expect(id);
    const prints = inputs.map((input) => (input.idempotencyKey === undefined ? '' : fingerprint(input)));
    const idemKeys = inputs
      .filter((i) => i.idempotencyKey !== undefined)
      .map((i) => `${keys.tenant(tenant)}idem:${i.idempotencyKey}`);
    const args: Array<string | number> = [
      keys.prefix,
      tenant,
      host.node,
      host.scriptNow(),
      host.maxAgeMs,
      host.historySize,
      host.idempotencyWindowMs,
      host.nodeTtlMs,
      host.maxAgeMs + 60_000,
      host.historyMaxBytes,
      host.maxIdempotencyKeys,
      host.maxIdempotencyBytes,
      inputs.length,
    ];
    inputs.forEach((input, i) => {
      args.push(
        input.channel,
        input.event,
        input.data,
        input.idempotencyKey ?? '',
        messageIds[i] as string,
        prints[i] as string,
      );
    });
    let reply: Array<[string, string, string?]>;
    const sent = host.sending(tenant, true);
    try {
      // The keys are declared so a cluster routes the script to the tenant's shard (and
      // answers TRYAGAIN rather than run while a moving slot has them on two shards).
      // The idempotency set, sizes and keys only when the batch has keys: a key that does not
      // exist makes a moving slot answer TRYAGAIN until the move is done.
      const more =
        idemKeys.length > 0 ? [`${keys.tenant(tenant)}idem`, `${keys.tenant(tenant)}idemsize`, ...idemKeys] : [];
      reply = (await host.cmd.castPublish(
        TENANT_KEYS + more.length,
        ...tenantKeys(keys, tenant),
        ...more,
        ...args,
      )) as Array<[string, string, string?]>;
    } catch (err) {
      for (const id of messageIds) fanout.settle(id);
      throw host.unavailable(err, 'the publish', sent);
    }
    if (reply[0]?.[0] === 'reused') {
      for (const id of messageIds) fanout.settle(id);
      throw reusedKey(reply[0][1]);
    }

    if (listening) await fanout.awaitLocal(messageIds.filter((_, i) => reply[i]?.[0] === '0'));

    const outcomes: PublishOutcome[] = [];
    const remember: Array<[string, string]> = [];
    reply.forEach((row, i) => {
      const input = inputs[i] as PublishInput;
      const messageId = messageIds[i] as string;
      const localCount = fanout.settle(messageId);
      if (row[0] === '1') {
        const [position, firstId, channel, event, delivered] = JSON.parse(row[1]) as string[];
        outcomes.push({
          // The log keeps the payload; the first answer does not, so a retry's own data stands in.
          event: {
            position: parseRedisPosition(position as string) as EventPosition,
            channel: channel as string,
            event: event as string,
            data: input.data,
            messageId: firstId as string,
          },
          delivered: Number(delivered) || 0,
          duplicate: true,
        });
        return;
      }
      const position = row[1];
      const delivered = Number(row[2] ?? 0) + (localCount ?? 0);
      outcomes.push({
        event: {
          position: parseRedisPosition(position) as EventPosition,
          channel: input.channel,
          event: input.event,
          data: input.data,
          messageId,
        },
        delivered,
        duplicate: false,
      });
      if (input.idempotencyKey !== undefined) {
        remember.push([
          `${keys.tenant(tenant)}idem:${input.idempotencyKey}`,
          JSON.stringify([position, messageId, input.channel, input.event, String(delivered), prints[i]]),
        ]);
      }
    });
    // Completes each first answer with the final count, keeping the key's window. One key (a
    // single publish) is one SET: ioredis builds a transaction as a pipeline that copies every
    // script command of the client, which cost a keyed publish about a fifth of its time.
    const [only] = remember;
    if (remember.length > 1) {
      // A batch's keys in one round trip (one slot: the tenant's).
      const m = host.cmd.multi();
      for (const [key, value] of remember) m.set(key, value, 'KEEPTTL', 'XX');
      m.exec().catch(() => {});
    } else if (only) host.cmd.set(only[0], only[1], 'KEEPTTL', 'XX').catch(() => {});
    return outcomes;
  }

  async replay(tenant: string, channels: readonly string[], after: EventPosition): Promise<ReplayResult> {
    const events: StoredEvent[] = [];
    let recovered = true;
    let from = after;
    // Never stop early: the stream hand-off relies on the replay reaching the log's end.
    for (;;) {
      const page = await this.replayPage(tenant, channels, from, Number.MAX_SAFE_INTEGER);
      recovered &&= page.recovered;
      events.push(...page.events);
      if (page.next === undefined) break;
      from = page.next;
    }
    return { events, recovered };
  }

  async replayPage(
    tenant: string,
    channels: readonly string[],
    after: EventPosition,
    maxBytes: number,
  ): Promise<ReplayPage> {
    const page = await this.readPage(tenant, after, channels, true, maxBytes);
    if (page.more) return { events: page.events, recovered: page.recovered, next: page.more, end: undefined };
    const { events } = page;
    let end = page.last;
    // The stream hand-off drops live frames up to the replay's end and sends
    // every later one, so this node's feed must not deliver anything at or
    // before that end afterwards. The feed may be behind the log just read
    // (joining the tenant, or a pub/sub message still on its way): wait until
    // it has passed the log's end.
    const feed = this.host.fanout.feed(tenant);
    if (feed && end && comparePositions(feed.after, end) < 0) {
      await this.host.fanout.reaches(feed, end);
      if (comparePositions(feed.after, end) < 0) {
        // Still behind (its subscription is down): stop the replay where the
        // feed is; the feed delivers the rest live when it catches up.
        let keep = events.length;
        while (keep > 0 && comparePositions((events[keep - 1] as StoredEvent).position, feed.after) > 0) keep--;
        events.length = keep;
        end = feed.after;
      }
    }
    return { events, recovered: page.recovered, next: undefined, end };
  }

  /**
   * Reads one page of the log after a position.
   *
   * @param strict - a client's position: also not recovered when past the log's end
   */
  async readPage(
    tenant: string,
    after: EventPosition,
    channels: readonly string[],
    strict: boolean,
    maxBytes = Number.MAX_SAFE_INTEGER,
  ): Promise<PageResult> {
    const { host } = this;
    let reply: [number, string, string, string[], string];
    const sent = host.sending(tenant, false);
    try {
      reply = (await host.cmd.castRead(
        ...tenantKeys(host.keys, tenant),
        host.keys.prefix,
        tenant,
        host.scriptNow(),
        host.maxAgeMs,
        formatRedisPosition(after),
        PAGE,
        maxBytes,
        strict ? 1 : 0,
        channels.length,
        ...channels,
      )) as [number, string, string, string[], string];
    } catch (err) {
      throw host.unavailable(err, 'the replay', sent);
    }
    const [recovered, floor, more, flat, last] = reply;
    const events: StoredEvent[] = [];
    for (let i = 0; i + 4 < flat.length; i += 5) {
      events.push({
        position: parseRedisPosition(flat[i] as string) as EventPosition,
        channel: flat[i + 1] as string,
        event: flat[i + 2] as string,
        data: flat[i + 3] as string,
        messageId: flat[i + 4] as string,
      });
    }
    return {
      recovered: recovered === 1,
      floor: parseRedisPosition(floor),
      more: more === '' ? undefined : parseRedisPosition(more),
      events,
      last: last === '' ? undefined : parseRedisPosition(last),
    };
  }
}
