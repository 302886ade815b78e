import { createHmac, timingSafeEqual } from 'node:crypto';
import { TOKEN_AUDIENCE, TOKEN_ISSUER, type TokenClaims } from '@cast/protocol';
import { fail } from '../errors.js';

/** What a verified token grants. */
export interface TokenGrant {
  tenant: string;
  channels: string[];
  userId: string | undefined;
  /** Expiry, ms since the epoch. */
  expiresAt: number;
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

/** Signs and verifies stream tokens with one HS256 secret. */
export interface TokenService {
  sign(input: TokenInput): Promise<{ token: string; expiresAt: Date }>;
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
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
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
 *   lifetime `exp - iat` of at most `maxTtlSeconds`.
 *
 * @param secret - the signing secret (UTF-8)
 * @param maxTtlSeconds - the longest lifetime a token may claim; longer ones are refused even when validly signed
 * @returns the service
 * @example
 * ```ts
 * const tokens = createTokenService(config.signingSecret, config.maxTokenTtlSeconds)
 * const { token } = await tokens.sign({ tenant: 'acme', channels: ['orders'], ttlSeconds: 3600 })
 * const grant = await tokens.verify(token)
 * ```
 */
export function createTokenService(secret: string, maxTtlSeconds: number): TokenService {
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
    if (signature.length !== expected.length || !timingSafeEqual(Buffer.from(signature), Buffer.from(expected))) invalid();
    const claims = decodeObject(payload64);
    if (!claims) invalid();
    const { iss, aud, iat, nbf, exp } = claims;
    if (iss !== TOKEN_ISSUER) invalid();
    if (aud !== TOKEN_AUDIENCE && !(Array.isArray(aud) && aud.includes(TOKEN_AUDIENCE))) invalid();
    if (typeof iat !== 'number' || typeof exp !== 'number') invalid();
    const now = Math.floor(Date.now() / 1000);
    if (nbf !== undefined && (typeof nbf !== 'number' || nbf > now)) invalid();
    if (exp <= now) fail('TOKEN_EXPIRED', 'The token has expired; ask your backend for a fresh one.');
    const { tid, chs, sub, prs, uin } = claims as Partial<TokenClaims>;
    if (typeof tid !== 'string' || !Array.isArray(chs) || !chs.every((c) => typeof c === 'string') || chs.length === 0) {
      invalid('The token does not carry a tenant and channels.');
    }
    if (exp - iat > maxTtlSeconds) invalid(`The token's lifetime is longer than this server allows (${maxTtlSeconds} s).`);
    const grant: TokenGrant = { tenant: tid, channels: chs, userId: typeof sub === 'string' ? sub : undefined, expiresAt: exp * 1000 };
    if (prs === true) grant.presence = true;
    if (typeof uin === 'object' && uin !== null && !Array.isArray(uin)) grant.userInfo = JSON.stringify(uin);
    return grant;
  };

  return {
    async sign({ tenant, channels, userId, ttlSeconds, presence, userInfo }) {
      const iat = Math.floor(Date.now() / 1000);
      const exp = iat + ttlSeconds;
      const claims: TokenClaims = { tid: tenant, chs: channels, iss: TOKEN_ISSUER, aud: TOKEN_AUDIENCE, iat, exp };
      if (userId !== undefined) claims.sub = userId;
      if (presence) claims.prs = true;
      if (userInfo !== undefined) claims.uin = userInfo;
      const signingInput = `${HEADER}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
      return { token: `${signingInput}.${mac(signingInput)}`, expiresAt: new Date(exp * 1000) };
    },
    async verify(token) {
      return verify(token);
    },
  };
}
