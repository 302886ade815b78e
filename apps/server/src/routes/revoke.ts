import { Hono } from 'hono';
import { authenticate } from '../auth/api-key.js';
import { asObject, readJson } from '../body.js';
import type { ControlMessage } from '../broker/types.js';
import type { ServerDeps } from '../context.js';
import { fail } from '../errors.js';
import { requestOf } from '../request.js';
import type { Revocation } from '../revocation/list.js';
import { checkChannel, checkUserId } from '../validate.js';

/** How far in the future `issuedBefore` may be and still count as now (clock skew between a backend and the server), ms. */
export const ISSUED_BEFORE_SKEW_MS = 60_000;

/** An ISO 8601 date-time with a time zone (`Z` or an offset). */
const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d{1,9})?)?(?:Z|[+-]\d\d:\d\d)$/i;

const present = (v: unknown) => v !== undefined && v !== null;

function checkId(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 128) {
    fail('BAD_REQUEST', `"${field}" must be a string of 1-128 characters.`);
  }
  return value;
}

/**
 * Reads the body of `POST /push/revoke` into a revocation: exactly one of
 * `{"tokenId"}`, `{"userId"}` or `{"issuedBefore"}`, where `userId` and
 * `issuedBefore` may come together. Unknown fields are ignored.
 *
 * @param body - the request body
 * @param now - the server's clock, ms
 * @returns the revocation
 * @example
 * ```ts
 * readRevocation({ userId: 'u1' }, Date.now()) // { kind: 'user', userId: 'u1', before: <now> }
 * ```
 */
export function readRevocation(body: Record<string, unknown>, now: number): Revocation {
  const { tokenId, userId, issuedBefore } = body;
  if (present(tokenId)) {
    if (present(userId) || present(issuedBefore)) {
      fail(
        'BAD_REQUEST',
        'Send "tokenId" alone: it names one token. "userId" and "issuedBefore" go together, without "tokenId".',
      );
    }
    return { kind: 'token', tokenId: checkId(tokenId, 'tokenId'), at: now };
  }
  if (!present(userId) && !present(issuedBefore)) {
    fail(
      'BAD_REQUEST',
      'Say what to revoke: {"userId"}, {"tokenId"} or {"issuedBefore": "<ISO 8601 time>"} (optionally with "userId").',
    );
  }
  let before = now;
  if (present(issuedBefore)) {
    if (typeof issuedBefore !== 'string' || !ISO_TIME.test(issuedBefore) || Number.isNaN(Date.parse(issuedBefore))) {
      fail('BAD_REQUEST', '"issuedBefore" must be an ISO 8601 time with a time zone, e.g. "2026-01-31T12:00:00Z".');
    }
    const at = Date.parse(issuedBefore);
    if (at > now + ISSUED_BEFORE_SKEW_MS) {
      fail('BAD_REQUEST', '"issuedBefore" must not be in the future: a revocation covers tokens already issued.');
    }
    before = Math.min(at, now);
  }
  const user = checkUserId(userId);
  return user === undefined ? { kind: 'all', before } : { kind: 'user', userId: user, before };
}

/**
 * Reads the body of `POST /push/disconnect`: exactly one of `userId` or
 * `sessionId`, an optional `channel` and an optional `reconnect` (default
 * false). Unknown fields are ignored.
 *
 * @param body - the request body
 * @returns the control message every node acts on
 * @example
 * ```ts
 * readDisconnect({ userId: 'u1', reconnect: true }) // { type: 'disconnect', userId: 'u1', reconnect: true }
 * ```
 */
export function readDisconnect(body: Record<string, unknown>): ControlMessage {
  const { userId, sessionId, channel, reconnect } = body;
  if (present(userId) === present(sessionId)) {
    fail(
      'BAD_REQUEST',
      present(userId)
        ? 'Send "userId" or "sessionId", not both.'
        : 'Say whose streams to close: {"userId"} or {"sessionId"} (optionally with "channel" and "reconnect").',
    );
  }
  if (present(reconnect) && typeof reconnect !== 'boolean') fail('BAD_REQUEST', '"reconnect" must be true or false.');
  const message: ControlMessage = { type: 'disconnect', reconnect: reconnect === true };
  if (present(userId)) message.userId = checkUserId(userId) as string;
  else message.sessionId = checkId(sessionId, 'sessionId');
  if (present(channel)) message.channel = checkChannel(channel);
  return message;
}

/**
 * `POST /push/revoke` and `POST /push/disconnect` (secret API key): end
 * matching streams on every node with a final `revoked` / `disconnected`
 * event. Revocations also refuse the covered tokens afterwards (401
 * `TOKEN_REVOKED`). Both answer how many streams they ended across nodes.
 *
 * @example
 * ```ts
 * app.route('/', revocationRoutes(deps)) // under /push
 * ```
 */
export function revocationRoutes(deps: ServerDeps): Hono {
  const { config, broker } = deps;
  const app = new Hono();

  app.post('/revoke', async (c) => {
    const req = requestOf(c);
    const { tenant } = authenticate(config.keys, req, 'secret');
    const revocation = readRevocation(asObject(await readJson(req, 16 * 1024)), Date.now());
    return c.json({ revoked: await broker.revoke(tenant, revocation) });
  });

  app.post('/disconnect', async (c) => {
    const req = requestOf(c);
    const { tenant } = authenticate(config.keys, req, 'secret');
    const message = readDisconnect(asObject(await readJson(req, 16 * 1024)));
    return c.json({ disconnected: await broker.broadcast(tenant, message) });
  });

  return app;
}
