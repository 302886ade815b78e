/**
 * Channel names: 1 to 128 characters of letters, digits and `_ - . : @ = +`.
 * This admits the usual patterns (`orders`, `user:user_123`, `order:abc123`,
 * `session:<uuid>`, `team.42`) and keeps out the characters that mean
 * something elsewhere: `*` (wildcards), `,` (lists), `/` (the stream id
 * separator), whitespace and control characters.
 *
 * @example
 * ```ts
 * CHANNEL_PATTERN.test('team.42') // true
 * ```
 */
export const CHANNEL_PATTERN = /^[A-Za-z0-9_\-.:@=+]{1,128}$/;

/**
 * Event names: 1 to 128 characters of letters, digits and `_ - . :`, not
 * starting with `.` or `-`. Dots separate the segments that wildcards match
 * (`ticket.created` is matched by `ticket.*`). No CR or LF can ever reach a
 * stream's `event:` line.
 *
 * @example
 * ```ts
 * EVENT_NAME_PATTERN.test('ticket.created') // true
 * EVENT_NAME_PATTERN.test('.hidden') // false
 * ```
 */
export const EVENT_NAME_PATTERN = /^[A-Za-z0-9_:][A-Za-z0-9_\-.:]{0,127}$/;

/**
 * Event names the server sends itself; publishing them is refused.
 *
 * @example
 * ```ts
 * RESERVED_EVENT_NAMES.includes('connected') // true
 * ```
 */
export const RESERVED_EVENT_NAMES = [
  'connected',
  'expired',
  'error',
  'revoked',
  'disconnected',
  'presence.sync',
  'presence.join',
  'presence.leave',
] as const;

/**
 * One of {@link RESERVED_EVENT_NAMES}.
 *
 * @example
 * ```ts
 * const name: ReservedEventName = 'expired'
 * ```
 */
export type ReservedEventName = (typeof RESERVED_EVENT_NAMES)[number];

/**
 * Whether a string is a valid channel name.
 *
 * @param value - the candidate name
 * @returns true when it matches {@link CHANNEL_PATTERN}
 * @example
 * ```ts
 * isValidChannel('user:user_123') // true
 * isValidChannel('orders,admin') // false
 * ```
 */
export function isValidChannel(value: unknown): value is string {
  return typeof value === 'string' && CHANNEL_PATTERN.test(value);
}

/**
 * Whether a string is a valid event name (reserved names included).
 *
 * @param value - the candidate name
 * @returns true when it matches {@link EVENT_NAME_PATTERN}
 * @example
 * ```ts
 * isValidEventName('order.created') // true
 * isValidEventName('a\nb') // false
 * ```
 */
export function isValidEventName(value: unknown): value is string {
  return typeof value === 'string' && EVENT_NAME_PATTERN.test(value);
}

/**
 * Whether an event name is reserved for the server's own events.
 *
 * @param value - an event name
 * @returns true for the names in {@link RESERVED_EVENT_NAMES}
 * @example
 * ```ts
 * isReservedEventName('connected') // true
 * ```
 */
export function isReservedEventName(value: string): value is ReservedEventName {
  return (RESERVED_EVENT_NAMES as readonly string[]).includes(value);
}

/**
 * Whether a string is a valid event-type filter: `*`, an exact event name, or
 * `prefix.*` where `prefix` is an event name.
 *
 * @param value - one entry of a `types` filter
 * @returns true when it is a valid pattern
 * @example
 * ```ts
 * isValidPattern('ticket.*') // true
 * isValidPattern('ticket*') // false
 * ```
 */
export function isValidPattern(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  if (value === '*') return true;
  if (value.endsWith('.*')) return isValidEventName(value.slice(0, -2));
  return isValidEventName(value);
}

/**
 * Whether a value is a valid user id for a token: 1 to 256 characters with
 * no control characters (C0, DEL or C1: U+0000–U+001F and U+007F–U+009F).
 *
 * @param value - the candidate id
 * @returns true when valid
 * @example
 * ```ts
 * isValidUserId('user_123') // true
 * isValidUserId('user\u0085') // false (NEL, a C1 control)
 * ```
 */
export function isValidUserId(value: unknown): value is string {
  return typeof value === 'string' && /^[^\u0000-\u001f\u007f-\u009f]{1,256}$/.test(value);
}

/**
 * Whether a value is a valid idempotency key: 1 to 255 visible ASCII
 * characters (what fits an HTTP header unchanged).
 *
 * @param value - the candidate key
 * @returns true when valid
 * @example
 * ```ts
 * isValidIdempotencyKey(crypto.randomUUID()) // true
 * ```
 */
export function isValidIdempotencyKey(value: unknown): value is string {
  return typeof value === 'string' && /^[\x21-\x7e]{1,255}$/.test(value);
}
