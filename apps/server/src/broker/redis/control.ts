import { randomUUID } from 'node:crypto';
import { CastError } from '@cast/protocol';
import {
  MAX_REVOCATIONS_PER_TENANT,
  type Revocation,
  RevocationList,
  type Revocations,
  revocationFromMember,
  revocationMember,
  revocationTime,
} from '../../revocation/list.js';
import type { RedisKeys } from './keys.js';
import type { ControlMessage, LocalDelivery } from '../types.js';
import type { PubSub } from './connection.js';
import type { ScriptClient } from './scripts.js';
import type { SentCall } from './errors.js';

/** What the control room uses of its broker. */
export interface ControlHost {
  cmd: ScriptClient;
  pubsub: PubSub;
  keys: RedisKeys;
  node: string;
  timeoutMs: number;
  now(): number;
  /** How long a revocation is kept after its time, ms. */
  revocationTtlMs: number;
  /** Most revocations held per tenant. @defaultValue MAX_REVOCATIONS_PER_TENANT */
  maxRevocations: number | undefined;
  local(): LocalDelivery | undefined;
  /** Notes a call of the tenant's as it is sent (for {@link unavailable}). */
  sending(tenant: string, write: boolean): SentCall;
  /** The 503 of a failed call; `sent` says what was known as it was sent. */
  unavailable(err: unknown, what: string, sent?: SentCall): CastError;
  log(line: string): void;
}

/**
 * This node's copy of one tenant's revocations. Loaded once (after
 * subscribing to the tenant's control channel, so nothing falls between),
 * then kept current by the control messages; read again after the
 * subscription was lost.
 */
interface Mirror {
  readonly list: RevocationList;
  subscribed: boolean;
  loaded: boolean;
  /** Control messages may have been missed since the last read. */
  stale: boolean;
  /** Bumped when the control subscription is lost: a read that began before is stale. */
  losses: number;
  loading: Promise<void> | undefined;
}

/** A control message this node sent, collecting the answers of the nodes it reached. */
interface PendingReplies {
  sum: number;
  got: number;
  /** How many nodes the message reached (known once the publish returns). */
  expected: number | undefined;
  resolve: () => void;
}

/** A control message on the wire: who sent it (for the answer) and what it says. */
interface ControlEnvelope {
  id: string;
  from: string;
  message: ControlMessage;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => {
    setTimeout(resolve, ms).unref?.();
  });
}

/**
 * Revocations and control messages. Revocations live in a per-tenant sorted
 * set that expires a max token TTL after its last write; each node keeps a
 * copy per tenant it serves (read once, then updated by the tenant's control
 * channel), so a stream open costs no round trip. Control messages (revoke,
 * disconnect) reach every node subscribed to the tenant's control channel;
 * each answers its count on the sender's reply channel, and the publish says
 * how many answers to await.
 *
 * @example
 * ```ts
 * const control = new RedisControl(host)
 * await control.revoke('acme', { kind: 'user', userId: 'ada', at: Date.now() })
 * ```
 */
export class RedisControl {
  private readonly mirrors = new Map<string, Mirror>();
  private readonly replies = new Map<string, PendingReplies>();
  /** Subscribed to this node's reply channel. */
  private repliesSubscribed = false;
  private subscribing = false;
  private lastPrune = 0;

  constructor(private readonly host: ControlHost) {}

  broadcast(tenant: string, message: ControlMessage): Promise<number> {
    return this.send(tenant, message, undefined);
  }

  revoke(tenant: string, revocation: Revocation): Promise<number> {
    return this.send(tenant, { type: 'revoke', revocation }, revocation);
  }

  async revocations(tenant: string): Promise<Revocations> {
    const known = this.mirrors.get(tenant);
    if (known?.loaded && !known.stale) return known.list;
    const mirror = known ?? this.newMirror(tenant);
    const sent = this.host.sending(tenant, false);
    try {
      await this.load(tenant, mirror);
    } catch (err) {
      // Cut off from Redis: the copy read before is the best knowledge there is; with none, refuse.
      if (mirror.loaded) return mirror.list;
      throw this.host.unavailable(err, 'the revocation check', sent);
    }
    return mirror.list;
  }

  private newMirror(tenant: string): Mirror {
    const mirror: Mirror = {
      list: new RevocationList(this.host.revocationTtlMs),
      subscribed: false,
      loaded: false,
      stale: false,
      losses: 0,
      loading: undefined,
    };
    this.mirrors.set(tenant, mirror);
    return mirror;
  }

  /**
   * Subscribes to the tenant's control channel (once), then reads its
   * revocation set into the mirror. Revocations that were not in the mirror
   * (made while this node was cut off) end the streams they cover.
   */
  private load(tenant: string, mirror: Mirror): Promise<void> {
    const { host } = this;
    mirror.loading ??= (async () => {
      const losses = mirror.losses;
      try {
        if (!mirror.subscribed) {
          if (!host.pubsub.ready()) throw new Error('the subscriber connection is not ready');
          const done = await host.pubsub.subscribe([host.keys.control(tenant)]);
          if (done.length === 0) throw new Error('the subscription to the control channel failed');
          if (losses !== mirror.losses) throw new Error('the subscriber connection was lost');
          mirror.subscribed = true;
        }
        const flat = await host.cmd.zrange(host.keys.revocations(tenant), 0, -1, 'WITHSCORES');
        const added: Revocation[] = [];
        for (let i = 0; i + 1 < flat.length; i += 2) {
          const r = revocationFromMember(flat[i] as string, Number(flat[i + 1]));
          if (r && mirror.list.add(r)) added.push(r);
        }
        mirror.list.prune(host.now());
        mirror.loaded = true;
        mirror.stale = losses !== mirror.losses || !mirror.subscribed;
        for (const revocation of added) this.local(tenant, { type: 'revoke', revocation });
      } finally {
        mirror.loading = undefined;
      }
    })();
    return mirror.loading;
  }

  /** A subscription ended: the reply channel, or a tenant's control channel. */
  lost(channel: string): void {
    if (channel === this.host.keys.replies(this.host.node)) {
      this.repliesSubscribed = false;
      return;
    }
    const tenant = this.host.keys.tenantOfControl(channel);
    const mirror = tenant === undefined ? undefined : this.mirrors.get(tenant);
    if (!mirror) return;
    // Control messages sent from now on may be missed: read the set again when back.
    mirror.subscribed = false;
    mirror.stale = true;
    mirror.losses++;
  }

  /**
   * Subscribes to this node's reply channel and the control channel of every
   * mirror that lost its subscription, then reads again the mirrors that may
   * have missed messages.
   */
  repair(): void {
    const { host } = this;
    this.prune();
    for (const [tenant, mirror] of this.mirrors)
      if (mirror.subscribed && mirror.stale) this.load(tenant, mirror).catch(() => {});
    if (this.subscribing || !host.pubsub.ready()) return;
    const replies = host.keys.replies(host.node);
    const wanted = [...this.mirrors].filter(([, m]) => !m.subscribed && m.loading === undefined);
    const losses = new Map(wanted.map(([, m]) => [m, m.losses]));
    const channels = [
      ...(this.repliesSubscribed ? [] : [replies]),
      ...wanted.map(([tenant]) => host.keys.control(tenant)),
    ];
    if (channels.length === 0) return;
    this.subscribing = true;
    host.pubsub
      .subscribe(channels)
      .then((done) => {
        const ok = new Set(done);
        if (ok.has(replies)) this.repliesSubscribed = true;
        for (const [tenant, mirror] of wanted) {
          if (!ok.has(host.keys.control(tenant)) || losses.get(mirror) !== mirror.losses) continue;
          mirror.subscribed = true;
          if (mirror.loaded) this.load(tenant, mirror).catch(() => {});
        }
      })
      .catch(() => {
        // The next repair retries.
      })
      .finally(() => {
        this.subscribing = false;
      });
  }

  /**
   * Publishes a control message to the tenant's control channel (storing the
   * revocation with it, atomically, for `revoke`) and sums the answers of the
   * nodes it reached, waiting at most the command timeout.
   */
  private async send(tenant: string, message: ControlMessage, revocation: Revocation | undefined): Promise<number> {
    const { host } = this;
    const what = revocation ? 'the revocation' : 'the disconnect';
    if (!this.repliesSubscribed) {
      // Just started or reconnected: the answers must have somewhere to arrive before anything is sent.
      const replies = host.keys.replies(host.node);
      let done: string[];
      try {
        done = host.pubsub.ready() ? await host.pubsub.subscribe([replies]) : [];
      } catch (err) {
        throw host.unavailable(err, what, { tenant, write: true, up: false, unsent: true });
      }
      if (done.length === 0)
        throw host.unavailable(new Error('the subscriber connection is not ready'), what, {
          tenant,
          write: true,
          up: false,
          unsent: true,
        });
      this.repliesSubscribed = true;
    }
    const id = randomUUID();
    const envelope: ControlEnvelope = { id, from: host.node, message };
    const payload = JSON.stringify(envelope);
    let resolve!: () => void;
    const done = new Promise<void>((r) => {
      resolve = r;
    });
    const pending: PendingReplies = { sum: 0, got: 0, expected: undefined, resolve };
    this.replies.set(id, pending);
    const maxRevocations = host.maxRevocations ?? MAX_REVOCATIONS_PER_TENANT;
    try {
      let reached: number;
      const sent = host.sending(tenant, true);
      try {
        if (revocation) {
          const now = host.now();
          const oldest = now - host.revocationTtlMs;
          const time = revocationTime(revocation);
          reached = Number(
            await host.cmd.castRevoke(
              host.keys.revocations(tenant),
              host.keys.control(tenant),
              revocationMember(revocation),
              time,
              oldest,
              host.revocationTtlMs + 60_000,
              maxRevocations,
              payload,
              time >= oldest ? '1' : '0',
            ),
          );
        } else {
          reached = Number(await host.cmd.spublish(host.keys.control(tenant), payload));
        }
      } catch (err) {
        throw host.unavailable(err, what, sent);
      }
      if (reached < 0) {
        throw new CastError(
          'RATE_LIMITED',
          `The tenant holds ${maxRevocations} revocations, the most kept at once; revoke by user or by issue time instead of token by token.`,
          { retryAfter: 60 },
        );
      }
      pending.expected = reached;
      if (pending.got < reached) await Promise.race([done, sleep(host.timeoutMs)]);
      return pending.sum;
    } finally {
      this.replies.delete(id);
    }
  }

  /** A control message from any node (this one included): update the mirror, act locally, answer the count. */
  onControl(tenant: string, raw: Buffer): void {
    let envelope: ControlEnvelope;
    try {
      envelope = JSON.parse(raw.toString('utf8')) as ControlEnvelope;
    } catch {
      return;
    }
    const { id, from, message } = envelope;
    if (typeof id !== 'string' || typeof from !== 'string' || typeof message?.type !== 'string') return;
    if (message.type === 'revoke') this.mirrors.get(tenant)?.list.add(message.revocation);
    const count = this.local(tenant, message);
    if (this.host.cmd.status !== 'ready') return;
    this.host.cmd.spublish(this.host.keys.replies(from), JSON.stringify({ id, count })).catch(() => {});
  }

  private local(tenant: string, message: ControlMessage): number {
    try {
      return this.host.local()?.control?.(tenant, message) ?? 0;
    } catch (err) {
      this.host.log(`cast: a control message failed on this node: ${err instanceof Error ? err.message : String(err)}`);
      return 0;
    }
  }

  onReply(raw: Buffer): void {
    let reply: { id?: unknown; count?: unknown };
    try {
      reply = JSON.parse(raw.toString('utf8')) as { id?: unknown; count?: unknown };
    } catch {
      return;
    }
    const pending = typeof reply.id === 'string' ? this.replies.get(reply.id) : undefined;
    if (!pending) return;
    pending.sum += typeof reply.count === 'number' && Number.isFinite(reply.count) ? reply.count : 0;
    pending.got++;
    if (pending.expected !== undefined && pending.got >= pending.expected) pending.resolve();
  }

  /** Forgets revocations no valid token can match any more, about once a minute. */
  private prune(): void {
    const now = this.host.now();
    if (now - this.lastPrune < 60_000) return;
    this.lastPrune = now;
    for (const mirror of this.mirrors.values()) mirror.list.prune(now);
  }

  close(): void {
    for (const pending of this.replies.values()) pending.resolve();
    this.replies.clear();
  }
}
