import { comparePositions, type EventMatcher, type EventPosition } from '@cast/protocol';
import { isPresenceEvent } from '../presence/events.js';
import type { SessionRecord } from '../broker/types.js';
import type { RevocableToken } from '../revocation/list.js';
import type { Expiring } from './expiry.js';
import type { SinkListener, StreamSink } from './sink.js';

/**
 * What a stream queues: bytes (the constant and control frames), or an
 * event's frame as text (see `eventFrame`). An event's text becomes bytes
 * once per flush, shared by every stream that queued it: a string per event
 * costs the garbage collector far less than a `Buffer` per event.
 */
export type Frame = Uint8Array | string;

/**
 * The bytes a frame takes on the wire.
 *
 * @param frame - the frame
 * @returns its length in bytes (UTF-8 for text)
 * @example
 * ```ts
 * frameBytes('data: é\n\n') // 10
 * ```
 */
export function frameBytes(frame: Frame): number {
  return typeof frame === 'string' ? Buffer.byteLength(frame) : frame.byteLength;
}

/** An event's frame with its log position, as a replay page or a held live event carries it. */
export interface LogFrame {
  at: EventPosition;
  frame: Frame;
}

/** Why the server closed a stream. */
export type CloseReason = 'client' | 'slow' | 'expired' | 'shutdown' | 'revoked' | 'disconnected';

/** Who is told when a connection ends (the hub). */
export interface StreamOwner {
  /** Called once when the connection ends, whatever the reason. */
  remove(conn: StreamConnection, reason: CloseReason): void;
}

/** Options of {@link StreamConnection}. */
export interface StreamConnectionOptions {
  id: string;
  tenant: string;
  channels: string[];
  userId: string | null | undefined;
  /** Whether the stream receives presence events (its matcher already says so). @defaultValue false */
  presence?: boolean | undefined;
  /** The token's `userInfo` as JSON text. @defaultValue null */
  userInfo?: string | null | undefined;
  /** The patterns of its filter, sorted, for brokers that count `delivered` by registration; undefined: every event. */
  types?: readonly string[] | undefined;
  matcher: EventMatcher;
  /** Unsent bytes after which the connection is dropped as a slow consumer. */
  maxPendingBytes: number;
  /**
   * How long a replay waits for its peer to take any of a page before the
   * connection is dropped as a slow consumer, ms. @defaultValue 30_000
   */
  stallMs?: number;
  /** When the stream's token expires (ms since the epoch); undefined: never. */
  expiresAt?: number | undefined;
  /** The stream token's id (`jti`), for revocation by token; undefined without one. */
  tokenId?: string | undefined;
  /** When the stream's token was issued (ms since the epoch), for revocations; undefined: never revoked by time. */
  issuedAt?: number | undefined;
  /** Told once when the connection ends, whatever the reason. */
  owner: StreamOwner;
}

/** Before every position: a stream that has sent nothing yet. */
const NO_POSITION: EventPosition = { ms: -1, seq: -1 };

/**
 * Connections with frames for the flush under way (from `dirtyHead` on) or
 * the next one, each once (see {@link enqueue}). Arrays reused from flush to
 * flush, not sets: at 10k streams a set filled and emptied on every flush
 * reallocated its table each time. A connection that closes meanwhile stays
 * in place and writes nothing.
 */
const dirty: Array<StreamConnection | undefined> = [];
let dirtyCount = 0;
let dirtyHead = 0;
let flushScheduled = false;

/**
 * The chunk last joined in this flush and the frames it joins. Subscribers of
 * one channel queue the very same frame objects in a turn, so the next
 * connection with the same frames reuses the bytes instead of joining its own
 * copy: one allocation per turn and channel, not one per subscriber.
 */
let lastJoined: { frames: readonly Frame[]; chunk: Uint8Array } | undefined;
/** The last frame text encoded and its bytes, for the same reason: one encoding per flush, not one per subscriber. */
let lastEncoded: { text: string; bytes: Buffer } | undefined;

/** When the last flush of every queued connection ended, and how long it took (ms, `performance.now()`). */
let lastFlushEnd = 0;
let lastFlushCost = 0;
/** The longest a flush waits for the previous one's cost to pass. */
const MAX_COALESCE_MS = 100;

/**
 * The longest one slice of a flush writes before the event loop takes other
 * work (requests, timers) and the flush goes on, ms: at 10k subscribers a
 * flush writes for about 100 ms, which API requests must not wait out.
 */
const FLUSH_SLICE_MS = 10;
/** Connections written between two looks at the clock. */
const SLICE_CHECK_EVERY = 64;
/** Time spent writing in the slices of the flush under way, ms. */
let flushBusy = 0;
/** The number of the flush under way (its slices share it); 0 between flushes. */
let flushRound = 0;
/** Flushes numbered so far: the next one is `rounds + 1`. */
let rounds = 0;
/** Connections written in this flush that queued again meanwhile: the next flush's (the first `nextCount`). */
const next: Array<StreamConnection | undefined> = [];
let nextCount = 0;

function flushAll(): void {
  const start = performance.now();
  flushScheduled = false;
  if (flushRound === 0) flushRound = ++rounds;
  lastJoined = undefined;
  lastEncoded = undefined;
  let written = 0;
  // One queued meanwhile (to a connection this flush has not reached yet) is added at the end and flushed too.
  while (dirtyHead < dirtyCount) {
    const conn = dirty[dirtyHead] as StreamConnection;
    dirty[dirtyHead++] = undefined;
    conn.flush();
    if (++written % SLICE_CHECK_EVERY === 0 && performance.now() - start >= FLUSH_SLICE_MS) break;
  }
  lastJoined = undefined;
  lastEncoded = undefined;
  const end = performance.now();
  flushBusy += end - start;
  if (dirtyHead < dirtyCount) {
    // The rest after what waited meanwhile; frames queued in between for connections still to come join their writes.
    flushScheduled = true;
    setImmediate(flushAll);
    return;
  }
  lastFlushEnd = end;
  lastFlushCost = flushBusy;
  flushBusy = 0;
  flushRound = 0;
  dirtyHead = 0;
  dirtyCount = 0;
  if (nextCount > 0) {
    for (let i = 0; i < nextCount; i++) {
      dirty[dirtyCount++] = next[i];
      next[i] = undefined;
    }
    nextCount = 0;
    scheduleFlush();
  }
}

/** Queues a connection with its first frame for a flush: this one, or the next when this one wrote it already. */
function enqueue(conn: StreamConnection, writtenRound: number): void {
  if (flushRound !== 0 && writtenRound === flushRound) next[nextCount++] = conn;
  else {
    dirty[dirtyCount++] = conn;
    if (!flushScheduled && flushRound === 0) scheduleFlush();
  }
}

/**
 * Schedules the flush of this turn's frames: at the end of the turn, unless
 * the last flush ended less than half its own cost (the time its slices spent
 * writing) ago. Writing one event at a time to every socket costs a fixed
 * amount per socket, so when events come about as fast as a flush takes,
 * flushing each on its own keeps the process writing without a pause and lets
 * a queue build; waiting that long lets what arrives meanwhile go out in the
 * same writes (at most two thirds of the time spent flushing, the wait capped
 * at {@link MAX_COALESCE_MS}). At lower rates the wait has passed when the
 * next event comes, and nothing is delayed.
 *
 * A flush writes in slices of {@link FLUSH_SLICE_MS}; between them requests
 * and timers run. A frame queued meanwhile joins the write of a connection
 * the flush has not reached yet; a connection it already wrote takes the
 * frame in the next flush, so each connection is written once per flush.
 */
function scheduleFlush(): void {
  flushScheduled = true;
  const wait = Math.min(lastFlushEnd + lastFlushCost / 2 - performance.now(), MAX_COALESCE_MS);
  if (wait >= 1) setTimeout(flushAll, wait);
  else setImmediate(flushAll);
}

/** Whether the first `count` of `b` are the frames of `a`. */
function sameFrames(a: readonly Frame[], b: readonly Frame[], count: number): boolean {
  if (a.length !== count) return false;
  for (let i = 0; i < count; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** One chunk for the first `count` frames of a queue, shared with the previous connection when it queued the same frames. */
function join(queue: readonly Frame[], count: number, bytes: number): Uint8Array {
  if (lastJoined && sameFrames(lastJoined.frames, queue, count)) return lastJoined.chunk;
  const frames = queue.slice(0, count);
  const chunk = frames.every(isText)
    ? Buffer.from(frames.join(''))
    : Buffer.concat(
        frames.map((f) => (isText(f) ? Buffer.from(f) : f)),
        bytes,
      );
  lastJoined = { frames, chunk };
  return chunk;
}

const isText = (frame: Frame): frame is string => typeof frame === 'string';

/** The longest queue a connection keeps between writes (frames); a longer one is dropped after its write. */
const MAX_KEPT_QUEUE = 64;

/** The bytes of one frame's text, shared with the previous connection when it queued the same text. */
function encoded(text: string): Buffer {
  if (lastEncoded?.text === text) return lastEncoded.bytes;
  const bytes = Buffer.from(text);
  lastEncoded = { text, bytes };
  return bytes;
}

/**
 * One open SSE stream. Frames queued during one event-loop turn are written
 * with one socket write per connection (a publish burst to a thousand
 * subscribers costs a thousand writes, not a thousand times the burst), and
 * the same frame bytes are shared by every connection.
 *
 * While the connection replays history it holds live frames back; `goLive`
 * then releases those the replay did not already cover. Beyond that, the
 * connection remembers the last log position it sent and drops any later
 * frame at or before it: every event of a stream belongs to one tenant's log,
 * whose positions are totally ordered, so the hand-off stays free of
 * duplicates whatever the broker's timing.
 *
 * The connection is also its own session record (`connectedAt` is derived
 * when listed) and its own entry in the hub's expiry queue, so an idle stream
 * holds no copies.
 *
 * @example
 * ```ts
 * const conn = new StreamConnection(sink, { id, tenant, channels, userId, matcher,
 *   maxPendingBytes: 1 << 20, owner: hub });
 * hub.add(conn);
 * conn.send(frame);
 * ```
 */
export class StreamConnection implements SessionRecord, SinkListener, Expiring, RevocableToken {
  readonly id: string;
  readonly tenant: string;
  readonly channels: string[];
  readonly userId: string | null;
  readonly presence: boolean;
  readonly userInfo: string | null;
  readonly types: readonly string[] | undefined;
  readonly expiresAt: number;
  readonly tokenId: string | undefined;
  readonly issuedAt: number;
  /** Owned by the hub's expiry queue. */
  expiryIndex = -1;
  private readonly connectedAtMs = Date.now();
  private readonly matcher: EventMatcher;
  private readonly maxPending: number;
  private readonly owner: StreamOwner;
  private readonly sink: StreamSink;
  /** The first frame queued for the next write (`queuedCount` says how many there are). */
  private queued: Frame | undefined = undefined;
  /**
   * Every frame queued for the next write when there are two or more (the
   * first `queuedCount`). Kept from write to write and emptied in place: at
   * 10k streams, an array per stream and flush was most of what the server
   * allocated under load.
   */
  private queue: Frame[] | undefined = undefined;
  private queuedCount = 0;
  private queuedBytes = 0;
  /** The flush that last wrote this connection (see `enqueue`). */
  private writtenRound = 0;
  /** Held live frames, each marked when it is a presence event (a `presence.sync` replaces those up to its position). */
  private held: Array<LogFrame & { bytes: number; presence: boolean }> | undefined = undefined;
  private heldBytes = 0;
  /** Held live frames were dropped (over the limit) since {@link takeDropped} last asked. */
  private heldDropped = false;
  /** The hold is a replay's (which covers the log from its resume point), not a fresh stream's wait for its presence snapshot. */
  private replayHold = false;
  /** The last log position sent ({@link NO_POSITION}: none yet). */
  private last: EventPosition = NO_POSITION;
  /** The bytes of the replay page being written, tolerated above the limit until the peer has taken it. */
  private page = 0;
  private readonly stallMs: number;
  /** Settles the pending {@link sendPage} wait (false: the connection ended). */
  private pageWait: ((taken: boolean) => void) | undefined = undefined;
  private closed = false;

  constructor(sink: StreamSink, options: StreamConnectionOptions) {
    this.sink = sink;
    this.id = options.id;
    this.tenant = options.tenant;
    this.channels = options.channels;
    this.userId = options.userId ?? null;
    this.presence = options.presence ?? false;
    this.userInfo = options.userInfo ?? null;
    this.types = options.types;
    this.expiresAt = options.expiresAt ?? Number.POSITIVE_INFINITY;
    this.tokenId = options.tokenId;
    // A stream without a token issue time (an API-key stream) is never covered by a time-based revocation.
    this.issuedAt = options.issuedAt ?? Number.POSITIVE_INFINITY;
    this.matcher = options.matcher;
    this.maxPending = options.maxPendingBytes;
    this.stallMs = options.stallMs ?? 30_000;
    this.owner = options.owner;
    sink.onClose(this);
  }

  /** When the connection opened, ISO 8601 (for the sessions listing). */
  get connectedAt(): string {
    return new Date(this.connectedAtMs).toISOString();
  }

  /** Whether the connection has ended. */
  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Starts holding live frames back until {@link goLive} or {@link resync}:
   * while replaying (`replay`, the default), or while a stream that does not
   * replay waits for its presence snapshot (`replay: false`: its
   * {@link startAfter} floor still applies).
   */
  holdLive(replay = true): void {
    this.held = [];
    this.heldBytes = 0;
    this.heldDropped = false;
    this.replayHold = replay;
  }

  /**
   * Whether held live frames were dropped since the last call (and forgets
   * it). They were over the limit; every one is in the log, so the replay
   * reads on from there until it reaches the log's end with none dropped.
   */
  takeDropped(): boolean {
    const dropped = this.heldDropped;
    this.heldDropped = false;
    return dropped;
  }

  /**
   * The log position at which this stream started to count for `delivered`
   * (see {@link SessionRecord.startAfter}): a fresh stream takes no live event
   * at or before it. A replaying stream ignores it; its replay, read after
   * the registration, covers the log past it. A fresh stream holding live
   * frames for its presence snapshot takes it: held frames at or before it
   * are not sent.
   */
  startAfter(position: EventPosition | undefined): void {
    if ((this.held && this.replayHold) || position === undefined) return;
    this.advance(position);
  }

  /** Whether live frames are held back now (replaying, or taking a presence snapshot). */
  get holding(): boolean {
    return this.held !== undefined;
  }

  /**
   * Ends a hold with a presence sync at log position `at`: sends the held
   * events up to it except the presence ones (the sync replaces them), then
   * the `presence.sync` frames, then the held events after it. With no
   * position (the log is empty), the sync comes before every held event.
   * `from` is where a replay ended (held events at or before it were
   * replayed). When held frames were dropped over the limit, the stream ends
   * instead: the client resumes from what it got and the log has the rest.
   *
   * The sync lists every member of the stream's channels, which can be more
   * than the limit: like a replay page, what this writes is let past the
   * limit until the peer has taken it, and live frames may add up to the
   * limit on top of it.
   */
  resync(at: EventPosition | undefined, syncFrames: readonly Uint8Array[], from?: EventPosition): void {
    const held = this.held ?? [];
    this.held = undefined;
    this.heldBytes = 0;
    if (this.takeDropped()) {
      this.close('shutdown');
      return;
    }
    if (from) this.advance(from);
    let bytes = 0;
    let i = 0;
    for (; at && i < held.length; i++) {
      const h = held[i] as (typeof held)[number];
      if (comparePositions(h.at, at) > 0) break;
      if (h.presence || !this.advance(h.at)) continue;
      this.send(h.frame, h.bytes);
      bytes += h.bytes;
    }
    for (const frame of syncFrames) {
      this.send(frame, frame.byteLength);
      bytes += frame.byteLength;
    }
    if (at) this.advance(at);
    for (; i < held.length; i++) {
      const h = held[i] as (typeof held)[number];
      if (!this.advance(h.at)) continue;
      this.send(h.frame, h.bytes);
      bytes += h.bytes;
    }
    this.page += bytes;
  }

  /** Whether this connection wants an event of that name (its `types` filter). */
  wants(eventName: string): boolean {
    return this.matcher(eventName);
  }

  /**
   * Offers a live event's frame at log position `at`. Returns true
   * when the connection takes it (now, or after its replay); false when its
   * filter does not want it or it was already sent.
   */
  offer(eventName: string, at: EventPosition, frame: Frame, bytes = frameBytes(frame)): boolean {
    if (this.closed || !this.matcher(eventName)) return false;
    if (this.held) {
      if (this.heldBytes + bytes > this.maxPending) {
        // A long replay must not hold live frames without bound: drop them all; the log has them.
        this.held = [];
        this.heldBytes = 0;
        this.heldDropped = true;
      } else {
        this.held.push({ at, frame, bytes, presence: isPresenceEvent(eventName) });
        this.heldBytes += bytes;
      }
      return true;
    }
    if (!this.advance(at)) return false;
    this.send(frame, bytes);
    return true;
  }

  /** Moves the last-sent position to `at` if that is after it; false when it is at or before it. */
  private advance(at: EventPosition): boolean {
    if (comparePositions(at, this.last) <= 0) return false;
    this.last = at;
    return true;
  }

  /**
   * Ends the replay: `last` is the last position the replay covered (or the
   * resume position when it found nothing). Sends the held live frames after
   * it and switches to live delivery.
   */
  goLive(last: EventPosition | undefined): void {
    const held = this.held ?? [];
    this.held = undefined;
    this.heldBytes = 0;
    if (last) this.advance(last);
    let bytes = 0;
    for (const h of held) {
      if (!this.advance(h.at)) continue;
      this.send(h.frame, h.bytes);
      bytes += h.bytes;
    }
    // Held frames (at most the limit) may arrive on top of a replay page's tail: one more page.
    if (bytes > 0) this.page = bytes;
  }

  /**
   * Writes one page of a replay now and resolves once the peer has taken
   * enough of it that unsent bytes are at most half the limit (true), or
   * false when the connection ended meanwhile. A peer that takes nothing of
   * the page for `stallMs` is dropped as a slow consumer. The page's own bytes
   * may pass the limit (a single event can); nothing else may while it drains.
   * Frames at or before the last position sent are skipped.
   */
  sendPage(frames: readonly LogFrame[]): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    let bytes = 0;
    for (const f of frames) {
      if (!this.advance(f.at)) continue;
      const size = frameBytes(f.frame);
      this.send(f.frame, size);
      bytes += size;
    }
    this.page = bytes;
    this.flush();
    if (this.closed) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      let last = this.sink.pending;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const settle = (taken: boolean) => {
        if (this.pageWait !== settle) return;
        this.pageWait = undefined;
        if (timer) clearTimeout(timer);
        if (taken) this.page = 0;
        resolve(taken);
      };
      this.pageWait = settle;
      const check = () => {
        if (this.closed) return settle(false);
        const pending = this.sink.pending;
        if (pending <= this.maxPending / 2) return settle(true);
        if (pending >= last) {
          this.close('slow');
          return;
        }
        last = pending;
        timer = setTimeout(check, this.stallMs);
      };
      timer = setTimeout(check, this.stallMs);
      this.sink.whenDrained(this.maxPending / 2, () => settle(!this.closed));
    });
  }

  /** Queues a frame (bytes or an event's text) for this turn's write. */
  send(frame: Frame, bytes = frameBytes(frame)): void {
    if (this.closed) return;
    this.queuedBytes += bytes;
    const count = this.queuedCount++;
    if (count === 0) {
      // The first frame of this flush: the connection joins the flush once, not once per frame.
      this.queued = frame;
      enqueue(this, this.writtenRound);
      return;
    }
    const queue = (this.queue ??= []);
    if (count === 1) queue[0] = this.queued as Frame;
    queue[count] = frame;
  }

  /** Writes what is queued now; drops the connection if its peer is too far behind. */
  flush(): void {
    const queued = this.queued;
    const count = this.queuedCount;
    if (this.closed || queued === undefined) return;
    let chunk: Uint8Array;
    if (count > 1) {
      const queue = this.queue as Frame[];
      chunk = join(queue, count, this.queuedBytes);
      // Emptied in place for the next write; a queue grown past the usual is let go.
      if (queue.length > MAX_KEPT_QUEUE) this.queue = undefined;
      else queue.fill(undefined as unknown as Frame, 0, count);
    } else chunk = typeof queued === 'string' ? encoded(queued) : queued;
    this.queued = undefined;
    this.queuedCount = 0;
    this.queuedBytes = 0;
    this.writtenRound = flushRound;
    this.sink.write(chunk);
    const pending = this.sink.pending;
    if (pending > this.maxPending + this.page) this.close('slow');
    else if (pending <= this.maxPending / 2 && this.pageWait === undefined) this.page = 0;
  }

  /**
   * Ends the stream: `slow` drops it at once (its buffer is the problem),
   * other reasons first write what is queued.
   */
  close(reason: CloseReason): void {
    if (this.closed) return;
    if (reason === 'slow') {
      this.finish(reason);
      this.sink.destroy();
      return;
    }
    this.flush();
    this.finish(reason);
    this.sink.end();
  }

  /** The sink's peer went away. */
  sinkClosed(): void {
    this.finish('client');
  }

  private finish(reason: CloseReason): void {
    if (this.closed) return;
    this.closed = true;
    this.queued = undefined;
    this.queue = undefined;
    this.queuedCount = 0;
    this.queuedBytes = 0;
    this.held = undefined;
    this.heldBytes = 0;
    this.pageWait?.(false);
    this.owner.remove(this, reason);
  }
}
