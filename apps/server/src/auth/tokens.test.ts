import { TOKEN_AUDIENCE, TOKEN_ISSUER } from '@cast/protocol';
import { createHmac } from 'node:crypto';
import { jwtVerify, SignJWT, UnsecuredJWT } from 'jose';
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
    const before = Date.now();
    const { token, expiresAt, tokenId } = await service.sign({
      tenant: 'acme',
      channels: ['orders', 'user:u1'],
      userId: 'u1',
      ttlSeconds: 60,
    });
    const grant = await service.verify(token);
    expect(grant).toEqual({
      tenant: 'acme',
      channels: ['orders', 'user:u1'],
      userId: 'u1',
      expiresAt: expiresAt.getTime(),
      tokenId,
      issuedAt: expect.any(Number),
    });
    expect(grant.issuedAt).toBeGreaterThanOrEqual(before);
    expect(grant.issuedAt).toBeLessThanOrEqual(Date.now());
    expect(expiresAt.getTime() - Date.now()).toBeGreaterThan(55_000);
    const [header, payload] = token
      .split('.')
      .slice(0, 2)
      .map((p) => JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>);
    expect(header).toMatchObject({ alg: 'HS256' });
    expect(payload).toMatchObject({
      tid: 'acme',
      chs: ['orders', 'user:u1'],
      sub: 'u1',
      iss: 'cast',
      aud: 'cast:stream',
    });
    expect(payload).toMatchObject({ jti: tokenId, ims: grant.issuedAt, iat: Math.floor(grant.issuedAt / 1000) });
  });

  it('gives every token its own id', async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 20; i++)
      ids.add((await service.sign({ tenant: 'acme', channels: ['orders'], ttlSeconds: 60 })).tokenId);
    expect(ids.size).toBe(20);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('reads the issue time from ims, or from the start of the iat second without it', async () => {
    const iat = Math.floor(Date.now() / 1000);
    const withMs = await raw({ tid: 'acme', chs: ['orders'], jti: 'tok-1', ims: iat * 1000 + 789 });
    expect(await service.verify(withMs)).toMatchObject({ tokenId: 'tok-1', issuedAt: iat * 1000 + 789 });
    const secondsOnly = await raw({ tid: 'acme', chs: ['orders'] });
    expect(await service.verify(secondsOnly)).toMatchObject({ tokenId: undefined, issuedAt: iat * 1000 });
  });

  it('refuses an ims outside its iat second, a fractional ims and a jti that is not a short string', async () => {
    const iat = Math.floor(Date.now() / 1000);
    for (const claims of [
      { ims: iat * 1000 + 1000 },
      { ims: iat * 1000 - 1 },
      { ims: iat * 1000 + 0.5 },
      { ims: String(iat * 1000) },
      { jti: 42 },
      { jti: '' },
      { jti: 'x'.repeat(129) },
    ]) {
      expect(
        await codeOf(service.verify(await raw({ tid: 'acme', chs: ['orders'], ...claims }))),
        JSON.stringify(claims),
      ).toBe('401 INVALID_TOKEN');
    }
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
    const none = new UnsecuredJWT({ tid: 'acme', chs: ['orders'] })
      .setIssuer(TOKEN_ISSUER)
      .setAudience(TOKEN_AUDIENCE)
      .setIssuedAt(iat)
      .setExpirationTime(iat + 60)
      .encode();
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
    expect(await codeOf(short.verify(await raw({ tid: 'acme', chs: ['orders'] }, SECRET, 60)))).toBe(
      '401 INVALID_TOKEN',
    );
    const otherAud = await new SignJWT({ tid: 'acme', chs: ['orders'] })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(TOKEN_ISSUER)
      .setAudience('someone-else')
      .setIssuedAt()
      .setExpirationTime('1m')
      .sign(new TextEncoder().encode(SECRET));
    expect(await codeOf(service.verify(otherAud))).toBe('401 INVALID_TOKEN');
  });

  it('accepts a token minted by jose (as the server SDK signs), and its own tokens verify under jose', async () => {
    const iat = Math.floor(Date.now() / 1000);
    const minted = await new SignJWT({ tid: 'acme', chs: ['orders'] })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(TOKEN_ISSUER)
      .setAudience(TOKEN_AUDIENCE)
      .setIssuedAt(iat)
      .setExpirationTime(iat + 60)
      .setSubject('u1')
      .sign(new TextEncoder().encode(SECRET));
    expect(await service.verify(minted)).toEqual({
      tenant: 'acme',
      channels: ['orders'],
      userId: 'u1',
      expiresAt: (iat + 60) * 1000,
      tokenId: undefined,
      issuedAt: iat * 1000,
    });
    const { token } = await service.sign({ tenant: 'acme', channels: ['orders'], userId: 'u1', ttlSeconds: 60 });
    const { payload, protectedHeader } = await jwtVerify(token, new TextEncoder().encode(SECRET), {
      algorithms: ['HS256'],
      issuer: TOKEN_ISSUER,
      audience: TOKEN_AUDIENCE,
    });
    expect(protectedHeader).toEqual({ alg: 'HS256', typ: 'JWT' });
    expect(payload).toMatchObject({ tid: 'acme', chs: ['orders'], sub: 'u1' });
  });

  it('accepts an audience list that holds the stream audience', async () => {
    const grant = await service.verify(hand({ alg: 'HS256' }, claims({ aud: ['other', TOKEN_AUDIENCE] })));
    expect(grant.tenant).toBe('acme');
  });

  it('refuses, signed with the right key: another HMAC algorithm, a critical extension, a future nbf, a missing or non-numeric iat or exp, another issuer, a payload that is not an object', async () => {
    const bad = [
      hand({ alg: 'HS512' }, claims(), 'sha512'),
      hand({ alg: 'HS384' }, claims(), 'sha384'),
      hand({ alg: 'hs256' }, claims()),
      hand({}, claims()),
      hand({ alg: 'HS256', crit: ['b64'], b64: true }, claims()),
      hand({ alg: 'HS256', crit: ['exp'] }, claims()),
      hand({ alg: 'HS256' }, claims({ nbf: now() + 60 })),
      hand({ alg: 'HS256' }, claims({ nbf: 'soon' })),
      hand({ alg: 'HS256' }, claims({ iat: undefined })),
      hand({ alg: 'HS256' }, claims({ iat: String(now()) })),
      hand({ alg: 'HS256' }, claims({ exp: undefined })),
      hand({ alg: 'HS256' }, claims({ exp: String(now() + 60) })),
      hand({ alg: 'HS256' }, claims({ iss: 'someone-else' })),
      hand({ alg: 'HS256' }, claims({ iss: undefined })),
      hand({ alg: 'HS256' }, claims({ aud: undefined })),
      hand({ alg: 'HS256' }, claims({ aud: ['other'] })),
      hand({ alg: 'HS256' }, [claims()]),
      hand({ alg: 'HS256' }, 'a string'),
      hand([{ alg: 'HS256' }], claims()),
    ];
    for (const t of bad) expect(await codeOf(service.verify(t)), t).toBe('401 INVALID_TOKEN');
    // The control: the same construction with the right header and claims is accepted.
    expect(await codeOf(service.verify(hand({ alg: 'HS256' }, claims())))).toBe('accepted');
  });

  it('refuses a token with a valid signature in a segment padded, re-encoded or extended', async () => {
    const { token } = await service.sign({ tenant: 'acme', channels: ['orders'], ttlSeconds: 60 });
    const [h, p, s] = token.split('.') as [string, string, string];
    for (const t of [
      `${h}.${p}.${s}=`,
      `${h}.${p}.${s}A`,
      `${h}.${p}.${s.slice(0, -1)}`,
      `${h}=.${p}.${s}`,
      `${h}.${p}.${s}.`,
      `${h}.${p}`,
      ` ${token}`,
    ]) {
      expect(await codeOf(service.verify(t)), t).toBe('401 INVALID_TOKEN');
    }
  });

  it('checks the claims as the issue route would: iat not ahead, lifetime from now, channels in the grammar and the limit, tenant known', async () => {
    const strict = createTokenService(SECRET, 3600, { tenants: new Set(['acme', 'globex']), maxChannels: 3 });
    const verdict = (over: Record<string, unknown>) => codeOf(strict.verify(hand({ alg: 'HS256' }, claims(over))));
    // The controls: what the issue route writes, another known tenant, a signer clock a little ahead, the limits exactly.
    expect(await verdict({})).toBe('accepted');
    expect(await verdict({ tid: 'globex', chs: ['a', 'b', 'user:u_1'], sub: 'Zoë' })).toBe('accepted');
    expect(await verdict({ iat: now() + 30, exp: now() + 30 + 3600 })).toBe('accepted');
    // A year ahead: exp - iat is within the maximum, but the token would be good for a year.
    expect(await verdict({ iat: now() + 365 * 86_400, exp: now() + 365 * 86_400 + 60 })).toBe('401 INVALID_TOKEN');
    expect(await verdict({ iat: now() + 120 })).toBe('401 INVALID_TOKEN');
    expect(await verdict({ iat: now() - 100_000, exp: now() + 3600 + 120 })).toBe('401 INVALID_TOKEN');
    for (const chs of [['$bus'], ['$db:todos'], ['orders', 'a\nb'], ['a b'], ['x'.repeat(129)], ['a', 'b', 'c', 'd']]) {
      expect(await verdict({ chs }), JSON.stringify(chs)).toBe('401 INVALID_TOKEN');
    }
    expect(await verdict({ chs: Array.from({ length: 1000 }, (_, i) => `c${i}`) })).toBe('401 INVALID_TOKEN');
    expect(await verdict({ tid: 'initech' })).toBe('401 INVALID_TOKEN');
    for (const sub of ['', 'u\n1', 'u\u0085', 5])
      expect(await verdict({ sub }), JSON.stringify(sub)).toBe('401 INVALID_TOKEN');
    expect(
      await codeOf(
        strict.verify((await strict.sign({ tenant: 'acme', channels: ['orders'], ttlSeconds: 3600 })).token),
      ),
    ).toBe('accepted');
  });

  it('calls a token expired at its exp second, with no clock tolerance, and only once everything else holds', async () => {
    expect(await codeOf(service.verify(hand({ alg: 'HS256' }, claims({ iat: now() - 60, exp: now() }))))).toBe(
      '401 TOKEN_EXPIRED',
    );
    expect(await codeOf(service.verify(hand({ alg: 'HS256' }, claims({ iat: now() - 60, exp: now() + 2 }))))).toBe(
      'accepted',
    );
    expect(await codeOf(service.verify(hand({ alg: 'HS256' }, claims({ exp: now() - 1, aud: 'other' }))))).toBe(
      '401 INVALID_TOKEN',
    );
    expect(
      await codeOf(service.verify(hand({ alg: 'HS256' }, claims({ exp: now() - 1 }), 'sha256', 'w'.repeat(40)))),
    ).toBe('401 INVALID_TOKEN');
  });
});

const now = () => Math.floor(Date.now() / 1000);

/** Valid claims, with some replaced (`undefined` removes one). */
function claims(over: Record<string, unknown> = {}): Record<string, unknown> {
  const base: Record<string, unknown> = {
    tid: 'acme',
    chs: ['orders'],
    iss: TOKEN_ISSUER,
    aud: TOKEN_AUDIENCE,
    iat: now(),
    exp: now() + 60,
    ...over,
  };
  for (const k of Object.keys(base)) if (base[k] === undefined) delete base[k];
  return base;
}

/** A JWT built by hand from any header and payload, HMAC-signed with `hash`. */
function hand(header: unknown, payload: unknown, hash = 'sha256', secret = SECRET): string {
  const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const input = `${enc(header)}.${enc(payload)}`;
  return `${input}.${createHmac(hash, secret).update(input).digest('base64url')}`;
}
