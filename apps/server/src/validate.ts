import { checkChannel, checkEventName, checkIdempotencyKey } from '@cast/protocol';
import { fail } from './errors.js';
import type { PublishInput } from './broker/types.js';

// The name rules and their messages are the protocol's, so the SDK and the console say the same.
export { checkChannel, checkEventName, checkIdempotencyKey, checkUserId } from '@cast/protocol';

/** The largest `userInfo`, bytes of JSON (UTF-8). */
export const MAX_USER_INFO_BYTES = 1024;

/**
 * Checks a token's `userInfo`: absent (undefined or null), or a JSON object of
 * at most {@link MAX_USER_INFO_BYTES} bytes serialized.
 */
export function checkUserInfo(value: unknown): Record<string, unknown> | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) {
    fail(
      'INVALID_USER_INFO',
      `"userInfo" must be a JSON object such as {"name":"Ada"} (got ${Array.isArray(value) ? 'an array' : typeof value}).`,
    );
  }
  const bytes = Buffer.byteLength(JSON.stringify(value), 'utf8');
  if (bytes > MAX_USER_INFO_BYTES) {
    fail(
      'INVALID_USER_INFO',
      `"userInfo" must be at most ${MAX_USER_INFO_BYTES} bytes of JSON (got ${bytes}); keep it to what other members display.`,
    );
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
 * Validates the payload part of a publish: `data` (its source text as sent,
 * within the size limit) and the idempotency key from the body or the header.
 *
 * `data` is forwarded as its source text, never parsed and serialized again:
 * a large integer or `1e999` reaches subscribers as it was published.
 *
 * @param body - the event object
 * @param dataSource - the source text of the event's `data` member (see `JsonDocument.source`)
 * @param maxPayloadBytes - the largest `data` as UTF-8 JSON
 * @param headerKey - an `Idempotency-Key` header, for single publishes
 * @example
 * ```ts
 * const doc = await readJsonBody(c, max, [['data']])
 * const { data } = checkPayload(asObject(doc.value), doc.source(['data']), 64 * 1024)
 * ```
 */
export function checkPayload(
  body: Record<string, unknown>,
  dataSource: string | undefined,
  maxPayloadBytes: number,
  headerKey?: string,
): { data: string; idempotencyKey?: string } {
  if (!('data' in body) || dataSource === undefined) fail('BAD_REQUEST', '"data" is required (any JSON value).');
  const data = dataSource;
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
 * Validates one event to publish; its data is forwarded as its source text.
 *
 * @param body - the event object
 * @param dataSource - the source text of the event's `data` member
 * @param maxPayloadBytes - the largest `data` as UTF-8 JSON
 * @param headerKey - an `Idempotency-Key` header, for single publishes
 * @example
 * ```ts
 * const input = checkPublish(asObject(doc.value), doc.source(['data']), 64 * 1024)
 * ```
 */
export function checkPublish(
  body: Record<string, unknown>,
  dataSource: string | undefined,
  maxPayloadBytes: number,
  headerKey?: string,
): PublishInput {
  const channel = checkChannel(body.channel);
  const event = checkEventName(body.event);
  return { channel, event, ...checkPayload(body, dataSource, maxPayloadBytes, headerKey) };
}
