import { DEFAULTS, TOKEN_AUDIENCE, TOKEN_ISSUER, type TokenRequest } from '@cast/protocol';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CastServer } from './cast-server.js';
import { signToken } from './sign.js';

const secret = 'a-signing-secret-of-enough-length-0123456789';
const key = new TextEncoder().encode(secret);

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('signToken', () => {
  it('mints an HS256 JWT with the claims the server verifies', async () => {
    const now = Date.parse('2030-01-01T00:00:00Z');
    const issued = await signToken(
      { channels: ['user:user_123', 'announcements'], userId: 'user_123', ttlSeconds: 600 },
      { signingSecret: secret, tenant: 'acme', now },
    );
    expect(decodeProtectedHeader(issued.token).alg).toBe('HS256');
    const { payload } = await jwtVerify(issued.token, key, {
      issuer: TOKEN_ISSUER,
      audience: TOKEN_AUDIENCE,
      algorithms: ['HS256'],
      currentDate: new Date(now + 1000),
    });
    expect(payload).toEqual({
      tid: 'acme',
      chs: ['user:user_123', 'announcements'],
      sub: 'user_123',
      jti: issued.tokenId,
      iat: now / 1000,
      ims: now,
      exp: now / 1000 + 600,
      iss: 'cast',
      aud: 'cast:stream',
    });
    expect(issued.expiresAt).toBe('2030-01-01T00:10:00.000Z');
    expect(issued.channels).toEqual(['user:user_123', 'announcements']);
    expect(issued.tokenId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('carries the issue time in milliseconds (ims) within its iat second, which revocations compare against', async () => {
    const now = Date.parse('2030-01-01T00:00:00.789Z');
    const issued = await signToken({ channels: ['orders'] }, { signingSecret: secret, tenant: 't', now });
    const { payload } = await jwtVerify(issued.token, key, { currentDate: new Date(now) });
    expect(payload.ims).toBe(now);
    expect(payload.iat).toBe(Math.floor(now / 1000));
  });

  it('gives every token its own id (jti), for revoking it alone', async () => {
    const a = await signToken({ channels: ['orders'] }, { signingSecret: secret, tenant: 't' });
    const b = await signToken({ channels: ['orders'] }, { signingSecret: secret, tenant: 't' });
    expect(a.tokenId).not.toBe(b.tokenId);
    expect((await jwtVerify(a.token, key)).payload.jti).toBe(a.tokenId);
  });

  it('carries presence (prs) and userInfo (uin) like the server does, and leaves them out otherwise', async () => {
    const userInfo = { name: 'Ada', avatar: 'https://example.com/ada.png', tags: ['admin'] };
    const issued = await signToken(
      { channels: ['room:1'], userId: 'u1', presence: true, userInfo },
      { signingSecret: secret, tenant: 't' },
    );
    const { payload } = await jwtVerify(issued.token, key);
    expect(payload.prs).toBe(true);
    expect(payload.uin).toEqual(userInfo);

    const plain = await signToken({ channels: ['room:1'], presence: false }, { signingSecret: secret, tenant: 't' });
    const bare = (await jwtVerify(plain.token, key)).payload;
    expect('prs' in bare).toBe(false);
    expect('uin' in bare).toBe(false);
  });

  it('accepts a userInfo of exactly 1 KiB of JSON and refuses one byte more with INVALID_USER_INFO', async () => {
    // {"n":"…"} is 8 bytes around the value; "é" is 2 bytes of UTF-8, so bytes, not characters, are counted.
    const exact = { n: 'é'.repeat(4) + 'x'.repeat(DEFAULTS.maxUserInfoBytes - 8 - 8) };
    expect(new TextEncoder().encode(JSON.stringify(exact)).length).toBe(DEFAULTS.maxUserInfoBytes);
    await expect(
      signToken({ channels: ['a'], userInfo: exact }, { signingSecret: secret, tenant: 't' }),
    ).resolves.toHaveProperty('token');
    const over = { n: `${exact.n}x` };
    await expect(
      signToken({ channels: ['a'], userInfo: over }, { signingSecret: secret, tenant: 't' }),
    ).rejects.toMatchObject({ code: 'INVALID_USER_INFO', status: 400 });
  });

  it('defaults to the protocol lifetime and leaves sub out without a user', async () => {
    const issued = await signToken({ channels: ['orders'] }, { signingSecret: secret, tenant: 't' });
    const { payload } = await jwtVerify(issued.token, key);
    expect(payload.exp! - payload.iat!).toBe(DEFAULTS.tokenTtlSeconds);
    expect('sub' in payload).toBe(false);
  });

  it('a token signed with another secret does not verify', async () => {
    const issued = await signToken({ channels: ['orders'] }, { signingSecret: 'other-secret', tenant: 't' });
    await expect(jwtVerify(issued.token, key)).rejects.toThrow();
  });

  it.each([
    [{ channels: [] }, 'BAD_REQUEST'],
    [{ channels: ['ok', 'not ok'] }, 'INVALID_CHANNEL'],
    [{ channels: ['x*'] }, 'INVALID_CHANNEL'],
    [{ channels: Array.from({ length: DEFAULTS.maxChannelsPerToken + 1 }, (_, i) => `c${i}`) }, 'TOO_MANY_CHANNELS'],
    [{ channels: ['a'], ttlSeconds: 0 }, 'BAD_REQUEST'],
    [{ channels: ['a'], ttlSeconds: 1.5 }, 'BAD_REQUEST'],
    [{ channels: ['a'], ttlSeconds: DEFAULTS.maxTokenTtlSeconds + 1 }, 'BAD_REQUEST'],
    [{ channels: ['a'], userId: '' }, 'BAD_REQUEST'],
    [{ channels: ['a'], userId: 'a\nb' }, 'BAD_REQUEST'],
    [{ channels: ['a'], presence: 'yes' }, 'BAD_REQUEST'],
    [{ channels: ['a'], userInfo: 'Ada' }, 'INVALID_USER_INFO'],
    [{ channels: ['a'], userInfo: ['Ada'] }, 'INVALID_USER_INFO'],
    [{ channels: ['a'], userInfo: null }, 'INVALID_USER_INFO'],
  ])('refuses %j with %s', async (request, code) => {
    await expect(signToken(request as TokenRequest, { signingSecret: secret, tenant: 't' })).rejects.toMatchObject({
      code,
    });
  });

  it('accepts the largest lifetime and the most channels', async () => {
    const channels = Array.from({ length: DEFAULTS.maxChannelsPerToken }, (_, i) => `c${i}`);
    const issued = await signToken(
      { channels, ttlSeconds: DEFAULTS.maxTokenTtlSeconds },
      { signingSecret: secret, tenant: 't' },
    );
    expect((await jwtVerify(issued.token, key)).payload.chs).toHaveLength(DEFAULTS.maxChannelsPerToken);
  });
});

describe('tokens.sign', () => {
  it('uses the client secret and tenant, with no request', async () => {
    const fetch = vi.fn<(input: string) => Promise<Response>>();
    const cast = new CastServer({
      apiKey: 'k',
      baseUrl: 'http://cast.test',
      signingSecret: secret,
      tenant: 'acme',
      fetch,
    });
    expect(cast.canSignLocally).toBe(true);
    const { token } = await cast.tokens.sign({ channels: ['orders'] });
    expect((await jwtVerify(token, key)).payload.tid).toBe('acme');
    expect(fetch).not.toHaveBeenCalled();
  });

  it('reads the secret and tenant from CAST_SIGNING_SECRET and CAST_TENANT', async () => {
    vi.stubEnv('CAST_SIGNING_SECRET', secret);
    vi.stubEnv('CAST_TENANT', 'from-env');
    const cast = new CastServer({ apiKey: 'k', baseUrl: 'http://cast.test' });
    const { token } = await cast.tokens.sign({ channels: ['orders'] });
    expect((await jwtVerify(token, key)).payload.tid).toBe('from-env');
  });

  it('fails with INVALID_OPTIONS without a secret or a tenant', async () => {
    vi.stubEnv('CAST_SIGNING_SECRET', '');
    vi.stubEnv('CAST_TENANT', '');
    const noSecret = new CastServer({ apiKey: 'k', baseUrl: 'http://cast.test', tenant: 'acme' });
    expect(noSecret.canSignLocally).toBe(false);
    await expect(noSecret.tokens.sign({ channels: ['a'] })).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
    const noTenant = new CastServer({ apiKey: 'k', baseUrl: 'http://cast.test', signingSecret: secret });
    await expect(noTenant.tokens.sign({ channels: ['a'] })).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
  });
});
