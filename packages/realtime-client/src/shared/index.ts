import { CastError, comparePositions, matchesPattern, parseWireId } from '@cast/protocol';
import type { CastErrorCode, EventMap, EventPosition, PresenceSyncData } from '@cast/protocol';
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
   * Tabs of one origin created with the same name share one stream. Tabs whose
   * tokens grant different channels must use different names.
   * @defaultValue `cast:` followed by the server URL
   */
  name?: string;
}

/** The election timings of the `BroadcastChannel` heartbeat, used where Web Locks are missing. */
const BEAT_MS = 500;
/** A follower that heard no leader for this long takes over (the issue allows two seconds). */
const LEADER_GONE_MS = 1_500;
/** How long a new tab listens for a leader before it takes the lead itself (no Web Locks). */
const FIRST_LISTEN_MS = 300;
/** How long a new leader waits for the other tabs to say the last event id they saw. */
const GATHER_MS = 150;

type Message =
  | { t: 'hello'; from: string; types: readonly string[] }
  | { t: 'welcome'; to: string; state: ConnectionState; presence: PresenceSyncData[] }
  | { t: 'lead'; from: string }
  | { t: 'seen'; to: string; from: string; lastEventId: string | undefined; types: readonly string[] }
  | { t: 'beat'; from: string }
  | { t: 'event'; event: RealtimeEvent }
  | { t: 'state'; state: ConnectionState }
  | { t: 'error'; code: CastErrorCode; message: string; status: number; retryable: boolean; retryAfter?: number }
  | { t: 'resume'; info: ResumeInfo }
  | { t: 'connect' };

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
 * - The stream's channels are those of the leader's token: every tab of one
 *   `name` must be entitled to the same channels (one signed-in user's tabs).
 *   Its `types` filter is the union of the tabs' `types` (no filter as soon as
 *   one tab has none); each tab still receives only the events its own `types`
 *   match.
 * - When the leader closes, freezes or calls `destroy()`, another tab takes over
 *   within two seconds and resumes from the oldest last event id among the open
 *   tabs; each tab drops what it already had, so nothing is lost or duplicated.
 * - Where `BroadcastChannel` is missing (React Native), it is a plain
 *   `createRealtime` client. In Node.js, clients of one name share a stream
 *   within the process and its worker threads.
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
): Realtime<Events> {
  const Channel = (globalThis as { BroadcastChannel?: typeof BroadcastChannel }).BroadcastChannel;
  if (typeof Channel !== 'function') return createRealtime<Events>(options);
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
  const tabTypes = new Map<string, readonly string[]>([[id, ownTypes]]);
  const locks = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator?.locks;

  let state: ConnectionState = 'disconnected';
  let everConnected = false;
  let lastEventId = options.lastEventId || undefined;
  let lastPosition: EventPosition | undefined = lastEventId ? parseWireId(lastEventId) : undefined;
  let bus: BroadcastChannel | undefined;
  let leader: { inner: Realtime | undefined; types: readonly string[] | undefined; release: () => void } | undefined;
  let lockAbort: AbortController | undefined;
  let watchdog: ReturnType<typeof setTimeout> | undefined;
  let beat: ReturnType<typeof setInterval> | undefined;
  let gathered: Array<string | undefined> | undefined;

  const post = (message: Message): void => bus?.postMessage(message);

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
   * the `presence.sync` of a stream's other channels, at the same position (the snapshot's).
   */
  const deliver = (event: RealtimeEvent): void => {
    const wire = event.id ? parseWireId(event.id) : undefined;
    if (wire && lastPosition && comparePositions(wire, lastPosition) < (event.type === 'presence.sync' ? 0 : 1)) return;
    if (event.id !== undefined) lastEventId = event.id || undefined;
    if (wire) lastPosition = wire;
    if (event.type.startsWith('presence.')) {
      const channel = (event.data as { channel?: unknown } | null)?.channel;
      if (typeof channel === 'string') presenceChannels.add(channel);
      presence.apply(event.type, event.data);
    }
    if (ownTypes.length === 0 || ownTypes.some((pattern) => matchesPattern(pattern, event.type))) events.emit(event);
  };

  const resumed = (info: ResumeInfo): void => {
    if (!info.recovered) {
      // The server could not replay: its new positions are the only reference, and presence waits for a sync.
      lastPosition = undefined;
      presence.unsync();
    }
    resumeListeners.emit(info);
  };

  const union = (): readonly string[] => {
    const all = [...tabTypes.values()];
    return all.some((t) => t.length === 0) ? [] : [...new Set(all.flat())];
  };

  /** Opens (or reopens with a wider filter) the leader's stream, from `from`. */
  const openStream = (from: string | undefined): void => {
    if (!leader) return;
    const types = union();
    leader.inner?.destroy();
    const inner = createRealtime({ ...options, types, lastEventId: from, autoConnect: true });
    leader.inner = inner;
    leader.types = types;
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
      post({
        t: 'error',
        code: error.code,
        message: error.message,
        status: error.status,
        retryable: error.retryable,
        ...(error.retryAfter === undefined ? {} : { retryAfter: error.retryAfter }),
      });
      errorListeners.emit(error);
    });
    inner.onResume((info) => {
      if (!mine()) return;
      post({ t: 'resume', info });
      resumed(info);
    });
  };

  const becomeLeader = (release: () => void): void => {
    if (state === 'closed' || leader) return release();
    clearTimeout(watchdog);
    leader = { inner: undefined, types: undefined, release };
    if (!locks) beat = setInterval(() => post({ t: 'beat', from: id }), BEAT_MS);
    // Resume from the oldest id any open tab saw; each tab drops the events it already had.
    gathered = [lastEventId];
    post({ t: 'lead', from: id });
    watchdog = setTimeout(() => {
      const ids = gathered ?? [];
      gathered = undefined;
      let from: string | undefined;
      let oldest: EventPosition | undefined;
      for (const candidate of ids) {
        const position = candidate ? parseWireId(candidate) : undefined;
        if (position && (!oldest || comparePositions(position, oldest) < 0)) {
          oldest = position;
          from = candidate;
        }
      }
      openStream(from ?? lastEventId);
    }, GATHER_MS);
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
        tabTypes.set(message.from, message.types);
        if (leader) {
          const snapshot = [...presenceChannels]
            .map((channel) => presence.view(channel))
            .filter((view) => view.synced)
            .map((view) => ({ channel: view.channel, members: [...view.members] }));
          post({ t: 'welcome', to: message.from, state, presence: snapshot });
          const wider = union();
          if (leader.inner && leader.types && wider.join() !== leader.types.join())
            openStream(leader.inner.lastEventId);
        }
        break;
      case 'welcome':
        if (message.to !== id) break;
        if (!locks) listenForLeader(LEADER_GONE_MS);
        for (const sync of message.presence) {
          presenceChannels.add(sync.channel);
          presence.apply('presence.sync', sync);
        }
        setState(message.state);
        break;
      case 'lead':
        // Two tabs that took the lead at once (heartbeat election): the larger id gives way,
        // before either opens its stream (that waits for the gathering).
        if (leader && message.from < id) stepDown();
        if (!leader) post({ t: 'seen', to: message.from, from: id, lastEventId, types: ownTypes });
        if (!locks && !leader) listenForLeader(LEADER_GONE_MS);
        break;
      case 'seen':
        if (message.to !== id) break;
        tabTypes.set(message.from, message.types);
        gathered?.push(message.lastEventId);
        break;
      case 'beat':
        // Two leaders after a partition of the heartbeat: the larger id gives way.
        if (leader && message.from < id) stepDown();
        if (!leader) listenForLeader(LEADER_GONE_MS);
        break;
      case 'event':
        if (!leader) deliver(message.event);
        break;
      case 'state':
        if (!leader) setState(message.state);
        break;
      case 'error':
        if (!leader) {
          const { code, message: text, t: _t, ...rest } = message;
          errorListeners.emit(new CastError(code, text, rest));
        }
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
  const doc = (globalThis as { document?: EventTarget }).document;

  const join = (): void => {
    if (bus) return;
    bus = new Channel(name);
    bus.onmessage = onMessage;
    doc?.addEventListener('freeze', onFreeze);
    doc?.addEventListener('resume', onResumePage);
    post({ t: 'hello', from: id, types: ownTypes });
    campaign();
  };

  const realtime: Realtime<Events> = {
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
    connect() {
      if (state === 'closed') return;
      if (!bus) join();
      else if (leader) leader.inner?.connect();
      else post({ t: 'connect' });
    },
    destroy() {
      if (state === 'closed') return;
      stepDown();
      lockAbort?.abort();
      clearTimeout(watchdog);
      doc?.removeEventListener('freeze', onFreeze);
      doc?.removeEventListener('resume', onResumePage);
      bus?.close();
      bus = undefined;
      setState('closed');
      clear();
    },
  };
  if (options.autoConnect !== false) queueMicrotask(() => realtime.connect());
  return realtime;
}
