import { encodeFrame, formatWireId, type PresenceMember, type PresenceSyncData } from '@cast/protocol';

const PRESENCE_EVENTS: ReadonlySet<string> = new Set(['presence.sync', 'presence.join', 'presence.leave']);

/** Whether an event name is one of the presence events (`presence.sync`, `presence.join`, `presence.leave`). */
export function isPresenceEvent(name: string): boolean {
  return PRESENCE_EVENTS.has(name);
}

/**
 * The data of `presence.join` / `presence.leave` as JSON text
 * (`PresenceChangeData`). `userInfo` is JSON text already, copied as is.
 *
 * @example
 * ```ts
 * presenceChangeData('room:1', 'ada', null) // '{"channel":"room:1","userId":"ada","userInfo":null}'
 * ```
 */
export function presenceChangeData(channel: string, userId: string, userInfo: string | null): string {
  return `{"channel":${JSON.stringify(channel)},"userId":${JSON.stringify(userId)},"userInfo":${userInfo ?? 'null'}}`;
}

/**
 * The `presence.sync` frame of a channel at a log position: its `id` is that
 * position, so a client resuming from it continues right after.
 *
 * @example
 * ```ts
 * syncFrame('1732400000000-3', 'room:1', [])
 * ```
 */
export function syncFrame(position: string | undefined, channel: string, members: PresenceMember[]): Buffer {
  const data: PresenceSyncData = { channel, members };
  const id = position === undefined ? undefined : formatWireId(position, channel);
  return Buffer.from(encodeFrame({ ...(id === undefined ? {} : { id }), event: 'presence.sync', data: JSON.stringify(data) }));
}
