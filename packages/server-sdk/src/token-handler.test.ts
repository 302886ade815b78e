import { CastError, TOKEN_AUDIENCE, TOKEN_ISSUER } from '@cast/protocol';
import { jwtVerify } from 'jose';
import { http, HttpResponse } from 'msw';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { CastServer } from './cast-server.js';
import { BASE_URL, createMockServer } from './test-server.js';
import { createTokenHandler } from './token-handler.js';

const server = createMockServer();
beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterEach(() => {
  server.resetHandlers();
  vi.unstubAllEnvs();
});
afterAll(() => server.close());

const secret = 'handler-test-secret';

function remoteClient(): CastServer {
  vi.stubEnv('CAST_SIGNING_SECRET', '');
  vi.stubEnv('CAST_TENANT', '');
  return new CastServer({ apiKey: 'sk', baseUrl: BASE_URL, retries: 0 });
}

const request = (headers: Record<string, string> = {}): Request =>
  new Request('http://app.test/api/cast-token', { method: 'POST', headers });

describe('createTokenHandler', () => {
  it('signs locally when the client can, answering JSON with no-store', async () => {
    const cast = new CastServer({ apiKey: 'sk', baseUrl: BASE_URL, signingSecret: secret, tenant: 'acme' });
    const handler = createTokenHandler({
      cast,
      authorize: (req) =>
        req.headers.get('cookie') === 'session=u1' ? { channels: ['user:u1'], userId: 'u1', ttlSeconds: 120 } : null,
    });
    const res = await handler(request({ cookie: 'session=u1' }));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as { token: string; channels: string[]; expiresAt: string };
    expect(body.channels).toEqual(['user:u1']);
    const { payload } = await jwtVerify(body.token, new TextEncoder().encode(secret), {
      issuer: TOKEN_ISSUER,
      audience: TOKEN_AUDIENCE,
    });
    expect(payload).toMatchObject({ tid: 'acme', sub: 'u1', chs: ['user:u1'] });
    expect(Date.parse(body.expiresAt)).toBe((payload.exp ?? 0) * 1000);
  });

  it('asks the server when there is no signing secret', async () => {
    let asked: unknown;
    server.use(
      http.post(`${BASE_URL}/push/tokens`, async ({ request: r }) => {
        asked = await r.json();
        return HttpResponse.json({ token: 'from-server', expiresAt: '2030-01-01T00:00:00.000Z', channels: ['a'] });
      }),
    );
    const handler = createTokenHandler({ cast: remoteClient(), authorize: async () => ({ channels: ['a'] }) });
    const res = await handler(request());
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ token: 'from-server', expiresAt: '2030-01-01T00:00:00.000Z', channels: ['a'] });
    expect(asked).toEqual({ channels: ['a'] });
  });

  it('answers 401 when authorize returns null and 403 when it returns false', async () => {
    const cast = remoteClient();
    const anonymous = await createTokenHandler({ cast, authorize: () => null })(request());
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
    const forbidden = await createTokenHandler({ cast, authorize: async () => false as const })(request());
    expect(forbidden.status).toBe(403);
    expect(await forbidden.json()).toMatchObject({ error: { code: 'FORBIDDEN' } });
  });

  it('answers a CastError thrown by authorize with its own code', async () => {
    const handler = createTokenHandler({
      cast: remoteClient(),
      authorize: () => {
        throw new CastError('TOKEN_EXPIRED', 'session expired');
      },
    });
    const res = await handler(request());
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: { code: 'TOKEN_EXPIRED', message: 'session expired' } });
  });

  it('hides a crash of authorize behind a 500 and reports it', async () => {
    const onError = vi.fn();
    const crash = new Error('db password is hunter2');
    const handler = createTokenHandler({
      cast: remoteClient(),
      authorize: () => {
        throw crash;
      },
      onError,
    });
    const res = await handler(request());
    expect(res.status).toBe(500);
    expect(await res.text()).not.toContain('hunter2');
    expect(onError).toHaveBeenCalledWith(crash);
  });

  it('does not pass the backend API key failure to the browser as its own 401', async () => {
    server.use(
      http.post(`${BASE_URL}/push/tokens`, () =>
        HttpResponse.json({ error: { code: 'INVALID_API_KEY', message: 'unknown key' } }, { status: 401 }),
      ),
    );
    const onError = vi.fn();
    const res = await createTokenHandler({ cast: remoteClient(), authorize: () => ({ channels: ['a'] }), onError })(
      request(),
    );
    expect(res.status).toBe(500);
    expect(await res.json()).toMatchObject({ error: { code: 'INTERNAL' } });
    expect(onError.mock.calls[0]?.[0]).toMatchObject({ code: 'INVALID_API_KEY' });
  });

  it('answers 503 with Retry-After when the server is rate limiting', async () => {
    server.use(
      http.post(`${BASE_URL}/push/tokens`, () =>
        HttpResponse.json(
          { error: { code: 'RATE_LIMITED', message: 'slow down' } },
          {
            status: 429,
            headers: { 'retry-after': '7' },
          },
        ),
      ),
    );
    const res = await createTokenHandler({ cast: remoteClient(), authorize: () => ({ channels: ['a'] }) })(request());
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('7');
  });

  it('refuses to be built without cast or authorize', () => {
    expect(() => createTokenHandler({ cast: remoteClient() } as never)).toThrow(CastError);
    expect(() => createTokenHandler({ authorize: () => null } as never)).toThrow(CastError);
  });
});
