import { TOKEN_AUDIENCE, TOKEN_ISSUER, type TokenClaims } from '@cast/protocol';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { fail } from '../errors.js';

/** What a verified token grants. */
export interface TokenGrant {
  tenant: string;
  channels: string[];
  userId: string | undefined;
  /** Expiry, ms since the epoch. */
  expiresAt: number;
}

/** Signs and verifies stream tokens with one HS256 secret. */
export interface TokenService {
  sign(input: { tenant: string; channels: string[]; userId?: string; ttlSeconds: number }): Promise<{ token: string; expiresAt: Date }>;
  verify(token: string): Promise<TokenGrant>;
}

/**
 * Creates the token service.
 *
 * @param secret - the signing secret (UTF-8)
 * @param maxTtlSeconds - the longest lifetime a token may claim; longer ones are refused even when validly signed
 */
export function createTokenService(secret: string, maxTtlSeconds: number): TokenService {
  const key = new TextEncoder().encode(secret);
  return {
    async sign({ tenant, channels, userId, ttlSeconds }) {
      const iat = Math.floor(Date.now() / 1000);
      const exp = iat + ttlSeconds;
      const claims: Omit<TokenClaims, 'iss' | 'aud' | 'iat' | 'exp'> = { tid: tenant, chs: channels };
      const jwt = new SignJWT({ ...claims })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setIssuer(TOKEN_ISSUER)
        .setAudience(TOKEN_AUDIENCE)
        .setIssuedAt(iat)
        .setExpirationTime(exp);
      if (userId !== undefined) jwt.setSubject(userId);
      return { token: await jwt.sign(key), expiresAt: new Date(exp * 1000) };
    },
    async verify(token) {
      let payload: Record<string, unknown>;
      try {
        // Only HS256: `alg: none` and every other algorithm are refused.
        ({ payload } = await jwtVerify(token, key, {
          algorithms: ['HS256'],
          issuer: TOKEN_ISSUER,
          audience: TOKEN_AUDIENCE,
          requiredClaims: ['exp', 'iat'],
        }));
      } catch (err) {
        if (err instanceof joseErrors.JWTExpired) fail('TOKEN_EXPIRED', 'The token has expired; ask your backend for a fresh one.');
        fail('INVALID_TOKEN', 'The token is not valid (malformed, tampered with or signed with another key).');
      }
      const { tid, chs, sub, iat, exp } = payload as Partial<TokenClaims>;
      if (typeof tid !== 'string' || !Array.isArray(chs) || !chs.every((c) => typeof c === 'string') || chs.length === 0) {
        fail('INVALID_TOKEN', 'The token does not carry a tenant and channels.');
      }
      if (typeof iat !== 'number' || typeof exp !== 'number' || exp - iat > maxTtlSeconds) {
        fail('INVALID_TOKEN', `The token's lifetime is longer than this server allows (${maxTtlSeconds} s).`);
      }
      return { tenant: tid, channels: chs, userId: typeof sub === 'string' ? sub : undefined, expiresAt: exp * 1000 };
    },
  };
}
