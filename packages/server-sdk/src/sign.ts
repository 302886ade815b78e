import {
  CastError,
  TOKEN_AUDIENCE,
  TOKEN_ISSUER,
  type TokenClaims,
  type TokenRequest,
  type TokenResponse,
} from '@cast/protocol';
import { SignJWT } from 'jose';
import { checkTokenRequest, type CheckedTokenRequest } from './validate.js';

/**
 * What a locally signed token needs beyond the request.
 *
 * @example
 * ```ts
 * const options: SignTokenOptions = { signingSecret: process.env.CAST_SIGNING_SECRET!, tenant: 'acme' }
 * ```
 */
export interface SignTokenOptions {
  /** The server's `CAST_SIGNING_SECRET` (its UTF-8 bytes are the HMAC key). */
  signingSecret: string;
  /** The tenant the token belongs to (the `tid` claim). */
  tenant: string;
  /** The current time, milliseconds since the epoch. @defaultValue `Date.now()` */
  now?: number;
}

/**
 * The claims of a locally signed token: the same ones the server puts in its
 * own (`tid`, `chs`, `sub`, `jti`, `prs`, `uin`, `iat`, `ims`, `exp`, `iss`, `aud`).
 * The one place that decides them, so a new claim is one line here.
 *
 * @param request - the checked request
 * @param tenant - the `tid` claim
 * @param nowMs - the current time, milliseconds since the epoch
 * @returns the claims
 * @example
 * ```ts
 * const claims = tokenClaims({ channels: ['orders'], ttlSeconds: 60 }, 'acme', Date.now())
 * ```
 */
export function tokenClaims(request: CheckedTokenRequest, tenant: string, nowMs: number): TokenClaims {
  const ims = Math.floor(nowMs);
  const iat = Math.floor(ims / 1000);
  const claims: TokenClaims = {
    tid: tenant,
    chs: request.channels,
    jti: globalThis.crypto.randomUUID(),
    iss: TOKEN_ISSUER,
    aud: TOKEN_AUDIENCE,
    iat,
    ims,
    exp: iat + request.ttlSeconds,
  };
  if (request.userId !== undefined) claims.sub = request.userId;
  if (request.presence === true) claims.prs = true;
  if (request.userInfo !== undefined) claims.uin = request.userInfo;
  return claims;
}

/**
 * Mints a stream token locally: an HS256 JWT with the claims the server
 * puts in its own (`tid`, `chs`, `sub`, `jti`, `prs`, `uin`, `iat`, `ims`, `exp`, `iss`, `aud`). No network.
 *
 * @param request - channels, user id, lifetime, presence and userInfo, checked like the server does
 *   (`userInfo` a JSON object of at most 1 KiB)
 * @param options - signing secret and tenant
 * @returns the same shape as `POST /push/tokens`, `tokenId` included
 * @throws CastError `INVALID_OPTIONS` without a secret or tenant; `INVALID_USER_INFO` and the other codes of a bad request
 * @example
 * ```ts
 * const { token, tokenId } = await signToken({ channels: ['room:1'], userId: 'u1', presence: true }, { signingSecret, tenant: 'acme' })
 * ```
 */
export async function signToken(request: TokenRequest, options: SignTokenOptions): Promise<TokenResponse> {
  if (typeof options.signingSecret !== 'string' || options.signingSecret.length === 0) {
    throw new CastError(
      'INVALID_OPTIONS',
      'Signing tokens locally needs the signing secret: pass { signingSecret } or set CAST_SIGNING_SECRET.',
    );
  }
  if (typeof options.tenant !== 'string' || options.tenant.length === 0) {
    throw new CastError(
      'INVALID_OPTIONS',
      'Signing tokens locally needs the tenant: pass { tenant } or set CAST_TENANT.',
    );
  }
  const claims = tokenClaims(checkTokenRequest(request), options.tenant, options.now ?? Date.now());
  const token = await new SignJWT({ ...claims })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .sign(new TextEncoder().encode(options.signingSecret));
  return {
    token,
    expiresAt: new Date(claims.exp * 1000).toISOString(),
    channels: claims.chs,
    ...(claims.jti === undefined ? {} : { tokenId: claims.jti }),
  };
}
