import { checkChannel, checkEventName, checkIdempotencyKey } from '@cast/protocol';
import { fail } from './errors.js';
import type { PublishInput } from './broker/types.js';

// The name rules and their messages are the protocol's, so the SDK and the console say the same.
export { checkChannel, checkEventName, checkIdempotencyKey, checkUserId } from '@cast/protocol';

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
