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
