import { DEFAULTS, type TokenResponse } from '@cast/protocol';
import { authenticate } from '../auth/api-key.js';
import { asObject, readJson } from '../body.js';
import type { ServerDeps } from '../context.js';
import { fail } from '../errors.js';
import { MAX_TOKEN_BYTES } from '../http-limits.js';
import type { HttpRequest } from '../request.js';
import { checkBoolean, checkChannel, checkUserId, checkUserInfo } from '../validate.js';

/** The expiry last formatted: the tokens issued in one second with one lifetime share it. */
let lastExpiry = { at: Number.NaN, text: '' };

/** An expiry as the answer gives it: ISO 8601 in UTC, whole seconds (`2026-01-01T00:00:00Z`). */
function formatExpiry(expiresAt: Date): string {
  const at = expiresAt.getTime();
  if (at !== lastExpiry.at) lastExpiry = { at, text: expiresAt.toISOString().replace('.000Z', 'Z') };
  return lastExpiry.text;
}

/**
 * `POST /push/tokens`: authenticates by secret key, checks the grant asked
 * for and signs a stream token. Both the plain `node:http` handler and Hono
 * serve the route through here.
 *
 * @param deps - the server's services
 * @param req - the request
 * @returns the wire answer
 * @example
 * ```ts
 * app.post('/tokens', async (c) => c.json(await issueToken(deps, requestOf(c))))
 * ```
 */
export async function issueToken(
  deps: Pick<ServerDeps, 'config' | 'tokens' | 'metrics'>,
  req: HttpRequest,
): Promise<TokenResponse> {
  const { config, tokens, metrics } = deps;
  const { tenant } = authenticate(config.keys, req, 'secret');
  const body = asObject(await readJson(req, 64 * 1024));
  const { channels: rawChannels, userId: rawUser, ttlSeconds: rawTtl, presence: rawPresence, userInfo: rawInfo } = body;
  if (!Array.isArray(rawChannels) || rawChannels.length === 0) {
    fail('BAD_REQUEST', '"channels" must be a non-empty array of channel names.');
  }
  const channels = [...new Set(rawChannels.map((ch, i) => checkChannel(ch, `channels[${i}]`)))];
  if (channels.length > config.maxChannelsPerToken) {
    fail(
      'TOO_MANY_CHANNELS',
      `A token may grant at most ${config.maxChannelsPerToken} channels (got ${channels.length}).`,
    );
  }
  const userId = checkUserId(rawUser);
  const presence = checkBoolean(rawPresence, 'presence');
  const userInfo = checkUserInfo(rawInfo);
  if (userInfo !== undefined && userId === undefined) {
    fail('INVALID_USER_INFO', '"userInfo" describes a user: send it with a "userId".');
  }
  let ttlSeconds: number = DEFAULTS.tokenTtlSeconds;
  if (rawTtl !== undefined && rawTtl !== null) {
    if (typeof rawTtl !== 'number' || !Number.isInteger(rawTtl) || rawTtl < 1) {
      fail('BAD_REQUEST', '"ttlSeconds" must be a whole number of seconds, at least 1.');
    }
    if (rawTtl > config.maxTokenTtlSeconds) {
      fail('BAD_REQUEST', `"ttlSeconds" must be at most ${config.maxTokenTtlSeconds}.`);
    }
    ttlSeconds = rawTtl;
  }
  ttlSeconds = Math.min(ttlSeconds, config.maxTokenTtlSeconds);
  const signed = await tokens.sign({
    tenant,
    channels,
    ttlSeconds,
    ...(userId === undefined ? {} : { userId }),
    ...(presence ? { presence } : {}),
    ...(userInfo === undefined ? {} : { userInfo }),
  });
  if (signed.token.length > MAX_TOKEN_BYTES) {
    fail(
      'TOKEN_TOO_LARGE',
      `The token would be ${signed.token.length} bytes, over the ${MAX_TOKEN_BYTES} a stream request may carry: grant fewer or shorter channels.`,
    );
  }
  metrics.tokensIssued++;
  return {
    token: signed.token,
    expiresAt: formatExpiry(signed.expiresAt),
    channels,
    tokenId: signed.tokenId,
  };
}
