/**
 * The name rules with their messages: one wording per rule, so a bad name
 * reads the same whether the server, the SDK or the console catches it.
 * `xError` returns the error (for a form that shows its message); `checkX`
 * throws it. The grammar itself lives in `names.ts`.
 */
import { CastError } from './errors.js';
import {
  isReservedEventName,
  isValidChannel,
  isValidEventName,
  isValidIdempotencyKey,
  isValidPattern,
  isValidUserId,
  RESERVED_EVENT_NAMES,
} from './names.js';

/** A value quoted for a message, cut short so a huge input does not make a huge answer. */
function quote(value: string): string {
  return JSON.stringify(value.slice(0, 140));
}

/** The error of a required field that is absent or not a string, if it is. */
function stringError(value: unknown, field: string): CastError | undefined {
  if (value === undefined || value === null) return new CastError('BAD_REQUEST', `"${field}" is required.`);
  if (typeof value !== 'string') return new CastError('BAD_REQUEST', `"${field}" must be a string.`);
  return undefined;
}

/** Throws `error` when there is one; otherwise `value` passed its check. */
function orThrow<T>(error: CastError | undefined, value: T): T {
  if (error) throw error;
  return value;
}

/**
 * What is wrong with a channel name, if anything.
 *
 * @param value - the candidate name
 * @param field - the field name for messages about absent or non-string values
 * @returns a `CastError` (`INVALID_CHANNEL`, or `BAD_REQUEST` when absent or not a string), or undefined when valid
 * @example
 * ```ts
 * channelError('a b')?.message // '"a b" is not a valid channel: use 1-128 letters, digits and _ - . : @ = +.'
 * channelError('orders') // undefined
 * ```
 */
export function channelError(value: unknown, field = 'channel'): CastError | undefined {
  const error = stringError(value, field);
  if (error || isValidChannel(value)) return error;
  return new CastError(
    'INVALID_CHANNEL',
    `${quote(value as string)} is not a valid channel: use 1-128 letters, digits and _ - . : @ = +.`,
  );
}

/**
 * Checks a channel name.
 *
 * @param value - the candidate name
 * @param field - the field name for messages about absent or non-string values
 * @returns the name
 * @throws CastError the one {@link channelError} gives
 * @example
 * ```ts
 * const channel = checkChannel(body.channel)
 * const first = checkChannel(channels[0], 'channels[0]')
 * ```
 */
export function checkChannel(value: unknown, field = 'channel'): string {
  return orThrow(channelError(value, field), value as string);
}

/**
 * What is wrong with an event name to publish, if anything: the grammar,
 * then the names the server sends itself.
 *
 * @param value - the candidate name
 * @param field - the field name for messages about absent or non-string values
 * @returns a `CastError` (`INVALID_EVENT_NAME`, `RESERVED_EVENT_NAME`, or `BAD_REQUEST` when absent or not a string), or undefined when valid
 * @example
 * ```ts
 * eventNameError('connected')?.code // 'RESERVED_EVENT_NAME'
 * eventNameError('order.created') // undefined
 * ```
 */
export function eventNameError(value: unknown, field = 'event'): CastError | undefined {
  const error = stringError(value, field);
  if (error) return error;
  if (!isValidEventName(value)) {
    return new CastError(
      'INVALID_EVENT_NAME',
      `${quote(value as string)} is not a valid event name: use 1-128 letters, digits and _ - . : (not starting with . or -).`,
    );
  }
  if (isReservedEventName(value)) {
    return new CastError(
      'RESERVED_EVENT_NAME',
      `"${value}" is reserved for the server's own events (${RESERVED_EVENT_NAMES.join(', ')}).`,
    );
  }
  return undefined;
}

/**
 * Checks an event name to publish.
 *
 * @param value - the candidate name
 * @param field - the field name for messages about absent or non-string values
 * @returns the name
 * @throws CastError the one {@link eventNameError} gives
 * @example
 * ```ts
 * const event = checkEventName(body.topic, 'topic')
 * ```
 */
export function checkEventName(value: unknown, field = 'event'): string {
  return orThrow(eventNameError(value, field), value as string);
}

/**
 * What is wrong with an event filter entry (`*`, a name or `prefix.*`), if anything.
 *
 * @param value - one entry of a `types` list
 * @returns a `CastError` `INVALID_FILTER`, or undefined when valid
 * @example
 * ```ts
 * patternError('ticket*')?.code // 'INVALID_FILTER'
 * patternError('ticket.*') // undefined
 * ```
 */
export function patternError(value: unknown): CastError | undefined {
  if (isValidPattern(value)) return undefined;
  return new CastError(
    'INVALID_FILTER',
    `${quote(String(value))} is not a valid type filter: use "*", "prefix.*" or an event name.`,
  );
}

/**
 * What is wrong with a user id, if anything. The field is optional: absent
 * (undefined or null) passes.
 *
 * @param value - the candidate id
 * @returns a `CastError` `BAD_REQUEST`, or undefined when valid or absent
 * @example
 * ```ts
 * userIdError('a\nb')?.message // '"userId" must be a string of 1-256 characters without control characters.'
 * ```
 */
export function userIdError(value: unknown): CastError | undefined {
  if (value === undefined || value === null || isValidUserId(value)) return undefined;
  return new CastError('BAD_REQUEST', '"userId" must be a string of 1-256 characters without control characters.');
}

/**
 * Checks an optional user id.
 *
 * @param value - the candidate id
 * @returns the id, or undefined when absent
 * @throws CastError the one {@link userIdError} gives
 * @example
 * ```ts
 * const userId = checkUserId(body.userId)
 * ```
 */
export function checkUserId(value: unknown): string | undefined {
  return orThrow(userIdError(value), (value ?? undefined) as string | undefined);
}

/**
 * What is wrong with an idempotency key, if anything. The field is optional:
 * absent (undefined or null) passes.
 *
 * @param value - the candidate key
 * @returns a `CastError` `BAD_REQUEST`, or undefined when valid or absent
 * @example
 * ```ts
 * idempotencyKeyError('has space')?.code // 'BAD_REQUEST'
 * ```
 */
export function idempotencyKeyError(value: unknown): CastError | undefined {
  if (value === undefined || value === null || isValidIdempotencyKey(value)) return undefined;
  return new CastError('BAD_REQUEST', 'The idempotency key must be 1-255 visible ASCII characters.');
}

/**
 * Checks an optional idempotency key.
 *
 * @param value - the candidate key
 * @returns the key, or undefined when absent
 * @throws CastError the one {@link idempotencyKeyError} gives
 * @example
 * ```ts
 * const key = checkIdempotencyKey(c.req.header('idempotency-key'))
 * ```
 */
export function checkIdempotencyKey(value: unknown): string | undefined {
  return orThrow(idempotencyKeyError(value), (value ?? undefined) as string | undefined);
}
