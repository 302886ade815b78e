import { checkChannel, checkEventName, checkIdempotencyKey } from '@cast/protocol';
import { fail } from './errors.js';
import type { PublishInput } from './broker/types.js';

// The name rules and their messages are the protocol's, so the SDK and the console say the same.
export { checkChannel, checkEventName, checkIdempotencyKey, checkUserId } from '@cast/protocol';

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
export function checkPublish(body: Record<string, unknown>, dataSource: string | undefined, maxPayloadBytes: number, headerKey?: string): PublishInput {
  const channel = checkChannel(body.channel);
  const event = checkEventName(body.event);
  return { channel, event, ...checkPayload(body, dataSource, maxPayloadBytes, headerKey) };
}
