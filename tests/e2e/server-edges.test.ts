import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handMadeJwt, issueToken, nowSeconds, startServer, streamClaims, type TestServer } from './helpers/server.js';
import { openRaw, type RawStream } from './helpers/sse.js';

const publicKey = `pk_acme_${randomBytes(12).toString('hex')}`;
let server: TestServer;
const streams: RawStream[] = [];

beforeAll(async () => {
  // A short request deadline, so that the slow-request cases answer quickly.
  server = await startServer({ env: { CAST_REQUEST_TIMEOUT_MS: '600', CAST_PUBLIC_KEYS: `acme=${publicKey}` } });
});
afterAll(async () => {
  for (const s of streams) s.close();
  await server?.stop();
});

const auth = () => ({ authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' });

/** POSTs raw bytes and returns the status and error code (or the JSON body). */
async function post(path: string, body: string | Uint8Array<ArrayBuffer>): Promise<{ status: number; body: any }> {
  const res = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: auth(),
    body,
    signal: AbortSignal.timeout(10_000),
  });
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  return { status: res.status, body: await res.json() };
}

async function stream(channels: string[]): Promise<RawStream> {
  const { token } = await issueToken(server, { channels });
  const s = await openRaw(`${server.url}/push/stream?token=${token}`);
  streams.push(s);
  expect(s.status).toBe(200);
  await s.waitFor(1);
  return s;
}

/**
 * Writes raw bytes on a fresh socket and collects what comes back until the
 * server closes it, `until` matches, or `timeoutMs` passes.
 */
function exchange(
  request: string | Buffer,
  options: { until?: (text: string) => boolean; timeoutMs?: number; keepOpen?: boolean } = {},
): Promise<{ text: string; closed: boolean; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const socket = net.connect(server.port, '127.0.0.1');
    let text = '';
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (!options.keepOpen || closed) socket.destroy();
      resolve({ text, closed, ms: Date.now() - started });
    };
    const timer = setTimeout(() => finish(false), options.timeoutMs ?? 10_000);
    socket.on('error', (err) => (done ? undefined : text ? finish(true) : reject(err)));
    socket.on('data', (d) => {
      text += d.toString('utf8');
      if (options.until?.(text)) finish(false);
    });
    socket.on('close', () => finish(true));
    socket.write(request);
  });
}

/** The status and parsed JSON body of a raw HTTP/1.1 answer. */
function parseAnswer(text: string): { status: number; headers: string; body: any } {
  const split = text.indexOf('\r\n\r\n');
  const head = text.slice(0, split);
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
  return { status, headers: head, body: JSON.parse(text.slice(split + 4)) };
}

describe('data exactly as published', () => {
  const exact =
    '{"id":9007199254740993,"big":1e999,"small":-1.50E-400,"s":"a\\u0000b\\n\u2028é","k":[{},[],null,true]}';
  // The same value as sent, with insignificant whitespace and newlines around its tokens.
  const spaced =
    '{ "id" : 9007199254740993 ,\n "big":1e999,\r\n\t"small": -1.50E-400, "s":"a\\u0000b\\n\u2028é", "k" : [ { } , [ ] , null , true ] }';

  it('publish, batch publish and the event bus forward data as its source text, on one data: line', async () => {
    const s = await stream(['exact']);
    const single = await post('/push/publish', `{"channel":"exact","event":"one","data":${spaced}}`);
    expect(single.status).toBe(200);
    const batch = await post(
      '/push/publish/batch',
      `{"events":[\n{"channel":"exact","event":"two","data":${spaced}},\n{"channel":"exact","event":"three","data":  12345678901234567890  }]}`,
    );
    expect(batch.status).toBe(200);
    const got = await s.waitFor(4);
    expect(got.slice(1).map((e) => [e.event, e.data])).toEqual([
      ['one', exact],
      ['two', exact],
      ['three', '12345678901234567890'],
    ]);

    const bus = await openRaw(`${server.url}/v1/events/subscribe?topic=exact.*&apikey=${publicKey}`);
    streams.push(bus);
    await bus.waitFor(1);
    const res = await post('/v1/events/publish', `{"topic":"exact.bus","data":${spaced}}`);
    expect(res.status).toBe(200);
    const [, event] = await bus.waitFor(2);
    expect(event?.data).toBe(exact);
  });

  it('refuses invalid UTF-8 anywhere in the body with 400 INVALID_JSON on every publish route', async () => {
    const withBytes = (before: string, bytes: number[], after: string): Uint8Array<ArrayBuffer> =>
      new Uint8Array([...Buffer.from(before), ...bytes, ...Buffer.from(after)]);
    const bodies: Array<[string, Uint8Array<ArrayBuffer>]> = [
      ['/push/publish', withBytes('{"channel":"exact","event":"x","data":{"s":"', [0xff, 0xfe], '"}}')],
      ['/push/publish', withBytes('{"channel":"exact","event":"x","data":1,"note":"', [0xc3], '"}')],
      [
        '/push/publish/batch',
        withBytes('{"events":[{"channel":"exact","event":"x","data":"', [0xed, 0xa0, 0x80], '"}]}'),
      ],
      ['/v1/events/publish', withBytes('{"topic":"exact.x","data":"', [0x80], '"}')],
      ['/push/tokens', withBytes('{"channels":["a"],"userId":"', [0xf8, 0x88, 0x80, 0x80, 0x80], '"}')],
    ];
    for (const [path, body] of bodies) {
      const res = await post(path, body);
      expect(`${res.status} ${res.body.error.code}`, path).toBe('400 INVALID_JSON');
      expect(res.body.error.message).toMatch(/UTF-8/);
    }
  });
});

describe('deep nesting', () => {
  it('answers 400 INVALID_JSON saying so for 30,000 nested arrays or 6,000 nested objects, on every publish route, with no stack trace logged', async () => {
    const arrays = `${'['.repeat(30_000)}${']'.repeat(30_000)}`;
    const objects = `${'{"a":'.repeat(6000)}1${'}'.repeat(6000)}`;
    for (const deep of [arrays, objects]) {
      for (const [path, body] of [
        ['/push/publish', `{"channel":"deep","event":"x","data":${deep}}`],
        ['/push/publish/batch', `{"events":[{"channel":"deep","event":"x","data":${deep}}]}`],
        ['/v1/events/publish', `{"topic":"deep","data":${deep}}`],
      ] as const) {
        const res = await post(path, body);
        expect(`${res.status} ${res.body.error.code}`, path).toBe('400 INVALID_JSON');
        expect(res.body.error.message).toMatch(/deeper than 64 levels/);
      }
    }
    // The documented limit, exactly: 64 levels in all, the envelope's one included.
    const ok = await post('/push/publish', `{"channel":"deep","event":"x","data":${'['.repeat(63)}${']'.repeat(63)}}`);
    expect(ok.status).toBe(200);
    expect(server.output()).not.toMatch(/Maximum call stack|RangeError|unexpected error/);
  });
});

describe('request deadlines', () => {
  it('answers 408 TIMEOUT as JSON to a publish that stops sending its body, while an open stream is not cut', async () => {
    const s = await stream(['slow']);
    const head = `POST /push/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${server.apiKey}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n`;
    const answer = await exchange(`${head}{"channel":`, { timeoutMs: 8000 });
    expect(answer.text).not.toBe('');
    const { status, headers, body } = parseAnswer(answer.text);
    expect(status).toBe(408);
    expect(headers).toMatch(/content-type: application\/json/i);
    expect(body.error.code).toBe('TIMEOUT');
    expect(answer.closed).toBe(true);
    // Unanswered before the deadline, answered within a few checks after it.
    expect(answer.ms).toBeGreaterThanOrEqual(550);
    expect(answer.ms).toBeLessThan(5000);

    // Headers that never end get the same answer.
    const headers408 = await exchange('POST /push/publish HTTP/1.1\r\nHost: x\r\nContent-Ty', { timeoutMs: 8000 });
    expect(parseAnswer(headers408.text).body.error.code).toBe('TIMEOUT');

    // The stream opened before all this is still open, well past the deadline, and delivers.
    await new Promise((r) => setTimeout(r, 600));
    const res = await post('/push/publish', '{"channel":"slow","event":"after","data":1}');
    expect(res.body.delivered).toBe(1);
    const got = await s.waitFor(2);
    expect(got[1]?.event).toBe('after');
  });

  it('does not log a client that aborts its upload as a server error', async () => {
    const head = `POST /push/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${server.apiKey}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n`;
    await exchange(`${head}{"channel":"x"`, { timeoutMs: 150 });
    await new Promise((r) => setTimeout(r, 300));
    expect(server.output()).not.toMatch(/unexpected error|went away|\n\s+at /);
  });
});

describe('token size and request head limits', () => {
  const channels = Array.from({ length: 100 }, (_, i) => `${String(i).padStart(3, '0')}${'c'.repeat(125)}`);

  it('accepts the largest token the issue route hands out (100 channels of 128 characters), in the query and in the header', async () => {
    const { token } = await issueToken(server, { channels });
    expect(token.length).toBeGreaterThan(17_000);
    const query = await openRaw(`${server.url}/push/stream?token=${token}`);
    streams.push(query);
    expect(query.status).toBe(200);
    expect(JSON.parse((await query.waitFor(1))[0]?.data ?? '{}').channels).toHaveLength(100);
    const header = await openRaw(`${server.url}/push/stream`, { authorization: `Bearer ${token}` });
    streams.push(header);
    expect(header.status).toBe(200);
    query.close();
    header.close();
  });

  it('answers an oversized head 431 HEADERS_TOO_LARGE and an oversized URL 414 URI_TOO_LONG, as JSON', async () => {
    const big = await exchange(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(70 * 1024)}\r\n\r\n`);
    const bigAnswer = parseAnswer(big.text);
    expect(`${bigAnswer.status} ${bigAnswer.body.error.code}`).toBe('431 HEADERS_TOO_LARGE');
    const long = await exchange(`GET /push/stream?token=${'a'.repeat(70 * 1024)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    const longAnswer = parseAnswer(long.text);
    expect(`${longAnswer.status} ${longAnswer.body.error.code}`).toBe('414 URI_TOO_LONG');
    expect(longAnswer.headers).toMatch(/content-type: application\/json/i);
    const garbage = await exchange('NOT HTTP AT ALL\r\n\r\n');
    expect(parseAnswer(garbage.text).body.error.code).toBe('BAD_REQUEST');
  });

  it('refuses at issue, with 400 TOKEN_TOO_LARGE, a token over 32 KiB', async () => {
    const wide = await startServer({ env: { CAST_MAX_CHANNELS_PER_TOKEN: '300' } });
    try {
      const many = Array.from({ length: 300 }, (_, i) => `${String(i).padStart(3, '0')}${'c'.repeat(125)}`);
      const res = await fetch(`${wide.url}/push/tokens`, {
        method: 'POST',
        headers: { authorization: `Bearer ${wide.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ channels: many }),
      });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('TOKEN_TOO_LARGE');
      // Within the size, the same server still issues.
      expect((await issueToken(wide, { channels: many.slice(0, 150) })).channels).toHaveLength(150);
    } finally {
      await wide.stop();
    }
  });
});

describe('HEAD /push/stream', () => {
  it('answers the headers only, registers no session, and the next request on the connection is answered', async () => {
    const { token } = await issueToken(server, { channels: ['head'] });
    const answer = await exchange(
      `HEAD /push/stream?token=${token} HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      {
        timeoutMs: 5000,
      },
    );
    const [first, second] = answer.text.split(/(?=HTTP\/1\.1 )/);
    expect(first).toMatch(/^HTTP\/1\.1 200/);
    expect(first).toMatch(/content-type: text\/event-stream/i);
    expect(first?.split('\r\n\r\n')[1]).toBe('');
    expect(second).toMatch(/^HTTP\/1\.1 200/);
    expect(second).toContain('{"status":"ok"}');
    const res = await post('/push/publish', '{"channel":"head","event":"x","data":1}');
    expect(res.body.delivered).toBe(0);
  });
});

/** An HS256 token signed with the server's secret, as the SDK signs offline. */
const signed = (claims: Record<string, unknown>): string =>
  handMadeJwt({ alg: 'HS256', typ: 'JWT' }, claims, server.signingSecret);

describe('verified tokens', () => {
  const now = nowSeconds;
  const claims = streamClaims;
  const open = async (token: string) => {
    const res = await fetch(`${server.url}/push/stream?token=${token}`, { signal: AbortSignal.timeout(5000) });
    const text = res.status === 200 ? '' : await res.text();
    if (res.status === 200) await res.body?.cancel();
    return res.status === 200 ? '200' : `${res.status} ${(JSON.parse(text) as { error: { code: string } }).error.code}`;
  };

  it('accepts a token signed offline with the claims the issue route writes (the control)', async () => {
    expect(await open(signed(claims()))).toBe('200');
  });

  it.each([
    ['iat a year ahead', { iat: now() + 365 * 86_400, exp: now() + 365 * 86_400 + 3600 }],
    ['iat an hour ahead and a short lifetime', { iat: now() + 3600, exp: now() + 3660 }],
    ['the event bus channel', { chs: ['$bus'] }],
    ['a change feed channel', { chs: ['$db:todos'] }],
    ['a newline in a channel', { chs: ['orders\nx'] }],
    ['1,000 channels', { chs: Array.from({ length: 1000 }, (_, i) => `c${i}`) }],
    ['an unknown tenant', { tid: 'initech' }],
    ['a C1 control in the user id', { sub: 'u\u0085' }],
  ])('refuses a validly signed token with %s: 401 INVALID_TOKEN', async (_what, over) => {
    expect(await open(signed(claims(over)))).toBe('401 INVALID_TOKEN');
  });

  it('keeps the event bus open to its keys', async () => {
    const bus = await openRaw(`${server.url}/v1/events/subscribe?apikey=${publicKey}`);
    streams.push(bus);
    expect(bus.status).toBe(200);
    bus.close();
  });
});

describe('user ids', () => {
  it.each(['u\u0080', 'u\u0085', 'u\u009b'])('refuses the C1 control in %j at issue with 400', async (userId) => {
    const res = await post('/push/tokens', JSON.stringify({ channels: ['orders'], userId }));
    expect(`${res.status} ${res.body.error.code}`).toBe('400 BAD_REQUEST');
  });
});
