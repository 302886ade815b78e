import type { ChannelInfo, EventPosition, PresenceMember, SessionInfo } from '@cast/protocol';
import type { Revocation, Revocations } from '../revocation/list.js';

/** One event as the broker logs and delivers it. */
export interface StoredEvent {
  /**
   * Position in the tenant's log; increases within a tenant. A value, parsed
   * once where the event enters (the broker's storage edge) and formatted
   * only where it leaves (an event id on the wire, a Redis argument).
   */
  readonly position: EventPosition;
  readonly channel: string;
  readonly event: string;
  /** The payload as JSON text (serialized once, at publish). */
  readonly data: string;
  /** The message id returned to the publisher (a UUID). */
  readonly messageId: string;
}

/** One event to publish; `data` is already JSON text and validated. */
export interface PublishInput {
  channel: string;
  event: string;
  data: string;
  /** Deduplicates retries within the idempotency window, per tenant. */
  idempotencyKey?: string;
}

/** What a publish did. */
export interface PublishOutcome {
  event: StoredEvent;
  /** Stream connections that received it at publish time (all nodes). */
  delivered: number;
  /** True when the idempotency key was seen before: nothing was published again. */
  duplicate: boolean;
}

/** What a replay found. */
export interface ReplayResult {
  /** Events after the given position on the asked channels, in order. */
  events: StoredEvent[];
  /** False when some events after the position are no longer (or were never) held. */
  recovered: boolean;
}

/** What one page of a replay found (see {@link Broker.replayPage}). */
export interface ReplayPage {
  /** Events after the given position on the asked channels, in order; at most about `maxBytes` of them (at least one when any is left). */
  events: StoredEvent[];
  /** False when some events after the position are no longer (or were never) held. Meaningful on a replay's first page. */
  recovered: boolean;
  /** Where the next page starts (exclusive); undefined when this page reached the log's end. */
  next: EventPosition | undefined;
  /**
   * When `next` is undefined: the log position this replay covers up to (the
   * log's newest position when read, or less when live delivery on this node
   * is behind it); undefined when the log holds nothing. Live events after it
   * reach the stream through live delivery.
   */
  end: EventPosition | undefined;
}

/** A connection's registration, for the sessions listing. */
export interface SessionRecord extends SessionInfo {
  tenant: string;
  /**
   * The event types the stream takes (its `types` or `topic` filter, as
   * patterns); undefined when it takes every event. Brokers that count
   * `delivered` from registrations (Redis) count the stream only for the
   * events these match.
   */
  types?: readonly string[] | undefined;
  /**
   * Told by a broker whose `delivered` counts come from registrations (Redis)
   * the log position at the moment this session started to count: live events
   * at or before it were not counted for it and must not reach it (undefined:
   * the log held nothing, or the position is unknown).
   */
  startAfter?(position: EventPosition | undefined): void;
}

/**
 * A message for the hub of every node (see {@link Broker.broadcast}); each
 * hub answers how many of its streams it ended.
 * - `revoke`: end the streams of the tokens the revocation covers, with a
 *   final `revoked` event;
 * - `disconnect`: end the streams of a user or one session (only those
 *   holding `channel`, when given), with a final `disconnected` event.
 */
export type ControlMessage =
  | { type: 'revoke'; revocation: Revocation }
  | { type: 'disconnect'; userId?: string; sessionId?: string; channel?: string; reconnect: boolean };

/**
 * The node-local side of fan-out: the broker hands each event of a tenant
 * this node listens to, exactly once and in position order; the hub writes it
 * to the matching local connections and says how many received it.
 */
export interface LocalDelivery {
  deliver(tenant: string, event: StoredEvent): number;
  /**
   * The broker may have missed events of this tenant that its open streams on
   * this node should have had (a scale-out broker cut off from its log for
   * longer than the log keeps events). Ends those streams so each client
   * resumes by replay and learns whether history was recovered.
   */
  reset?(tenant: string): void;
  /** Acts on a control message for this node's streams of a tenant; returns how many streams it ended. */
  control?(tenant: string, message: ControlMessage): number;
}

/** The presence of some channels of a tenant at one point of its log. */
export interface PresenceSnapshot {
  /**
   * The log position the state is at: the state after every event up to it
   * and before every later one. Undefined when the tenant's log is empty.
   */
  position: EventPosition | undefined;
  channels: Array<{ channel: string; members: PresenceMember[]; connections: number }>;
}

/** A presence or occupancy change the store decided, to report once for the cluster. */
export interface PresenceChange {
  type: 'channel.occupied' | 'channel.vacated' | 'presence.join' | 'presence.leave';
  tenant: string;
  channel: string;
  userId?: string;
}

/** One page of a tenant's occupied channels, in name order. */
export interface ChannelPage {
  channels: ChannelInfo[];
  /** The last name looked at, to continue after; undefined when there are no more. */
  next: string | undefined;
}

/**
 * Cluster-wide presence and occupancy. Each node reports what its own streams
 * do; the store combines every node's part, decides joins, leaves, occupancy
 * and vacancy once for the cluster in atomic steps, and appends
 * `presence.join` / `presence.leave` to the channel's log through the normal
 * publish path. A user or channel whose last stream closed is kept until a
 * `settle*` call after the grace period, so a reconnect flaps nothing.
 */
export interface PresenceStore {
  /** This node's first stream on a channel opened. Resolves true when the channel became occupied cluster-wide. */
  occupy(tenant: string, channel: string): Promise<boolean>;
  /** This node's last stream on a channel closed (the vacancy is decided by {@link settleChannel}). */
  release(tenant: string, channel: string): Promise<void>;
  /** After the grace period: resolves true when the channel became vacant cluster-wide. */
  settleChannel(tenant: string, channel: string, graceMs: number): Promise<boolean>;
  /**
   * A stream of a user opened on a channel (once per stream). Resolves true
   * when the user joined: `presence.join` was appended to the log.
   * `userInfo` is JSON text or null; the newest stream's wins.
   */
  join(tenant: string, channel: string, userId: string, userInfo: string | null): Promise<boolean>;
  /** A stream of a user on a channel closed (once per stream). */
  part(tenant: string, channel: string, userId: string): Promise<void>;
  /** After the grace period: resolves true when the user left (`presence.leave` was appended). */
  settleMember(tenant: string, channel: string, userId: string, graceMs: number): Promise<boolean>;
  /** The members and connection counts of channels, at one log position for all of them. */
  snapshot(tenant: string, channels: readonly string[]): Promise<PresenceSnapshot>;
  /** A page of the tenant's channels with at least one connection, names after `after` starting with `prefix`. */
  channels(tenant: string, query: { prefix: string; after: string | undefined; limit: number }): Promise<ChannelPage>;
  /**
   * Sets this node's whole part for a tenant (after Redis was unreachable and
   * some steps were lost). Answers the changes it decided; channels and users
   * it dropped are settled by the caller after the grace period.
   */
  rewrite(
    tenant: string,
    part: {
      channels: readonly string[];
      members: ReadonlyArray<{ channel: string; userId: string; userInfo: string | null; count: number }>;
    },
  ): Promise<PresenceChange[]>;
  /**
   * Resolves true once this node has handed its hub every event of the
   * tenant up to `position` (false when it could not within its timeout).
   */
  caughtUp(tenant: string, position: EventPosition): Promise<boolean>;
  /** True once after the store may have lost this node's part (Redis came back): every tenant should be rewritten. */
  lost?(): boolean;
  /** Removes the part of nodes gone for longer than their TTL plus the grace period, once for the cluster. */
  reap(graceMs: number): Promise<PresenceChange[]>;
}

/**
 * The one interface between the HTTP layer and the event engine. The memory
 * broker (one process) and the Redis broker (several nodes) implement it; the
 * routes do not know which runs.
 */
export interface Broker {
  /** `memory` or `redis`, for logs and metrics. */
  readonly kind: string;
  /** Connects the broker to this node's hub. Called once before any other method. */
  start(local: LocalDelivery): Promise<void>;
  /** Logs and fans out events of one tenant, in order. Resolves after local delivery. */
  publish(tenant: string, inputs: readonly PublishInput[]): Promise<PublishOutcome[]>;
  /** Events of a tenant's channels after a position (exclusive), with whether that is all of them. */
  replay(tenant: string, channels: readonly string[], after: EventPosition): Promise<ReplayResult>;
  /**
   * One page of {@link replay}: events after a position, about `maxBytes` of
   * payload at most (never fewer than one event when any is left). A stream
   * reads the next page only once its socket has taken the previous one, so
   * a replay holds about one page in memory whatever the history's size. The
   * page that reaches the log's end also lines live delivery up with it: no
   * live event at or before `end` reaches this node's hub afterwards.
   */
  replayPage(tenant: string, channels: readonly string[], after: EventPosition, maxBytes: number): Promise<ReplayPage>;
  /** This node gained its first local subscriber to a tenant's channel. */
  listen(tenant: string, channel: string): void;
  /** This node lost its last local subscriber to a tenant's channel. */
  unlisten(tenant: string, channel: string): void;
  /**
   * Registers an open stream connection for the sessions listing and the
   * `delivered` counts. A promise when the registration takes a round trip
   * (Redis): it settles once the session counts everywhere and its
   * {@link SessionRecord.startAfter} floor is set, so the stream sends
   * `connected` only then.
   */
  addSession(session: SessionRecord): void | Promise<void>;
  /** Removes a closed stream connection. */
  removeSession(tenant: string, id: string): void;
  /** Active sessions of a tenant, optionally only those on a channel or of a user. */
  listSessions(tenant: string, filter: { channel?: string; userId?: string }): Promise<SessionInfo[]>;
  /**
   * Hands a control message to the hub of every node of the cluster (this
   * one included) and resolves with the sum of their answers. Nodes without
   * a stream of the tenant answer 0 or are not asked. A node that does not
   * answer within the command timeout is left out of the sum.
   */
  broadcast(tenant: string, message: ControlMessage): Promise<number>;
  /**
   * Stores a revocation, kept until no token it covers can still be valid
   * (its time plus the longest token lifetime), and broadcasts it so every
   * node ends the streams it covers. Resolves with how many were ended.
   * Fails with 429 `RATE_LIMITED` when the tenant already holds
   * `MAX_REVOCATIONS_PER_TENANT`.
   */
  revoke(tenant: string, revocation: Revocation): Promise<number>;
  /**
   * The tenant's revocations, to check a token against before its stream
   * opens. A local copy: no round trip once a node has read it.
   */
  revocations(tenant: string): Promise<Revocations>;
  /** Presence and occupancy, cluster-wide. */
  readonly presence: PresenceStore;
  /** Whether the broker can accept publishes now (for `/readyz`). */
  ready(): Promise<boolean>;
  /** Stops background work and closes connections. */
  close(): Promise<void>;
}
