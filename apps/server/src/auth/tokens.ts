import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { isValidChannel, isValidUserId, TOKEN_AUDIENCE, TOKEN_ISSUER, type TokenClaims } from '@cast/protocol';
import { fail } from '../errors.js';

/** What a verified token grants. */
export interface TokenGrant {
  tenant: string;
  channels: string[];
  userId: string | undefined;
  /** Expiry, ms since the epoch. */
  expiresAt: number;
  /** The token's id (`jti`), when it has one; what `POST /push/revoke` with `tokenId` names. */
  tokenId: string | undefined;
  /**
   * When the token was issued, ms since the epoch: its `ims` claim, else the
   * start of its `iat` second (so a revocation in that second covers it).
   */
  issuedAt: number;
  /** Present and true when the stream receives the presence events of its channels (claim `prs`). */
  presence?: true;
  /** What other members see about the user (claim `uin`), as JSON text; absent when none. */
  userInfo?: string;
}

/** What a token is signed for. */
export interface TokenInput {
  tenant: string;
  channels: string[];
  userId?: string;
  ttlSeconds: number;
  /** Claim `prs`: the stream receives presence events. */
  presence?: boolean;
  /** Claim `uin`: what other members see about the user (already checked to be a small object). */
  userInfo?: Record<string, unknown>;
}

/**
 * How far in the future a token's `iat` may be, and how much its lifetime
 * counted from now may exceed the maximum: the clocks of the signer (another
 * node, a backend signing offline) and of this server may differ a little.
 */
export const CLOCK_SKEW_SECONDS = 60;

/** What a verified token's claims are checked against, beyond its signature and lifetime. */
export interface TokenLimits {
  /** The tenants this server knows (those of its API keys); a token of any other is refused. Unset: any tenant. */
  tenants?: ReadonlySet<string>;
  /** The most channels a token may grant (`CAST_MAX_CHANNELS_PER_TOKEN`). Unset: no limit. */
  maxChannels?: number;
}

/** Signs and verifies stream tokens with one HS256 secret. */
export interface TokenService {
  sign(input: TokenInput): Promise<{ token: string; expiresAt: Date; tokenId: string }>;
  verify(token: string): Promise<TokenGrant>;
}

/** The protected header of every token this server signs, encoded once. */
const HEADER = Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url');

/** Three base64url segments; anything else is not a compact JWS. */
const COMPACT_JWS = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/;

/** Decodes invalid UTF-8 as an error rather than as U+FFFD. */
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** A base64url segment as a plain JSON object, or undefined. */
function decodeObject(segment: string): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(strictUtf8.decode(Buffer.from(segment, 'base64url')));
  } catch {
    return undefined;
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function invalid(message = 'The token is not valid (malformed, tampered with or signed with another key).'): never {
  fail('INVALID_TOKEN', message);
}

/**
 * Creates the token service: HS256 JWTs signed and verified with
 * `node:crypto` HMAC (jose over WebCrypto made token issue a quarter slower,
 * issue 8). Tokens minted by any conforming HS256 signer with the same secret,
 * such as `@cast/server-sdk`'s `signToken`, verify.
 *
 * Verification accepts a token only when all of these hold, and refuses it
 * with `INVALID_TOKEN` otherwise (`TOKEN_EXPIRED` for the expiry alone, once
 * everything before it held):
 * - three base64url segments; the header a JSON object with `alg` exactly
 *   `HS256` (`none` and every other algorithm refused) and no `crit`;
 * - the signature equal to the HMAC-SHA256 of the first two segments under the
 *   secret, compared in constant time;
 * - the payload a JSON object with `iss` = `cast`, `aud` = `cast:stream` (or a
 *   list holding it), numeric `iat` and `exp`, `nbf` (when present) not in the
 *   future and `exp` in the future, with no clock tolerance;
 * - a string tenant `tid`, a non-empty list of string channels `chs`, and a
 *   lifetime `exp - iat` of at most `maxTtlSeconds`;
 * - the claims the issue route (`POST /push/tokens`) would have written, for
 *   tokens signed elsewhere with the secret: `iat` at most
 *   {@link CLOCK_SKEW_SECONDS} in the future and `exp - now` at most
 *   `maxTtlSeconds` (plus that skew), the tenant one of `limits.tenants`,
 *   every channel in the public channel grammar (so never `$bus` or a
 *   `$db:` feed, which only their own routes serve), at most
 *   `limits.maxChannels` of them, and `sub` (when present) a valid user id;
 * - `jti`, when present, a string of 1-128 characters; `ims`, when present, a
 *   whole number of milliseconds within the `iat` second.
 *
 * Every token it signs carries a `jti` (a random UUID) and `ims`, the issue
 * time in milliseconds, which revocations compare against: a revocation
 * covers the tokens issued strictly before it.
 *
 * @param secret - the signing secret (UTF-8)
 * @param maxTtlSeconds - the longest lifetime a token may claim; longer ones are refused even when validly signed
 * @param limits - the known tenants and the channel limit the claims are checked against
 * @returns the service
 * @example
 * ```ts
 * const tokens = createTokenService(config.signingSecret, config.maxTokenTtlSeconds, { tenants: new Set(['acme']), maxChannels: 100 })
 * const { token } = await tokens.sign({ tenant: 'acme', channels: ['orders'], ttlSeconds: 3600 })
 * const grant = await tokens.verify(token)
 * ```
 */
export function createTokenService(secret: string, maxTtlSeconds: number, limits: TokenLimits = {}): TokenService {
  const key = Buffer.from(secret, 'utf8');
  const mac = (signingInput: string): string => createHmac('sha256', key).update(signingInput).digest('base64url');

  const verify = (token: string): TokenGrant => {
    const parts = COMPACT_JWS.exec(token);
    if (!parts) invalid();
    const [, header64, payload64, signature] = parts as unknown as [string, string, string, string];
    const header = decodeObject(header64);
    // Only HS256: `alg: none` and every other algorithm are refused, as is any critical extension.
    if (!header || header.alg !== 'HS256' || 'crit' in header) invalid();
    const expected = mac(`${header64}.${payload64}`);
    if (signature.length !== expected.length || !timingSafeEqual(Buffer.from(signature), Buffer.from(expected)))
      invalid();
    const claims = decodeObject(payload64);
    if (!claims) invalid();
    const { iss, aud, iat, nbf, exp } = claims;
    if (iss !== TOKEN_ISSUER) invalid();
    if (aud !== TOKEN_AUDIENCE && !(Array.isArray(aud) && aud.includes(TOKEN_AUDIENCE))) invalid();
    if (typeof iat !== 'number' || typeof exp !== 'number') invalid();
    const now = Math.floor(Date.now() / 1000);
    if (iat > now + CLOCK_SKEW_SECONDS)
      invalid('The token was issued in the future (its "iat" is ahead of this server\'s clock).');
    if (nbf !== undefined && (typeof nbf !== 'number' || nbf > now)) invalid();
    if (exp <= now) fail('TOKEN_EXPIRED', 'The token has expired; ask your backend for a fresh one.');
    const { tid, chs, sub, prs, uin } = claims as Partial<TokenClaims>;
    if (
      typeof tid !== 'string' ||
      !Array.isArray(chs) ||
      !chs.every((c) => typeof c === 'string') ||
      chs.length === 0
    ) {
      invalid('The token does not carry a tenant and channels.');
    }
    if (exp - iat > maxTtlSeconds || exp - now > maxTtlSeconds + CLOCK_SKEW_SECONDS) {
      invalid(`The token's lifetime is longer than this server allows (${maxTtlSeconds} s).`);
    }
    if (limits.tenants && !limits.tenants.has(tid)) invalid('The token is for a tenant this server does not know.');
    if (limits.maxChannels !== undefined && chs.length > limits.maxChannels) {
      invalid(`The token grants more channels than this server allows (${limits.maxChannels}).`);
    }
    if (!chs.every(isValidChannel)) invalid('The token grants a channel outside the channel grammar.');
    if (sub !== undefined && !isValidUserId(sub)) invalid('The token\'s user id ("sub") is not a valid user id.');
    const { jti, ims } = claims as Partial<TokenClaims>;
    if (jti !== undefined && (typeof jti !== 'string' || jti.length === 0 || jti.length > 128)) {
      invalid('The token\'s "jti" must be a string of 1-128 characters.');
    }
    // A millisecond issue time outside its own iat second is a signer's bug: trusting either would be a guess.
    if (ims !== undefined && (typeof ims !== 'number' || !Number.isInteger(ims) || Math.floor(ims / 1000) !== iat)) {
      invalid('The token\'s "ims" must be its issue time in whole milliseconds, within its "iat" second.');
    }
    const grant: TokenGrant = {
      tenant: tid,
      channels: chs,
      userId: typeof sub === 'string' ? sub : undefined,
      expiresAt: exp * 1000,
      tokenId: jti,
      issuedAt: ims ?? iat * 1000,
    };
    if (prs === true) grant.presence = true;
    if (typeof uin === 'object' && uin !== null && !Array.isArray(uin)) grant.userInfo = JSON.stringify(uin);
    return grant;
  };

  return {
    async sign({ tenant, channels, userId, ttlSeconds, presence, userInfo }) {
      const ims = Date.now();
      const iat = Math.floor(ims / 1000);
      const exp = iat + ttlSeconds;
      const jti = randomUUID();
      const claims: TokenClaims = {
        tid: tenant,
        chs: channels,
        jti,
        iss: TOKEN_ISSUER,
        aud: TOKEN_AUDIENCE,
        iat,
        ims,
        exp,
      };
      if (userId !== undefined) claims.sub = userId;
      if (presence) claims.prs = true;
      if (userInfo !== undefined) claims.uin = userInfo;
      const signingInput = `${HEADER}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
      return { token: `${signingInput}.${mac(signingInput)}`, expiresAt: new Date(exp * 1000), tokenId: jti };
    },
    async verify(token) {
      return verify(token);
    },
  };
}
