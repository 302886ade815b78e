import {
  isReservedEventName,
  isValidChannel,
  isValidEventName,
  isValidIdempotencyKey,
  isValidUserId,
  RESERVED_EVENT_NAMES,
} from '@cast/protocol';
import { fail } from './errors.js';
import type { PublishInput } from './broker/types.js';


/** Checks a channel name, with a message that says what is allowed. */
export function checkChannel(value: unknown, field = 'channel'): string {
  if (value === undefined || value === null) fail('BAD_REQUEST', `"${field}" is required.`);
  if (typeof value !== 'string') fail('BAD_REQUEST', `"${field}" must be a string.`);
  if (!isValidChannel(value)) {
    fail('INVALID_CHANNEL', `${JSON.stringify((value as string).slice(0, 140))} is not a valid channel: use 1-128 letters, digits and _ - . : @ = +.`);
  }
  return value;
}

/** Checks an event name for publishing: the grammar, and not a reserved name. */
export function checkEventName(value: unknown, field = 'event'): string {
  if (value === undefined || value === null) fail('BAD_REQUEST', `"${field}" is required.`);
  if (typeof value !== 'string') fail('BAD_REQUEST', `"${field}" must be a string.`);
  if (!isValidEventName(value)) {
    fail('INVALID_EVENT_NAME', `${JSON.stringify((value as string).slice(0, 140))} is not a valid event name: use 1-128 letters, digits and _ - . : (not starting with . or -).`);
  }
  if (isReservedEventName(value)) {
    fail('RESERVED_EVENT_NAME', `"${value}" is reserved for the server's own events (${RESERVED_EVENT_NAMES.join(', ')}).`);
  }
  return value;
}

/** Checks an idempotency key. */
export function checkIdempotencyKey(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isValidIdempotencyKey(value)) {
    fail('BAD_REQUEST', 'The idempotency key must be 1-255 visible ASCII characters.');
  }
  return value;
}

/** Checks a user id. */
export function checkUserId(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isValidUserId(value)) fail('BAD_REQUEST', '"userId" must be a string of 1-256 characters without control characters.');
  return value;
}

/** The largest `userInfo`, bytes of JSON (UTF-8). */
export const MAX_USER_INFO_BYTES = 1024;

/**
 * Checks a token's `userInfo`: absent (undefined or null), or a JSON object of
 * at most {@link MAX_USER_INFO_BYTES} bytes serialized.
 */
export function checkUserInfo(value: unknown): Record<string, unknown> | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) {
    fail('INVALID_USER_INFO', `"userInfo" must be a JSON object such as {"name":"Ada"} (got ${Array.isArray(value) ? 'an array' : typeof value}).`);
  }
  const bytes = Buffer.byteLength(JSON.stringify(value), 'utf8');
  if (bytes > MAX_USER_INFO_BYTES) {
    fail('INVALID_USER_INFO', `"userInfo" must be at most ${MAX_USER_INFO_BYTES} bytes of JSON (got ${bytes}); keep it to what other members display.`);
  }
  return value as Record<string, unknown>;
}

/** Checks an optional boolean field. */
export function checkBoolean(value: unknown, field: string): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') fail('BAD_REQUEST', `"${field}" must be true or false.`);
  return value;
}

/**
 * Validates the payload part of a publish: `data` (serialized once, within the
 * size limit) and the idempotency key from the body or the header.
 *
 * @param body - the event object
 * @param maxPayloadBytes - the largest `data` as UTF-8 JSON
 * @param headerKey - an `Idempotency-Key` header, for single publishes
 */
export function checkPayload(
  body: Record<string, unknown>,
  maxPayloadBytes: number,
  headerKey?: string,
): { data: string; idempotencyKey?: string } {
  if (!('data' in body) || body.data === undefined) fail('BAD_REQUEST', '"data" is required (any JSON value).');
  const data = JSON.stringify(body.data);
  if (Buffer.byteLength(data, 'utf8') > maxPayloadBytes) {
    fail('PAYLOAD_TOO_LARGE', `"data" is larger than ${maxPayloadBytes} bytes of JSON.`);
  }
  const bodyKey = checkIdempotencyKey(body.idempotencyKey);
  const header = checkIdempotencyKey(headerKey);
  if (bodyKey !== undefined && header !== undefined && bodyKey !== header) {
    fail('BAD_REQUEST', 'The Idempotency-Key header and "idempotencyKey" differ; send one.');
  }
  const idempotencyKey = bodyKey ?? header;
  return idempotencyKey === undefined ? { data } : { data, idempotencyKey };
}

/**
 * Validates one event to publish and serializes its data once.
 *
 * @param body - the event object
 * @param maxPayloadBytes - the largest `data` as UTF-8 JSON
 * @param headerKey - an `Idempotency-Key` header, for single publishes
 */
export function checkPublish(body: Record<string, unknown>, maxPayloadBytes: number, headerKey?: string): PublishInput {
  const channel = checkChannel(body.channel);
  const event = checkEventName(body.event);
  return { channel, event, ...checkPayload(body, maxPayloadBytes, headerKey) };
}
