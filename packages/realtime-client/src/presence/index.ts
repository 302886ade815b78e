import type { PresenceChangeData, PresenceMember, PresenceSyncData } from '@cast/protocol';
import { createListeners } from '../emitter/index.js';
import type { Listeners } from '../emitter/index.js';
import type { PresenceView } from '../types.js';

/** The presence state of the channels a client saw presence events for. */
export interface PresenceStore {
  /** Applies one `presence.sync`, `presence.join` or `presence.leave` event. */
  apply(type: string, data: unknown): void;
  /** Forgets the sync of every channel (a resume that lost events): changes wait for the next sync. */
  unsync(): void;
  /** The live view of one channel (the same object on every call). */
  view(channel: string): PresenceView;
  /** Removes every onChange handler. */
  clear(): void;
}

interface ChannelPresence {
  /** The view handed out; its fields are written here only (the type it is handed out as is read-only). */
  view: { -readonly [K in keyof PresenceView]: PresenceView[K] };
  listeners: Listeners<[readonly PresenceMember[]]>;
  /** Replaces the members (and the synced flag when given) and tells the handlers. */
  set(members: PresenceMember[], synced?: boolean): void;
}

/**
 * Keeps each channel's members from the stream: a `presence.sync` replaces
 * them, then joins add and leaves remove. Joins and leaves that arrive while a
 * channel is not synced (before its first sync, or after a resume that could
 * not replay everything) are ignored: the next sync is the truth. Every change
 * makes a new frozen array, so a view's `members` can be compared by identity.
 *
 * @returns an empty store
 * @example
 * ```ts
 * const store = createPresenceStore()
 * store.apply('presence.sync', { channel: 'room:1', members: [] })
 * store.view('room:1').members // []
 * ```
 */
export function createPresenceStore(): PresenceStore {
  const channels = new Map<string, ChannelPresence>();

  const entry = (channel: string): ChannelPresence => {
    let state = channels.get(channel);
    if (!state) {
      const listeners = createListeners<[readonly PresenceMember[]]>();
      const view = { channel, members: [] as readonly PresenceMember[], synced: false, onChange: listeners.add };
      channels.set(
        channel,
        (state = {
          view,
          listeners,
          set(members, synced = view.synced) {
            view.synced = synced;
            listeners.emit((view.members = Object.freeze(members)));
          },
        }),
      );
    }
    return state;
  };

  return {
    apply(type, data) {
      const {
        channel,
        members,
        userId,
        userInfo = null,
      } = (data ?? {}) as Partial<PresenceSyncData & PresenceChangeData>;
      if (typeof channel !== 'string') return;
      const { view, set } = entry(channel);
      if (type === 'presence.sync') set(Array.isArray(members) ? members.map((m) => ({ ...m })) : [], true);
      else if (view.synced) {
        const others = view.members.filter((m) => m.userId !== userId);
        if (type === 'presence.join') set([...others, { userId: userId as string, userInfo, connections: 1 }]);
        else if (others.length < view.members.length) set(others);
      }
    },
    unsync() {
      for (const { view } of channels.values()) view.synced = false;
    },
    view: (channel) => entry(channel).view,
    clear() {
      for (const { listeners } of channels.values()) listeners.clear();
    },
  };
}
