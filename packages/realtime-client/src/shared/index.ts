import { CastError, comparePositions, matchesPattern, parseWireId } from '@cast/protocol';
import type { CastErrorCode, EventMap, EventPosition, PresenceSyncData } from '@cast/protocol';
import { createListeners, type Unsubscribe } from '../emitter/index.js';
import { createHandlers } from '../handlers/index.js';
import { createRealtime } from '../realtime/index.js';
import type { ConnectionState, Realtime, RealtimeEvent, RealtimeOptions, ResumeInfo } from '../types.js';

/**
 * Options of {@link createSharedRealtime}: those of `createRealtime`, and the
 * name that groups the tabs sharing one stream.
 *
 * @example
 * ```ts
 * const options: SharedRealtimeOptions = { url: 'https://push.example.com', token: fetchToken, name: 'cast:orders' }
 * ```
 */
export interface SharedRealtimeOptions extends RealtimeOptions {
  /**
   * Tabs of one origin created with the same name share one stream. Give tabs
   * whose tokens grant other channels another name: a tab whose grant has a
   * channel the shared stream lacks holds a stream of its own
   * ({@link SharedRealtime.onOwnStream}).
   * @defaultValue `cast:` followed by the server URL
   */
  name?: string;
}

/**
 * The client {@link createSharedRealtime} returns: a {@link Realtime}, and
 * the signal of a tab that holds a stream of its own.
 *
 * @example
 * ```ts
 * realtime.onOwnStream((missing) => console.warn('not sharing the stream; it lacks', missing))
 * ```
 */
export interface SharedRealtime<Events extends EventMap = EventMap> extends Realtime<Events> {
  /**
   * Called once if this tab leaves the tabs' shared stream for a stream of its
   * own (one more connection), with the channels its token grants that the
   * leader's stream lacks; with `[]` when the tab could not read its grant
   * (its token provider failed, or the token has no `chs` claim). Never called
   * where `BroadcastChannel` is missing: there every tab holds its own stream.
   * It happens after a token request and a message from the leader, so a
   * handler added right after creation sees it.
   */
  onOwnStream(handler: (missing: string[]) => void): Unsubscribe;
}

/** The election timings of the `BroadcastChannel` heartbeat, used where Web Locks are missing. */
const BEAT_MS = 500;
/** A follower that heard no leader for this long takes over (the issue allows two seconds). */
const LEADER_GONE_MS = 1_500;
/** How long a new tab listens for a leader before it takes the lead itself (no Web Locks). */
const FIRST_LISTEN_MS = 300;
/** How long a new leader waits for the other tabs to say the last event id they saw. */
const GATHER_MS = 150;
/**
 * How long the leader waits after a tab left before it narrows its filter (a reopen: one reconnect).
 * A reloaded tab says `bye` and, a moment later, `hello` with the same types: it then costs none.
 */
const NARROW_MS = 5_000;

type Message =
  | { t: 'hello'; from: string; types: readonly string[]; chs: readonly string[] }
  | { t: 'welcome'; to: string; state: ConnectionState; presence: PresenceSyncData[]; chs: readonly string[] }
  | { t: 'lead'; from: string; chs: readonly string[] }
  | { t: 'seen'; to: string; from: string; lastEventId: string | undefined; types: readonly string[] }
  | { t: 'beat'; from: string }
  | { t: 'bye'; from: string }
  | { t: 'event'; event: RealtimeEvent }
  | { t: 'state'; state: ConnectionState }
  | {
      t: 'error';
      code: CastErrorCode;
      message: string;
      status: number;
      retryable: boolean;
      retryAfter: number | undefined;
    }
  | { t: 'resume'; info: ResumeInfo }
  | { t: 'connect' };

/**
 * Reads a tab's grant: the `chs` claim of its token (its provider is asked once).
 *
 * @param token - the tab's token or token provider
 * @returns the channels, or undefined when the provider fails or the token has no readable `chs`
 */
const grantOf = async (token: RealtimeOptions['token']): Promise<string[] | undefined> => {
  try {
    const jwt = typeof token === 'string' ? token : await token();
    // base64url JSON claims; channel names are ASCII, so atob's binary string is the text.
    return (
      JSON.parse(atob((jwt.split('.')[1] as string).replace(/-/g, '+').replace(/_/g, '/'))) as { chs: unknown[] }
    ).chs.map(String);
  } catch {
    return undefined;
  }
};

interface LockManagerLike {
  request(name: string, options: { signal: AbortSignal }, callback: () => Promise<void>): Promise<unknown>;
}

/**
 * Creates a realtime client that shares one stream among the tabs of an
 * origin. The tabs elect a leader (with Web Locks where the browser has them,
 * else a `BroadcastChannel` heartbeat); the leader alone opens the stream, and
 * hands every event, state change, error and resume to the other tabs over a
 * `BroadcastChannel`. Every tab has the full {@link Realtime} API, as if it held
 * the stream itself.
 *
 * - The stream's channels are those of the leader's token. Each tab reads its
 *   own grant (the `chs` claim of its token: a provider is asked once more) and
 *   receives only the events of its channels. A tab whose grant has a channel
 *   the leader's stream lacks (or cannot be read) holds a stream of its own and
 *   says so through {@link SharedRealtime.onOwnStream}: give tabs with other
 *   grants another `name` to keep one stream.
 * - The stream's `types` filter is the union of the open tabs' `types` (no
 *   filter as soon as one tab has none); each tab still receives only the
 *   events its own `types` match. The leader reopens its stream, resuming from
 *   its last event id, only when the union changes: at once when a tab joins
 *   with types it lacks, and five seconds after a tab leaves (`destroy()`, or
 *   its page goes away) if the union is narrower then, so that a reloaded tab
 *   costs no reconnect. A new leader counts the tabs that answer it, not those
 *   an earlier leader knew.
 * - When the leader closes, freezes or calls `destroy()`, another tab takes over
 *   within two seconds and resumes from the oldest last event id among the open
 *   tabs; each tab drops what it already had, so nothing is lost or duplicated.
 * - Where `BroadcastChannel` is missing (React Native), it is a plain
 *   `createRealtime` client (`onOwnStream` never fires). In Node.js, clients
 *   of one name share a stream within the process and its worker threads.
 *
 * @param options - the options of `createRealtime`, and `name`
 * @returns the client; it connects at once unless `autoConnect` is false
 * @throws CastError `INVALID_OPTIONS` when the options are unusable
 * @example
 * ```ts
 * import { createSharedRealtime } from '@cast/realtime-client/shared'
 * const realtime = createSharedRealtime<Events>({ url: 'https://push.example.com', token: fetchToken })
 * realtime.on('order.*', (event) => render(event.data))
 * ```
 */
export function createSharedRealtime<Events extends EventMap = EventMap>(
  options: SharedRealtimeOptions,
): SharedRealtime<Events> {
  const ownStream = createListeners<[string[]]>();
  const Channel = (globalThis as { BroadcastChannel?: typeof BroadcastChannel }).BroadcastChannel;
  if (typeof Channel !== 'function')
    return Object.assign(createRealtime<Events>(options), { onOwnStream: ownStream.add });
  // Checks the options at construction, in every tab, leader or not.
  createRealtime({ ...options, autoConnect: false }).destroy();
  const { name = `cast:${options.url}`, types: ownTypes = [] } = options;
  if (typeof name !== 'string' || name === '')
    throw new CastError('INVALID_OPTIONS', 'Option name must be a non-empty string.');

  const id = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
  const [handlers, events, stateListeners, connectionListeners, errorListeners, resumeListeners, presence, clear] =
    createHandlers<Events>();
  /** Channels that had presence events here: what a welcome hands to a new tab. */
  const presenceChannels = new Set<string>();
  /** The `types` of each tab on the leader's stream, by tab id: known only to the leader. */
  let tabTypes = new Map<string, readonly string[]>();
  const locks = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator?.locks;

  let state: ConnectionState = 'disconnected';
  let everConnected = false;
  let lastEventId = options.lastEventId || undefined;
  let lastPosition: EventPosition | undefined = lastEventId ? parseWireId(lastEventId) : undefined;
  let bus: BroadcastChannel | undefined;
  /** This tab's lead: its stream once open, with the filter it asked for (joined as in the query). */
  let leader: { inner?: Realtime; types?: string; release: () => void } | undefined;
  let lockAbort: AbortController | undefined;
  let watchdog: ReturnType<typeof setTimeout> | undefined;
  let beat: ReturnType<typeof setInterval> | undefined;
  let gathered: Array<string | undefined> | undefined;
  /** This tab's grant, read when it connects first. */
  let own: readonly string[] = [];
  /** The events a leader relays before it said its grant; undefined once a leader's stream covers this tab's. */
  let held: RealtimeEvent[] | undefined = [];
  let started: Promise<void> | undefined;

  const post = (message: Message): void => bus?.postMessage(message);
  /** Says hello when the tab starts, and when its page comes back from the back-forward cache (it said bye then). */
  const hello = (event?: Partial<PageTransitionEvent>): void => {
    if (event?.persisted !== false) post({ t: 'hello', from: id, types: ownTypes, chs: own });
  };

  const setState = (next: ConnectionState): void => {
    if (next === 'connecting' && everConnected) next = 'reconnecting';
    const previous = state;
    if (next === previous || previous === 'closed') return;
    state = next;
    if (next === 'connected') everConnected = true;
    stateListeners.emit(next, previous);
    if (previous === 'connected' || next === 'connected') connectionListeners.emit(next === 'connected');
  };

  /**
   * Delivers one event in this tab, once: events at or before the last position are dropped, but for
   * the `presence.sync` of a stream's other channels, at the same position (the snapshot's). A follower
   * skips the events of channels outside its grant, past their position all the same: positions are
   * the tenant's, so a resume from it misses nothing of its own channels.
   */
  const deliver = (event: RealtimeEvent): void => {
    const wire = event.id ? parseWireId(event.id) : undefined;
    if (wire && lastPosition && comparePositions(wire, lastPosition) < (event.type === 'presence.sync' ? 0 : 1)) return;
    if (event.id !== undefined) lastEventId = event.id || undefined;
    if (wire) lastPosition = wire;
    if (!leader && !own.includes(event.channel as string)) return;
    if (event.type.startsWith('presence.')) {
      const channel = (event.data as { channel?: unknown } | null)?.channel;
      if (typeof channel === 'string') presenceChannels.add(channel);
      presence.apply(event.type, event.data);
    }
    if (!ownTypes.length || ownTypes.some((pattern) => matchesPattern(pattern, event.type))) events.emit(event);
  };

  /** Delivers an event the leader relayed, once this tab knows the leader's stream covers its grant. */
  const relay = (event: RealtimeEvent): void => {
    if (held) held.push(event);
    else deliver(event);
  };

  const resumed = (info: ResumeInfo): void => {
    if (!info.recovered) {
      // The server could not replay: its new positions are the only reference, and presence waits for a sync.
      lastPosition = undefined;
      presence.unsync();
    }
    resumeListeners.emit(info);
  };

  /** The leader's filter; sorted, so that tabs coming and going in another order do not reopen the stream. */
  const union = (): readonly string[] => {
    const all = [...tabTypes.values()];
    return all.some((t) => !t.length) ? [] : [...new Set(all.flat())].sort();
  };

  /** Opens (or reopens with another filter) the leader's stream, from `from`. */
  const openStream = (from: string | undefined): void => {
    if (!leader) return;
    const types = union();
    leader.inner?.destroy();
    const inner = createRealtime({ ...options, types, lastEventId: from, autoConnect: true });
    leader.inner = inner;
    leader.types = types.join();
    const mine = () => leader?.inner === inner;
    inner.onAny((event) => {
      if (!mine()) return;
      post({ t: 'event', event });
      deliver(event);
    });
    inner.onStateChange((next) => {
      if (!mine() || next === 'closed') return;
      post({ t: 'state', state: next });
      setState(next);
    });
    inner.onError((error) => {
      if (!mine()) return;
      // The spread copies the own enumerable fields (code, status, retryable, retryAfter), not `message` or `cause`.
      post({ ...error, t: 'error', message: error.message });
      errorListeners.emit(error);
    });
    inner.onResume((info) => {
      if (!mine()) return;
      post({ t: 'resume', info });
      resumed(info);
    });
  };

  /**
   * The oldest of event ids: where to resume so that no tab misses an event (each drops what it had).
   *
   * @param ids - the ids; those that do not parse are skipped
   * @returns the oldest id, else the first
   */
  const oldest = (ids: Array<string | undefined>): string | undefined => {
    let [from] = ids;
    let at: EventPosition | undefined;
    for (const candidate of ids) {
      const position = candidate ? parseWireId(candidate) : undefined;
      if (position && (!at || comparePositions(position, at) < 0)) {
        at = position;
        from = candidate;
      }
    }
    return from;
  };

  const becomeLeader = (release: () => void): void => {
    if (state === 'closed' || leader) return release();
    clearTimeout(watchdog);
    leader = { release };
    // Tabs that said hello to an earlier leader may be gone without a word (a crash): count those that answer.
    tabTypes = new Map([[id, ownTypes]]);
    // A tab on a stream of its own (no bus) has no one to beat for.
    if (!locks && bus) beat = setInterval(() => post({ t: 'beat', from: id }), BEAT_MS);
    // Resume from the oldest id any open tab saw; each tab drops the events it already had.
    gathered = [lastEventId];
    post({ t: 'lead', from: id, chs: own });
    watchdog = setTimeout(() => {
      openStream(oldest(gathered ?? []));
      gathered = undefined;
    }, GATHER_MS);
  };

  /**
   * Reopens the leader's open stream when the tabs' union of types is not its filter any more, from
   * where it is, or from `seen` when that is older (a tab that answered the lead late missed events).
   */
  const refilter = (seen?: string): void => {
    if (leader?.inner && union().join() !== leader.types) openStream(oldest([leader.inner.lastEventId, seen]));
  };

  /** Leaves the lead (destroy, freeze, or another leader won the heartbeat election). */
  const stepDown = (): void => {
    if (!leader) return;
    const { inner, release } = leader;
    leader = undefined;
    clearInterval(beat);
    clearTimeout(watchdog);
    gathered = undefined;
    inner?.destroy();
    release();
  };

  const listenForLeader = (ms: number): void => {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => becomeLeader(() => {}), ms);
  };

  const campaign = (): void => {
    if (locks) {
      const abort = (lockAbort = new AbortController());
      locks
        .request(name, { signal: abort.signal }, () => new Promise<void>((release) => becomeLeader(release)))
        .catch(() => {
          // Aborted by destroy() or a freeze before the lock came.
        });
    } else listenForLeader(FIRST_LISTEN_MS);
  };

  const onMessage = ({ data: message }: MessageEvent<Message>): void => {
    switch (message.t) {
      case 'hello':
        if (leader) {
          // A tab whose grant this one lacks will hold its own stream: its types would widen the filter for nothing.
          if (message.chs.every((channel) => own.includes(channel))) tabTypes.set(message.from, message.types);
          const snapshot = [...presenceChannels]
            .map((channel) => presence.view(channel))
            .filter((view) => view.synced)
            .map((view) => ({ channel: view.channel, members: [...view.members] }));
          post({ t: 'welcome', to: message.from, state, presence: snapshot, chs: own });
          refilter();
        }
        break;
      case 'welcome':
        if (message.to !== id || !follow(message.chs)) break;
        if (!locks) listenForLeader(LEADER_GONE_MS);
        for (const sync of message.presence) {
          if (!own.includes(sync.channel)) continue;
          presenceChannels.add(sync.channel);
          presence.apply('presence.sync', sync);
        }
        setState(message.state);
        break;
      case 'lead':
        // Two tabs that took the lead at once (heartbeat election): the larger id gives way,
        // before either opens its stream (that waits for the gathering).
        if (leader && message.from < id) stepDown();
        if (leader || !follow(message.chs)) break;
        post({ t: 'seen', to: message.from, from: id, lastEventId, types: ownTypes });
        if (!locks) listenForLeader(LEADER_GONE_MS);
        break;
      case 'seen':
        if (message.to !== id) break;
        tabTypes.set(message.from, message.types);
        // An answer after the gathering (from a tab that was frozen, say) widens the open stream, from where that tab was.
        if (gathered) gathered.push(message.lastEventId);
        else refilter(message.lastEventId);
        break;
      case 'bye':
        tabTypes.delete(message.from);
        // Each bye restarts the wait. A leader's watchdog is idle once its stream is open; stepping down clears it.
        if (leader?.inner) {
          clearTimeout(watchdog);
          watchdog = setTimeout(refilter, NARROW_MS);
        }
        break;
      case 'beat':
        // Two leaders after a partition of the heartbeat: the larger id gives way.
        if (leader && message.from < id) stepDown();
        if (!leader) listenForLeader(LEADER_GONE_MS);
        break;
      case 'event':
        if (!leader) relay(message.event);
        break;
      case 'state':
        if (!leader) setState(message.state);
        break;
      case 'error':
        // The message has the error's status, retryable and retryAfter, and no cause: it serves as the options.
        if (!leader) errorListeners.emit(new CastError(message.code, message.message, message));
        break;
      case 'resume':
        if (!leader) resumed(message.info);
        break;
      case 'connect':
        leader?.inner?.connect();
        break;
    }
  };

  const onFreeze = (): void => {
    // A frozen tab runs no code: hand the stream over now rather than after the heartbeat times out.
    if (!leader) return;
    stepDown();
    lockAbort?.abort();
    if (!locks) listenForLeader(LEADER_GONE_MS);
  };
  const onResumePage = (): void => {
    if (locks && state !== 'closed' && !leader && lockAbort?.signal.aborted) campaign();
  };
  /** Tells the leader this tab is gone: it leaves, or its page goes away or into the back-forward cache. */
  const bye = (): void => post({ t: 'bye', from: id });
  const doc = (globalThis as { document?: EventTarget }).document;
  /** Adds or removes this tab's listeners of the page's lifecycle (the window's are missing in Node.js). */
  const listen = (how: 'addEventListener' | 'removeEventListener'): void => {
    doc?.[how]('freeze', onFreeze);
    doc?.[how]('resume', onResumePage);
    (globalThis as Partial<EventTarget>)[how]?.('pagehide', bye);
    (globalThis as Partial<EventTarget>)[how]?.('pageshow', hello);
  };

  /** Leaves the tabs: stops leading, campaigning and listening. */
  const leave = (): void => {
    bye();
    stepDown();
    lockAbort?.abort();
    clearTimeout(watchdog);
    listen('removeEventListener');
    bus?.close();
    bus = undefined;
  };

  /** Leaves the tabs for a stream of this tab's own (it leads a group of one, from its last id), and says why. */
  const goOwn = (missing: string[]): void => {
    leave();
    becomeLeader(() => {});
    ownStream.emit(missing);
  };

  /**
   * Follows a leader whose stream has the channels `chs`: shares it when they cover this tab's grant
   * (and delivers what waited for the answer), else holds a stream of its own.
   */
  const follow = (chs: readonly string[]): boolean => {
    const missing = own.filter((channel) => !chs.includes(channel));
    if (missing.length > 0) goOwn(missing);
    else {
      held?.forEach(deliver);
      held = undefined;
    }
    return !missing.length;
  };

  const realtime: SharedRealtime<Events> = {
    get state() {
      return state;
    },
    get connected() {
      return state === 'connected';
    },
    get lastEventId() {
      return lastEventId;
    },
    ...handlers,
    onOwnStream: ownStream.add,
    connect() {
      if (state === 'closed') return;
      if (leader) leader.inner?.connect();
      else if (bus) post({ t: 'connect' });
      else
        started ??= grantOf(options.token).then((grant) => {
          if (state === 'closed') return;
          if (!grant) return goOwn([]);
          own = grant;
          bus = new Channel(name);
          bus.onmessage = onMessage;
          listen('addEventListener');
          hello();
          campaign();
        });
    },
    destroy() {
      if (state === 'closed') return;
      leave();
      setState('closed');
      clear();
      ownStream.clear();
    },
  };
  if (options.autoConnect !== false) queueMicrotask(() => realtime.connect());
  return realtime;
}
