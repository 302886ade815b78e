import { TOKEN_AUDIENCE, TOKEN_ISSUER } from '@cast/protocol';
import { SignJWT, UnsecuredJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { createTokenService } from './tokens.js';

const SECRET = 'k'.repeat(40);
const service = createTokenService(SECRET, 86_400);

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return `${(err as { status: number }).status} ${(err as { code: string }).code}`;
  }
  return 'accepted';
}

function raw(claims: Record<string, unknown>, secret = SECRET, ttl = 60) {
  const iat = Math.floor(Date.now() / 1000);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer(TOKEN_ISSUER)
    .setAudience(TOKEN_AUDIENCE)
    .setIssuedAt(iat)
    .setExpirationTime(iat + ttl)
    .sign(new TextEncoder().encode(secret));
}

describe('token service', () => {
  it('signs a token that verifies to its tenant, channels, user and expiry', async () => {
    const { token, expiresAt } = await service.sign({ tenant: 'acme', channels: ['orders', 'user:u1'], userId: 'u1', ttlSeconds: 60 });
    const grant = await service.verify(token);
    expect(grant).toEqual({ tenant: 'acme', channels: ['orders', 'user:u1'], userId: 'u1', expiresAt: expiresAt.getTime() });
    expect(expiresAt.getTime() - Date.now()).toBeGreaterThan(55_000);
    const [header, payload] = token.split('.').slice(0, 2).map((p) => JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>);
    expect(header).toMatchObject({ alg: 'HS256' });
    expect(payload).toMatchObject({ tid: 'acme', chs: ['orders', 'user:u1'], sub: 'u1', iss: 'cast', aud: 'cast:stream' });
  });

  it('refuses an expired token with TOKEN_EXPIRED', async () => {
    const token = await raw({ tid: 'acme', chs: ['orders'] }, SECRET, -10);
    expect(await codeOf(service.verify(token))).toBe('401 TOKEN_EXPIRED');
  });

  it('refuses a tampered payload, a wrong key, alg none and garbage with INVALID_TOKEN', async () => {
    const { token } = await service.sign({ tenant: 'acme', channels: ['orders'], ttlSeconds: 60 });
    const [h, p, s] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...claims, tid: 'other' })).toString('base64url')}.${s}`;
    const wrongKey = await raw({ tid: 'acme', chs: ['orders'] }, 'w'.repeat(40));
    const iat = Math.floor(Date.now() / 1000);
    const none = new UnsecuredJWT({ tid: 'acme', chs: ['orders'] }).setIssuer(TOKEN_ISSUER).setAudience(TOKEN_AUDIENCE).setIssuedAt(iat).setExpirationTime(iat + 60).encode();
    expect(JSON.parse(Buffer.from(none.split('.')[0] as string, 'base64url').toString())).toEqual({ alg: 'none' });
    for (const t of [tampered, wrongKey, none, `${h}.${p}.`, 'not-a-token', '']) {
      expect(await codeOf(service.verify(t)), t).toBe('401 INVALID_TOKEN');
    }
  });

  it('refuses tokens without tenant or channels, for another audience, or living longer than allowed', async () => {
    expect(await codeOf(service.verify(await raw({ chs: ['orders'] })))).toBe('401 INVALID_TOKEN');
    expect(await codeOf(service.verify(await raw({ tid: 'acme', chs: [] })))).toBe('401 INVALID_TOKEN');
    expect(await codeOf(service.verify(await raw({ tid: 'acme', chs: [1] })))).toBe('401 INVALID_TOKEN');
    const short = createTokenService(SECRET, 30);
    expect(await codeOf(short.verify(await raw({ tid: 'acme', chs: ['orders'] }, SECRET, 60)))).toBe('401 INVALID_TOKEN');
    const otherAud = await new SignJWT({ tid: 'acme', chs: ['orders'] })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(TOKEN_ISSUER)
      .setAudience('someone-else')
      .setIssuedAt()
      .setExpirationTime('1m')
      .sign(new TextEncoder().encode(SECRET));
    expect(await codeOf(service.verify(otherAud))).toBe('401 INVALID_TOKEN');
  });
});
