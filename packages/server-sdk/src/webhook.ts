/**
 * Webhook signatures: `Cast-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
 * Web Crypto only, so it runs in every runtime the SDK does.
 */
import { CastError, type WebhookBody, type WebhookEvent } from '@cast/protocol';

/**
 * Options of {@link verifyWebhook}.
 *
 * @example
 * ```ts
 * const options: VerifyWebhookOptions = { toleranceSeconds: 600 }
 * ```
 */
export interface VerifyWebhookOptions {
  /**
   * How far the signature's time may be from now, seconds; older deliveries
   * are refused as replays (`WEBHOOK_TOO_OLD`). `Infinity` turns the check off.
   * @defaultValue 300
   */
  toleranceSeconds?: number;
  /** The current time, milliseconds since the epoch. @defaultValue `Date.now()` */
  now?: number;
}

/**
 * Options of {@link signWebhook}.
 *
 * @example
 * ```ts
 * const options: SignWebhookOptions = { timestamp: Math.floor(Date.now() / 1000) }
 * ```
 */
export interface SignWebhookOptions {
  /** The `t=` of the header, seconds since the epoch. @defaultValue now */
  timestamp?: number;
}

/** Default of {@link VerifyWebhookOptions.toleranceSeconds}. */
const DEFAULT_TOLERANCE_SECONDS = 300;
/** More `v1=` entries than any rotation needs: a header with more is refused rather than checked at length. */
const MAX_SIGNATURES = 8;
const HEX_SHA256 = /^[0-9a-f]{64}$/;

const encoder = new TextEncoder();

function bytesOf(body: string | Uint8Array | ArrayBuffer): Uint8Array {
  if (typeof body === 'string') return encoder.encode(body);
  // Views and buffers from another realm (a vm context, a worker) fail instanceof, hence these checks.
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  if (Object.prototype.toString.call(body) === '[object ArrayBuffer]') return new Uint8Array(body);
  throw new CastError('INVALID_OPTIONS', 'The webhook body must be the raw body: a string, Uint8Array or ArrayBuffer.');
}

function secretsOf(secret: string | readonly string[]): string[] {
  const secrets = typeof secret === 'string' ? [secret] : Array.isArray(secret) ? [...secret] : [];
  if (secrets.length === 0 || !secrets.every((s) => typeof s === 'string' && s.length > 0)) {
    throw new CastError(
      'INVALID_OPTIONS',
      'The webhook secret must be a non-empty string (or a list of them, during rotation).',
    );
  }
  return secrets;
}

async function hmacHex(secret: string, timestamp: string, body: Uint8Array): Promise<string> {
  const key = await globalThis.crypto.subtle.importKey(
    'raw',
    encoder.encode(secret),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  );
  const prefix = encoder.encode(`${timestamp}.`);
  const message = new Uint8Array(prefix.length + body.length);
  message.set(prefix);
  message.set(body, prefix.length);
  const mac = new Uint8Array(await globalThis.crypto.subtle.sign('HMAC', key, message));
  let hex = '';
  for (const byte of mac) hex += byte.toString(16).padStart(2, '0');
  return hex;
}

/** Compares two strings of equal length in time that does not depend on where they differ. */
function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i += 1) difference |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return difference === 0;
}

function invalid(message: string): CastError {
  return new CastError('INVALID_SIGNATURE', message);
}

/** The `t=` and the `v1=` values of a header; other schemes (`v0=`, a future `v2=`) are ignored. */
function parseHeader(header: string | null | undefined): { timestamp: string; signatures: string[] } {
  if (typeof header !== 'string' || header.trim() === '') throw invalid('The request has no Cast-Signature header.');
  let timestamp: string | undefined;
  const signatures: string[] = [];
  for (const part of header.split(',')) {
    const at = part.indexOf('=');
    if (at <= 0) throw invalid('The Cast-Signature header is malformed: expected t=<seconds>,v1=<hex>.');
    const name = part.slice(0, at).trim();
    const value = part.slice(at + 1).trim();
    if (name === 't') {
      if (timestamp !== undefined || !/^\d{1,12}$/.test(value)) {
        throw invalid('The Cast-Signature header is malformed: t= must appear once, as whole seconds.');
      }
      timestamp = value;
    } else if (name === 'v1') {
      const hex = value.toLowerCase();
      if (!HEX_SHA256.test(hex)) throw invalid('The Cast-Signature header is malformed: v1= must be 64 hex digits.');
      signatures.push(hex);
    }
  }
  if (timestamp === undefined) throw invalid('The Cast-Signature header has no t= timestamp.');
  if (signatures.length === 0) throw invalid('The Cast-Signature header has no v1= signature.');
  if (signatures.length > MAX_SIGNATURES)
    throw invalid(`The Cast-Signature header has more than ${MAX_SIGNATURES} signatures.`);
  return { timestamp, signatures };
}

function checkTolerance(value: number | undefined): number {
  const tolerance = value ?? DEFAULT_TOLERANCE_SECONDS;
  if (typeof tolerance !== 'number' || Number.isNaN(tolerance) || tolerance <= 0) {
    throw new CastError(
      'INVALID_OPTIONS',
      'toleranceSeconds must be a positive number of seconds (Infinity for no limit).',
    );
  }
  return tolerance;
}

function isEvent(value: unknown): value is WebhookEvent {
  if (typeof value !== 'object' || value === null) return false;
  const event = value as Record<string, unknown>;
  return ['id', 'type', 'tenant', 'channel', 'at'].every((field) => typeof event[field] === 'string');
}

/**
 * Signs a webhook body the way the Cast server does: the value of a
 * `Cast-Signature` header, with one `v1=` per secret. For testing a receiver
 * without a server, or for a gateway that re-signs.
 *
 * @param rawBody - the exact bytes (or text) of the body
 * @param secret - the webhook secret, or several (one `v1=` each)
 * @param options - the timestamp to sign with
 * @returns the header value, `t=<seconds>,v1=<hex>[,v1=<hex>…]`
 * @example
 * ```ts
 * const body = JSON.stringify({ events: [] })
 * const signature = await signWebhook(body, process.env.CAST_WEBHOOK_SECRET!)
 * await fetch('http://localhost:3000/webhooks/cast', { method: 'POST', body, headers: { 'Cast-Signature': signature } })
 * ```
 */
export async function signWebhook(
  rawBody: string | Uint8Array | ArrayBuffer,
  secret: string | readonly string[],
  options: SignWebhookOptions = {},
): Promise<string> {
  const body = bytesOf(rawBody);
  const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
  if (!/^\d{1,12}$/.test(timestamp))
    throw new CastError('INVALID_OPTIONS', 'timestamp must be whole seconds since the epoch.');
  const signatures = await Promise.all(secretsOf(secret).map((s) => hmacHex(s, timestamp, body)));
  return [`t=${timestamp}`, ...signatures.map((hex) => `v1=${hex}`)].join(',');
}

/**
 * Verifies a webhook delivery and returns its events. Checks the
 * `Cast-Signature` header (an HMAC-SHA256 of `"<t>.<raw body>"`, compared in
 * constant time; any one of several `v1=` matching is enough, so a secret can
 * be rotated) and then that `t` is within the tolerance of now (a replay of an
 * old delivery is refused). Pass the body exactly as received, before any
 * JSON parsing: re-serialized JSON does not verify.
 *
 * @param rawBody - the request body as received (text or bytes)
 * @param signatureHeader - the `Cast-Signature` header value
 * @param secret - the webhook secret (`CAST_WEBHOOK_SECRET` of the server), or several during a rotation
 * @param options - `toleranceSeconds` (default 300)
 * @returns the delivered events, in order
 * @throws CastError `INVALID_SIGNATURE` (no, malformed or wrong signature), `WEBHOOK_TOO_OLD`
 *   (signed outside the tolerance), `BAD_REQUEST` (signed, but not a Cast webhook body)
 * @example
 * ```ts
 * app.post('/webhooks/cast', async (c) => {
 *   const events = await verifyWebhook(await c.req.text(), c.req.header('Cast-Signature'), secret)
 *   for (const event of events) if (event.type === 'channel.vacated') await stopJob(event.channel)
 *   return c.body(null, 204)
 * })
 * ```
 */
export async function verifyWebhook(
  rawBody: string | Uint8Array | ArrayBuffer,
  signatureHeader: string | null | undefined,
  secret: string | readonly string[],
  options: VerifyWebhookOptions = {},
): Promise<WebhookEvent[]> {
  const body = bytesOf(rawBody);
  const secrets = secretsOf(secret);
  const tolerance = checkTolerance(options.toleranceSeconds);
  const { timestamp, signatures } = parseHeader(signatureHeader);

  let matched = false;
  for (const expected of await Promise.all(secrets.map((s) => hmacHex(s, timestamp, body)))) {
    for (const given of signatures) matched = constantTimeEqual(expected, given) || matched;
  }
  if (!matched) throw invalid('The Cast-Signature does not match the body under the webhook secret.');

  const nowSeconds = Math.floor((options.now ?? Date.now()) / 1000);
  const age = nowSeconds - Number(timestamp);
  if (Math.abs(age) > tolerance) {
    throw new CastError(
      'WEBHOOK_TOO_OLD',
      age > 0
        ? `The webhook was signed ${age} s ago, more than the tolerance of ${tolerance} s (a replayed delivery?).`
        : `The webhook is signed ${-age} s in the future, more than the tolerance of ${tolerance} s (clocks apart?).`,
    );
  }

  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(body));
  } catch (error) {
    throw new CastError('BAD_REQUEST', 'The webhook body is not JSON.', { cause: error });
  }
  const events = (parsed as Partial<WebhookBody> | null)?.events;
  if (!Array.isArray(events) || !events.every(isEvent)) {
    throw new CastError('BAD_REQUEST', 'The webhook body is not { events: [{ id, type, tenant, channel, at }] }.');
  }
  return events;
}
