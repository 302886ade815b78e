import type { PresenceChangeData, PresenceMember, PresenceSyncData } from '@cast/protocol';

/** One member as the console shows it. */
export type ShownMember = Pick<PresenceMember, 'userId' | 'userInfo'>;

/**
 * The members of the subscribed channels, kept from the stream's
 * `presence.sync` (the whole state at that point of the channel's log) and the
 * `presence.join` / `presence.leave` after it. A channel absent from the map
 * has had no sync yet.
 */
export interface PresenceState {
  /** Channel → (userId → member), in the order the members were seen. */
  readonly channels: ReadonlyMap<string, ReadonlyMap<string, ShownMember>>;
  /**
   * Applies one stream event; anything that is not a well-formed presence
   * event of a subscribed channel is ignored.
   *
   * @returns whether the members changed
   */
  apply(type: string, data: unknown): boolean;
  /** Starts over for a new set of channels (a new subscription): nothing known until their syncs arrive. */
  reset(channels: readonly string[]): void;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function userInfoOf(value: unknown): Record<string, unknown> | null {
  return isObject(value) ? value : null;
}

/**
 * Creates the console's presence state.
 *
 * @returns the state
 * @example
 * ```ts
 * const presence = createPresenceState()
 * presence.reset(['room:1'])
 * realtime.onAny((e) => presence.apply(e.type, e.data) && render(presence.channels))
 * ```
 */
export function createPresenceState(): PresenceState {
  let subscribed = new Set<string>();
  const channels = new Map<string, Map<string, ShownMember>>();

  return {
    channels,
    apply(type, data) {
      if (!isObject(data) || typeof data.channel !== 'string' || !subscribed.has(data.channel)) return false;
      const channel = data.channel;
      if (type === 'presence.sync') {
        const { members } = data as Partial<PresenceSyncData>;
        if (!Array.isArray(members)) return false;
        const next = new Map<string, ShownMember>();
        for (const member of members as unknown[]) {
          if (isObject(member) && typeof member.userId === 'string') {
            next.set(member.userId, { userId: member.userId, userInfo: userInfoOf(member.userInfo) });
          }
        }
        channels.set(channel, next);
        return true;
      }
      const { userId, userInfo } = data as Partial<PresenceChangeData>;
      if (typeof userId !== 'string') return false;
      // Before the channel's sync, a change has nothing to apply to: the sync that follows holds it.
      const members = channels.get(channel);
      if (!members) return false;
      if (type === 'presence.join') {
        members.set(userId, { userId, userInfo: userInfoOf(userInfo) });
        return true;
      }
      if (type === 'presence.leave') return members.delete(userId);
      return false;
    },
    reset(next) {
      subscribed = new Set(next);
      channels.clear();
    },
  };
}
