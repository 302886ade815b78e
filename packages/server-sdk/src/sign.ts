import { CastError, TOKEN_AUDIENCE, TOKEN_ISSUER, type TokenRequest, type TokenResponse } from '@cast/protocol';
import { SignJWT } from 'jose';
import { checkTokenRequest } from './validate.js';

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
 * Mints a stream token locally: an HS256 JWT with the claims the server
 * verifies (`tid`, `chs`, `sub`, `iat`, `exp`, `iss`, `aud`). No network.
 *
 * @param request - channels, user id and lifetime, checked like the server does
 * @param options - signing secret and tenant
 * @returns the same shape as `POST /push/tokens`
 * @throws CastError `INVALID_OPTIONS` without a secret or tenant; the codes of a bad request
 * @example
 * ```ts
 * const { token } = await signToken({ channels: ['orders'] }, { signingSecret, tenant: 'acme' })
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
    throw new CastError('INVALID_OPTIONS', 'Signing tokens locally needs the tenant: pass { tenant } or set CAST_TENANT.');
  }
  const { channels, userId, ttlSeconds } = checkTokenRequest(request);
  const iat = Math.floor((options.now ?? Date.now()) / 1000);
  const exp = iat + ttlSeconds;
  const jwt = new SignJWT({ tid: options.tenant, chs: channels })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(TOKEN_ISSUER)
    .setAudience(TOKEN_AUDIENCE)
    .setIssuedAt(iat)
    .setExpirationTime(exp);
  if (userId !== undefined) jwt.setSubject(userId);
  const token = await jwt.sign(new TextEncoder().encode(options.signingSecret));
  return { token, expiresAt: new Date(exp * 1000).toISOString(), channels };
}
