import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  handMadeJwt,
  issueToken,
  nowSeconds,
  publish,
  startServer,
  streamClaims,
  type TestServer,
} from './helpers/server.js';
import { openRaw, type RawStream } from './helpers/sse.js';

let server: TestServer;
const streams: RawStream[] = [];

beforeAll(async () => {
  server = await startServer({ env: { CAST_MAX_CHANNELS_PER_TOKEN: '5' } });
});
afterAll(async () => {
  for (const s of streams) s.close();
  await server?.stop();
});

interface Answer {
  status: number;
  code: string;
  message: string;
  raw: string;
}

/** Sends a request and checks the answer is the JSON error shape, with no stack trace. */
async function call(
  method: string,
  path: string,
  init: { body?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: init.headers ?? {},
    ...(init.body === undefined ? {} : { body: init.body }),
    signal: AbortSignal.timeout(5000),
  });
  const raw = await res.text();
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const parsed = JSON.parse(raw) as { error: { code: string; message: string } };
  expect(Object.keys(parsed)).toEqual(['error']);
  expect(Object.keys(parsed.error).sort()).toEqual(['code', 'message']);
  expect(parsed.error.message.length).toBeGreaterThan(0);
  expect(raw).not.toMatch(/\bat .+:\d+:\d+|node_modules|\.ts:\d|Error:/);
  return { status: res.status, code: parsed.error.code, message: parsed.error.message, raw };
}

const json = (body: unknown, key = server.apiKey) => ({
  body: typeof body === 'string' ? body : JSON.stringify(body),
  headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
});
const statusCode = (a: Answer) => `${a.status} ${a.code}`;

describe('API keys', () => {
  for (const [method, path] of [
    ['POST', '/push/tokens'],
    ['POST', '/push/publish'],
    ['POST', '/push/publish/batch'],
    ['GET', '/push/sessions'],
    ['POST', '/push/revoke'],
    ['POST', '/push/disconnect'],
  ] as const) {
    it(`${method} ${path} refuses a missing key and an unknown key with 401`, async () => {
      const body = method === 'POST' ? '{}' : undefined;
      const missing = await call(method, path, {
        ...(body ? { body } : {}),
        headers: { 'content-type': 'application/json' },
      });
      expect(statusCode(missing)).toBe('401 UNAUTHORIZED');
      const wrong = await call(method, path, {
        ...(body ? { body } : {}),
        headers: { authorization: 'Bearer sk_test_not_a_real_key_000', 'content-type': 'application/json' },
      });
      expect(statusCode(wrong)).toBe('401 INVALID_API_KEY');
      const stream = await call(method, path, {
        ...(body ? { body } : {}),
        headers: { authorization: 'Basic Zm9vOmJhcg==' },
      });
      expect(stream.status).toBe(401);
    });
  }

  it('does not take a stream token as an API key', async () => {
    const { token } = await issueToken(server, { channels: ['orders'] });
    expect(
      statusCode(await call('POST', '/push/publish', json({ channel: 'orders', event: 'x', data: 1 }, token))),
    ).toBe('401 INVALID_API_KEY');
  });
});

describe('request bodies', () => {
  it.each([
    ['malformed JSON', '{"channel": "orders",', '400 INVALID_JSON'],
    ['an empty body', '', '400 BAD_REQUEST'],
    ['an array', '[1,2]', '400 BAD_REQUEST'],
    ['no channel', { event: 'x', data: {} }, '400 BAD_REQUEST'],
    ['a numeric channel', { channel: 7, event: 'x', data: {} }, '400 BAD_REQUEST'],
    ['no event', { channel: 'orders', data: {} }, '400 BAD_REQUEST'],
    ['an event object', { channel: 'orders', event: { a: 1 }, data: {} }, '400 BAD_REQUEST'],
    ['no data', { channel: 'orders', event: 'x' }, '400 BAD_REQUEST'],
    ['a channel with a space', { channel: 'or ders', event: 'x', data: {} }, '400 INVALID_CHANNEL'],
    ['a channel with a wildcard', { channel: 'orders*', event: 'x', data: {} }, '400 INVALID_CHANNEL'],
    ['a channel with a slash', { channel: 'a/b', event: 'x', data: {} }, '400 INVALID_CHANNEL'],
    ['a channel over 128 characters', { channel: 'a'.repeat(129), event: 'x', data: {} }, '400 INVALID_CHANNEL'],
    ['an event with a space', { channel: 'orders', event: 'order created', data: {} }, '400 INVALID_EVENT_NAME'],
    ['an event with LF', { channel: 'orders', event: 'x\nevent: connected', data: {} }, '400 INVALID_EVENT_NAME'],
    ['an event with CR', { channel: 'orders', event: 'x\rdata: 1', data: {} }, '400 INVALID_EVENT_NAME'],
    ['an empty event', { channel: 'orders', event: '', data: {} }, '400 INVALID_EVENT_NAME'],
    ['the reserved connected', { channel: 'orders', event: 'connected', data: {} }, '400 RESERVED_EVENT_NAME'],
    ['the reserved expired', { channel: 'orders', event: 'expired', data: {} }, '400 RESERVED_EVENT_NAME'],
    ['the reserved error', { channel: 'orders', event: 'error', data: {} }, '400 RESERVED_EVENT_NAME'],
    ['a numeric idempotency key', { channel: 'orders', event: 'x', data: {}, idempotencyKey: 5 }, '400 BAD_REQUEST'],
  ])('publish refuses %s', async (_what, body, expected) => {
    expect(statusCode(await call('POST', '/push/publish', json(body)))).toBe(expected);
  });

  it.each([
    ['no channels', {}, '400 BAD_REQUEST'],
    ['channels as a string', { channels: 'orders' }, '400 BAD_REQUEST'],
    ['an empty channel list', { channels: [] }, '400 BAD_REQUEST'],
    ['a numeric channel', { channels: ['orders', 3] }, '400 BAD_REQUEST'],
    ['an invalid channel', { channels: ['orders', 'a,b'] }, '400 INVALID_CHANNEL'],
    ['too many channels', { channels: ['a', 'b', 'c', 'd', 'e', 'f'] }, '400 TOO_MANY_CHANNELS'],
    ['a numeric userId', { channels: ['orders'], userId: 5 }, '400 BAD_REQUEST'],
    ['a userId with a line break', { channels: ['orders'], userId: 'u\n1' }, '400 BAD_REQUEST'],
    ['a string ttlSeconds', { channels: ['orders'], ttlSeconds: '60' }, '400 BAD_REQUEST'],
    ['a fractional ttlSeconds', { channels: ['orders'], ttlSeconds: 1.5 }, '400 BAD_REQUEST'],
    ['a zero ttlSeconds', { channels: ['orders'], ttlSeconds: 0 }, '400 BAD_REQUEST'],
    ['a ttlSeconds over the maximum', { channels: ['orders'], ttlSeconds: 86_401 }, '400 BAD_REQUEST'],
    ['malformed JSON', '{channels:[orders]}', '400 INVALID_JSON'],
  ])('tokens refuses %s', async (_what, body, expected) => {
    expect(statusCode(await call('POST', '/push/tokens', json(body)))).toBe(expected);
  });

  it('accepts exactly the maximum number of channels', async () => {
    const res = await issueToken(server, { channels: ['a', 'b', 'c', 'd', 'e'] });
    expect(res.channels).toHaveLength(5);
  });

  it('refuses a body that is not JSON with 415', async () => {
    const a = await call('POST', '/push/publish', {
      body: 'channel=orders',
      headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(statusCode(a)).toBe('415 UNSUPPORTED_MEDIA_TYPE');
  });

  it('refuses data over 64 KiB with 413 and accepts data of exactly 64 KiB', async () => {
    const exact = 'x'.repeat(64 * 1024 - 2); // JSON string: two quotes
    const ok = await publish(server, { channel: 'orders', event: 'big', data: exact });
    expect(ok.status).toBe(200);
    const over = await call('POST', '/push/publish', json({ channel: 'orders', event: 'big', data: `${exact}x` }));
    expect(statusCode(over)).toBe('413 PAYLOAD_TOO_LARGE');
    const multibyte = await call(
      'POST',
      '/push/publish',
      json({ channel: 'orders', event: 'big', data: 'é'.repeat(33 * 1024) }),
    );
    expect(statusCode(multibyte)).toBe('413 PAYLOAD_TOO_LARGE');
  });

  it('refuses a huge body with 413 whether or not it declares its length', async () => {
    const huge = JSON.stringify({ channel: 'orders', event: 'big', data: 'x'.repeat(2 * 1024 * 1024) });
    expect(statusCode(await call('POST', '/push/publish', json(huge)))).toBe('413 PAYLOAD_TOO_LARGE');
    const bytes = new TextEncoder().encode(huge);
    const chunked = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < bytes.length; i += 64 * 1024) c.enqueue(bytes.slice(i, i + 64 * 1024));
        c.close();
      },
    });
    const res = await fetch(`${server.url}/push/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' },
      body: chunked,
      duplex: 'half',
      signal: AbortSignal.timeout(5000),
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('PAYLOAD_TOO_LARGE');
    // The next request (on a fresh connection) works.
    expect((await publish(server, { channel: 'orders', event: 'after-413', data: {} })).status).toBe(200);
  });

  it('never lets a CR or LF in an event name reach a stream', async () => {
    const { token } = await issueToken(server, { channels: ['inject'] });
    const stream = await openRaw(`${server.url}/push/stream?token=${encodeURIComponent(token)}`);
    streams.push(stream);
    await stream.waitFor(1);
    for (const event of ['a\nevent: connected', 'a\r\nid: 1-1', 'a\rretry: 1', '\nx', 'x\n']) {
      expect((await publish(server, { channel: 'inject', event, data: { evil: true } })).status).toBe(400);
    }
    await publish(server, { channel: 'inject', event: 'marker', data: { ok: true } });
    const events = await stream.waitFor(2);
    expect(events.map((e) => e.event)).toEqual(['connected', 'marker']);
    expect(stream.text()).not.toContain('evil');
  });
});

describe('stream tokens', () => {
  const now = nowSeconds;
  const claims = streamClaims;
  const jwt = handMadeJwt;
  const stream = (token: string) => call('GET', `/push/stream?token=${encodeURIComponent(token)}`);

  it('accepts a token signed by hand with the shared claims (the control for the cases below)', async () => {
    const s = await openRaw(
      `${server.url}/push/stream?token=${encodeURIComponent(jwt({ alg: 'HS256', typ: 'JWT' }, claims(), server.signingSecret))}`,
    );
    streams.push(s);
    expect(s.status).toBe(200);
    s.close();
  });

  it('refuses a missing token with 401 UNAUTHORIZED', async () => {
    expect(statusCode(await call('GET', '/push/stream'))).toBe('401 UNAUTHORIZED');
  });

  it('refuses an expired token with 401 TOKEN_EXPIRED', async () => {
    const t = jwt({ alg: 'HS256' }, claims({ iat: now() - 120, exp: now() - 60 }), server.signingSecret);
    expect(statusCode(await stream(t))).toBe('401 TOKEN_EXPIRED');
  });

  it('refuses tampered, wrong-key, alg none and malformed tokens with 401 INVALID_TOKEN', async () => {
    const good = jwt({ alg: 'HS256' }, claims(), server.signingSecret);
    const [h, , s] = good.split('.');
    const tampered = `${h}.${Buffer.from(JSON.stringify(claims({ chs: ['orders', 'admin'] }))).toString('base64url')}.${s}`;
    const wrongKey = jwt({ alg: 'HS256' }, claims(), 'another-secret-of-enough-length-000000');
    const none = jwt({ alg: 'none', typ: 'JWT' }, claims(), undefined);
    const noneSigned = jwt({ alg: 'none' }, claims(), server.signingSecret);
    const otherTenantClaimNoSig = `${h}.${Buffer.from(JSON.stringify(claims({ tid: 'globex' }))).toString('base64url')}.`;
    for (const t of [tampered, wrongKey, none, noneSigned, otherTenantClaimNoSig, 'abc', 'a.b.c']) {
      expect(statusCode(await stream(t)), t).toBe('401 INVALID_TOKEN');
    }
    const bearer = await call('GET', '/push/stream', { headers: { authorization: `Bearer ${none}` } });
    expect(statusCode(bearer)).toBe('401 INVALID_TOKEN');
  });

  it('refuses a bad types filter with 400, and opens with recovered: false for a Last-Event-ID it never sent', async () => {
    const { token } = await issueToken(server, { channels: ['orders'] });
    const q = `/push/stream?token=${encodeURIComponent(token)}`;
    expect(statusCode(await call('GET', `${q}&types=ticket*`))).toBe('400 INVALID_FILTER');
    // A 4xx would end an EventSource for good: an id the server cannot parse is an unknown one.
    for (const [url, headers] of [
      [`${server.url}${q}`, { 'last-event-id': 'nonsense' }],
      [`${server.url}${q}&lastEventId=abc`, {}],
    ] as const) {
      const s = await openRaw(url, headers);
      expect(s.status).toBe(200);
      expect((await s.waitFor(1))[0]?.data).toBe('{"channels":["orders"],"recovered":false}');
      s.close();
    }
  });
});

describe('routes', () => {
  it('answers unknown routes 404 and wrong methods 405, as JSON', async () => {
    expect(statusCode(await call('GET', '/nope'))).toBe('404 NOT_FOUND');
    expect(statusCode(await call('GET', '/push/publish'))).toBe('405 METHOD_NOT_ALLOWED');
    expect(statusCode(await call('DELETE', '/push/tokens'))).toBe('405 METHOD_NOT_ALLOWED');
  });

  it('still publishes after every refusal above (nothing accepted was lost)', async () => {
    const res = await publish(server, { channel: 'orders', event: 'after', data: {} });
    expect(res.status).toBe(200);
  });
});
