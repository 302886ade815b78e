import { CastError, ERROR_CODES, type CastErrorCode } from '@cast/protocol';
import { delay, http, HttpResponse } from 'msw';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { CastServer } from './cast-server.js';
import { BASE_URL, createMockServer, record, type SeenRequest } from './test-server.js';

const server = createMockServer();
beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
// No jitter: retries follow at once unless a test fakes time (backoffDelay has its own tests).
beforeEach(() => {
  vi.spyOn(Math, 'random').mockReturnValue(0);
});
afterEach(() => {
  server.resetHandlers();
  vi.useRealTimers();
  vi.restoreAllMocks();
});
afterAll(() => server.close());

const published = {
  messageId: '3fa85f64-5717-4562-b3fc-2c963f66afa6',
  eventId: '1-0/orders',
  delivered: 2,
  creditsUsed: 0,
};

function client(options: ConstructorParameters<typeof CastServer>[0] = {}): CastServer {
  return new CastServer({ apiKey: 'sk_test', baseUrl: BASE_URL, ...options });
}

/** Rejections as values, so that a test can advance fake timers before looking. */
function settle<T>(promise: Promise<T>): Promise<{ value?: T; error?: unknown }> {
  return promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
}

function errorBody(code: string, message = 'no') {
  return { error: { code, message } };
}

describe('tokens.create', () => {
  it('posts the request with the API key and returns the server answer', async () => {
    const seen: SeenRequest[] = [];
    server.use(
      http.post(`${BASE_URL}/push/tokens`, async ({ request }) => {
        seen.push(await record(request));
        return HttpResponse.json({ token: 'jwt', expiresAt: '2030-01-01T00:00:00.000Z', channels: ['orders'] });
      }),
    );
    const answer = await client().tokens.create({ channels: ['orders'], userId: 'u1', ttlSeconds: 60 });
    expect(answer).toEqual({ token: 'jwt', expiresAt: '2030-01-01T00:00:00.000Z', channels: ['orders'] });
    expect(seen).toHaveLength(1);
    expect(seen[0]?.headers.get('authorization')).toBe('Bearer sk_test');
    expect(seen[0]?.headers.get('content-type')).toBe('application/json');
    expect(seen[0]?.body).toEqual({ channels: ['orders'], userId: 'u1', ttlSeconds: 60 });
  });

  it('keeps a path prefix of the base URL', async () => {
    server.use(
      http.post(`${BASE_URL}/cast/push/tokens`, () =>
        HttpResponse.json({ token: 't', expiresAt: 'x', channels: ['a'] }),
      ),
    );
    const answer = await client({ baseUrl: `${BASE_URL}/cast/` }).tokens.create({ channels: ['a'] });
    expect(answer.token).toBe('t');
  });

  it('leaves channel-count and lifetime limits to the server, which may have raised them', async () => {
    const seen: SeenRequest[] = [];
    server.use(
      http.post(`${BASE_URL}/push/tokens`, async ({ request }) => {
        seen.push(await record(request));
        return HttpResponse.json({ token: 't', expiresAt: 'x', channels: [] });
      }),
    );
    const channels = Array.from({ length: 150 }, (_, i) => `c${i}`);
    await client().tokens.create({ channels, ttlSeconds: 7 * 86_400 });
    expect(seen).toHaveLength(1);
    expect(seen[0]?.body).toEqual({ channels, ttlSeconds: 7 * 86_400 });
  });

  it('refuses a bad channel without a request', async () => {
    const error = await client()
      .tokens.create({ channels: ['a,b'] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CastError);
    expect((error as CastError).code).toBe('INVALID_CHANNEL');
  });
});

describe('error answers', () => {
  const cases: Array<[number, CastErrorCode]> = [
    [400, 'BAD_REQUEST'],
    [400, 'INVALID_CHANNEL'],
    [400, 'BATCH_TOO_LARGE'],
    // Invalid UTF-8 or nesting over the server's depth limit: the same body fails the same way again.
    [400, 'INVALID_JSON'],
    [401, 'UNAUTHORIZED'],
    [401, 'INVALID_API_KEY'],
    [403, 'FORBIDDEN'],
    [404, 'NOT_FOUND'],
    [413, 'PAYLOAD_TOO_LARGE'],
    [415, 'UNSUPPORTED_MEDIA_TYPE'],
  ];

  it.each(cases)('HTTP %i %s becomes that CastError, not retried', async (status, code) => {
    let calls = 0;
    server.use(
      http.post(`${BASE_URL}/push/publish`, () => {
        calls += 1;
        return HttpResponse.json(errorBody(code, `server says ${code}`), { status });
      }),
    );
    const error = await client()
      .publish({ channel: 'orders', event: 'order.created', data: {} })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CastError);
    expect(error).toMatchObject({ code, status, retryable: false, message: `server says ${code}` });
    expect(calls).toBe(1);
  });

  it.each([
    [500, 'INTERNAL'],
    [503, 'UNAVAILABLE'],
    [429, 'RATE_LIMITED'],
  ] as const)('HTTP %i %s is retried, then raised as retryable', async (status, code) => {
    let calls = 0;
    server.use(
      http.post(`${BASE_URL}/push/publish`, () => {
        calls += 1;
        return HttpResponse.json(errorBody(code), { status });
      }),
    );
    const error = await client({ retries: 2 })
      .publish({ channel: 'orders', event: 'order.created', data: {} })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code, status, retryable: true });
    expect(calls).toBe(3);
  });

  it('a bare proxy error without a Cast body maps by status', async () => {
    server.use(
      http.post(`${BASE_URL}/push/publish`, () => new HttpResponse('<html>bad gateway</html>', { status: 502 })),
    );
    const error = await client({ retries: 0 })
      .publish({ channel: 'orders', event: 'order.created', data: {} })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'UNAVAILABLE', status: 502, retryable: true });
  });

  it('a network failure is NETWORK_ERROR after the retries', async () => {
    let calls = 0;
    server.use(
      http.post(`${BASE_URL}/push/publish`, () => {
        calls += 1;
        return HttpResponse.error();
      }),
    );
    const error = await client({ retries: 1 })
      .publish({ channel: 'orders', event: 'order.created', data: {} })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'NETWORK_ERROR', status: 0, retryable: true });
    expect(calls).toBe(2);
  });

  it('a 200 that is not a JSON object is BAD_RESPONSE', async () => {
    server.use(http.post(`${BASE_URL}/push/publish`, () => new HttpResponse('ok', { status: 200 })));
    const error = await client()
      .publish({ channel: 'orders', event: 'order.created', data: {} })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'BAD_RESPONSE', retryable: false });
  });

  it.each(
    // Every status the error table marks retryable, and none it does not.
    [...new Set(Object.values(ERROR_CODES).map((entry) => entry.status))]
      .filter((status) => status > 0)
      .map((status) => [status, status === 408 || status === 429 || status >= 500] as const),
  )('answers %i: retried %s', async (status, retried) => {
    let calls = 0;
    server.use(
      http.post(`${BASE_URL}/push/publish`, () => {
        calls += 1;
        return calls === 1
          ? HttpResponse.json({ error: { code: 'X', message: 'x' } }, { status })
          : HttpResponse.json(published);
      }),
    );
    const outcome = await client()
      .publish({ channel: 'orders', event: 'order.created', data: {} })
      .catch((e: unknown) => e);
    expect(calls).toBe(retried ? 2 : 1);
    if (retried) expect(outcome).toEqual(published);
    else expect(outcome).toMatchObject({ status, retryable: false });
  });
});

describe('retries', () => {
  it('recovers from a 503 and returns the later success', async () => {
    let calls = 0;
    server.use(
      http.post(`${BASE_URL}/push/publish`, () => {
        calls += 1;
        return calls === 1
          ? HttpResponse.json(errorBody('UNAVAILABLE'), { status: 503 })
          : HttpResponse.json(published);
      }),
    );
    await expect(client().publish({ channel: 'orders', event: 'order.created', data: {} })).resolves.toEqual(published);
    expect(calls).toBe(2);
  });

  it('keeps one idempotency key, in the header and the body, across retries', async () => {
    const seen: SeenRequest[] = [];
    server.use(
      http.post(`${BASE_URL}/push/publish`, async ({ request }) => {
        seen.push(await record(request));
        if (seen.length === 1) return HttpResponse.error();
        if (seen.length === 2) return HttpResponse.json(errorBody('INTERNAL'), { status: 500 });
        return HttpResponse.json(published);
      }),
    );
    await client().publish({ channel: 'orders', event: 'order.created', data: { id: 1 } });
    expect(seen).toHaveLength(3);
    const keys = seen.map((r) => r.headers.get('idempotency-key'));
    expect(keys[0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(keys).size).toBe(1);
    expect(seen.map((r) => (r.body as { idempotencyKey: string }).idempotencyKey)).toEqual(keys);
  });

  it('uses the caller key, and a new key for each separate publish', async () => {
    const keys: Array<string | null> = [];
    server.use(
      http.post(`${BASE_URL}/push/publish`, ({ request }) => {
        keys.push(request.headers.get('idempotency-key'));
        return HttpResponse.json(published);
      }),
    );
    const cast = client();
    await cast.publish({ channel: 'orders', event: 'a', data: 1, idempotencyKey: 'order-42-created' });
    await cast.publish({ channel: 'orders', event: 'a', data: 1 });
    await cast.publish({ channel: 'orders', event: 'a', data: 1 });
    expect(keys[0]).toBe('order-42-created');
    expect(keys[1]).not.toBe(keys[2]);
  });

  it('waits the Retry-After seconds of a 429 before retrying', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    let calls = 0;
    server.use(
      http.post(`${BASE_URL}/push/publish`, () => {
        calls += 1;
        return calls === 1
          ? HttpResponse.json(errorBody('RATE_LIMITED'), { status: 429, headers: { 'retry-after': '3' } })
          : HttpResponse.json(published);
      }),
    );
    const result = settle(client({ timeoutMs: 60_000 }).publish({ channel: 'orders', event: 'e', data: 1 }));
    await vi.advanceTimersByTimeAsync(2_900);
    expect(calls).toBe(1);
    await vi.advanceTimersByTimeAsync(200);
    expect(calls).toBe(2);
    expect((await result).value).toEqual(published);
  });

  it('honours a Retry-After HTTP date', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now: Date.parse('2030-01-01T00:00:00Z') });
    let calls = 0;
    server.use(
      http.post(`${BASE_URL}/push/publish`, () => {
        calls += 1;
        return calls === 1
          ? HttpResponse.json(errorBody('RATE_LIMITED'), {
              status: 429,
              headers: { 'retry-after': 'Tue, 01 Jan 2030 00:00:05 GMT' },
            })
          : HttpResponse.json(published);
      }),
    );
    const result = settle(client({ timeoutMs: 60_000 }).publish({ channel: 'orders', event: 'e', data: 1 }));
    await vi.advanceTimersByTimeAsync(4_500);
    expect(calls).toBe(1);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(calls).toBe(2);
    expect((await result).value).toEqual(published);
  });

  it('gives up at once with RATE_LIMITED when Retry-After reaches past the deadline', async () => {
    let calls = 0;
    server.use(
      http.post(`${BASE_URL}/push/publish`, () => {
        calls += 1;
        return HttpResponse.json(errorBody('RATE_LIMITED'), { status: 429, headers: { 'retry-after': '120' } });
      }),
    );
    const error = await client({ timeoutMs: 5_000 })
      .publish({ channel: 'orders', event: 'e', data: 1 })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'RATE_LIMITED', retryAfter: 120 });
    expect(calls).toBe(1);
  });

  it('does not retry with retries: 0', async () => {
    let calls = 0;
    server.use(
      http.post(`${BASE_URL}/push/publish`, () => {
        calls += 1;
        return HttpResponse.json(errorBody('INTERNAL'), { status: 500 });
      }),
    );
    await expect(client({ retries: 0 }).publish({ channel: 'o', event: 'e', data: 1 })).rejects.toMatchObject({
      code: 'INTERNAL',
    });
    expect(calls).toBe(1);
  });
});

describe('timeouts and abort', () => {
  it('fails with TIMEOUT when the server does not answer in time', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    server.use(
      http.post(`${BASE_URL}/push/publish`, async () => {
        await delay('infinite');
        return HttpResponse.json(published);
      }),
    );
    const result = settle(client().publish({ channel: 'o', event: 'e', data: 1 }, { timeoutMs: 1_000 }));
    await vi.advanceTimersByTimeAsync(999);
    let done = false;
    void result.then(() => {
      done = true;
    });
    await Promise.resolve();
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const { error } = await result;
    expect(error).toBeInstanceOf(CastError);
    expect(error).toMatchObject({ code: 'TIMEOUT', status: 0, retryable: true });
  });

  it('the client-wide timeoutMs applies when the call gives none', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    server.use(
      http.get(`${BASE_URL}/push/sessions`, async () => {
        await delay('infinite');
        return HttpResponse.json({ sessions: [] });
      }),
    );
    const result = settle(client({ timeoutMs: 300 }).sessions.list({ channel: 'orders' }));
    await vi.advanceTimersByTimeAsync(300);
    expect((await result).error).toMatchObject({ code: 'TIMEOUT' });
  });

  it('the deadline covers the retries too', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    let calls = 0;
    server.use(
      http.post(`${BASE_URL}/push/publish`, async () => {
        calls += 1;
        if (calls === 1) return HttpResponse.json(errorBody('UNAVAILABLE'), { status: 503 });
        await delay('infinite');
        return HttpResponse.json(published);
      }),
    );
    const result = settle(client({ timeoutMs: 2_000 }).publish({ channel: 'o', event: 'e', data: 1 }));
    await vi.advanceTimersByTimeAsync(2_000);
    expect(calls).toBe(2);
    expect((await result).error).toMatchObject({ code: 'TIMEOUT' });
  });

  it('an abort ends an in-flight request at once with ABORTED, not retried', async () => {
    let calls = 0;
    let sawAbort = false;
    server.use(
      http.post(`${BASE_URL}/push/publish`, async ({ request }) => {
        calls += 1;
        request.signal.addEventListener('abort', () => {
          sawAbort = true;
        });
        await delay('infinite');
        return HttpResponse.json(published);
      }),
    );
    const controller = new AbortController();
    const result = settle(client().publish({ channel: 'o', event: 'e', data: 1 }, { signal: controller.signal }));
    await vi.waitFor(() => expect(calls).toBe(1));
    const reason = new Error('user left');
    controller.abort(reason);
    const { error } = await result;
    expect(error).toMatchObject({ code: 'ABORTED', retryable: false, cause: reason });
    expect(calls).toBe(1);
    await vi.waitFor(() => expect(sawAbort).toBe(true));
  });

  it('an abort during the backoff wait ends the call at once', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    let calls = 0;
    server.use(
      http.post(`${BASE_URL}/push/publish`, () => {
        calls += 1;
        return HttpResponse.json(errorBody('RATE_LIMITED'), { status: 429, headers: { 'retry-after': '5' } });
      }),
    );
    const controller = new AbortController();
    const result = settle(
      client({ timeoutMs: 60_000 }).publish({ channel: 'o', event: 'e', data: 1 }, { signal: controller.signal }),
    );
    await vi.advanceTimersByTimeAsync(1_000);
    expect(calls).toBe(1);
    controller.abort();
    expect((await result).error).toMatchObject({ code: 'ABORTED' });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(calls).toBe(1);
  });

  it('an already aborted signal sends nothing', async () => {
    let calls = 0;
    server.use(
      http.post(`${BASE_URL}/push/publish`, () => {
        calls += 1;
        return HttpResponse.json(published);
      }),
    );
    await expect(
      client().publish({ channel: 'o', event: 'e', data: 1 }, { signal: AbortSignal.abort() }),
    ).rejects.toMatchObject({ code: 'ABORTED' });
    expect(calls).toBe(0);
  });

  it('ends at once even with a fetch that ignores the signal', async () => {
    const cast = client({ fetch: () => new Promise<Response>(() => undefined) });
    const controller = new AbortController();
    const result = settle(cast.publish({ channel: 'o', event: 'e', data: 1 }, { signal: controller.signal }));
    controller.abort();
    expect((await result).error).toMatchObject({ code: 'ABORTED' });
  });

  it('refuses a non-positive timeout', async () => {
    await expect(client().publish({ channel: 'o', event: 'e', data: 1 }, { timeoutMs: 0 })).rejects.toMatchObject({
      code: 'INVALID_OPTIONS',
    });
  });
});

describe('publish', () => {
  it('sends channel, event, data and the key, and returns the answer', async () => {
    const seen: SeenRequest[] = [];
    server.use(
      http.post(`${BASE_URL}/push/publish`, async ({ request }) => {
        seen.push(await record(request));
        return HttpResponse.json({ ...published, duplicate: true });
      }),
    );
    const answer = await client().publish({ channel: 'order:abc123', event: 'status.changed', data: { s: 'shipped' } });
    expect(answer).toEqual({ ...published, duplicate: true });
    expect(seen[0]?.body).toMatchObject({ channel: 'order:abc123', event: 'status.changed', data: { s: 'shipped' } });
  });

  it.each([
    [{ channel: 'a b', event: 'e', data: 1 }, 'INVALID_CHANNEL'],
    [{ channel: 'a', event: 'bad\nname', data: 1 }, 'INVALID_EVENT_NAME'],
    [{ channel: 'a', event: 'connected', data: 1 }, 'RESERVED_EVENT_NAME'],
    [{ channel: 'a', event: 'e', data: undefined }, 'BAD_REQUEST'],
    [{ channel: 'a', event: 'e', data: 1, idempotencyKey: '' }, 'BAD_REQUEST'],
    [{ channel: 'a', event: 'e', data: 1, idempotencyKey: 'has space' }, 'BAD_REQUEST'],
  ])('refuses %j locally with %s', async (event, code) => {
    await expect(client().publish(event)).rejects.toMatchObject({ code });
  });
});

describe('publishBatch', () => {
  it('posts every event with its own key and returns the results in order', async () => {
    const seen: SeenRequest[] = [];
    server.use(
      http.post(`${BASE_URL}/push/publish/batch`, async ({ request }) => {
        seen.push(await record(request));
        const { events } = seen[0]?.body as { events: Array<{ channel: string }> };
        return HttpResponse.json({
          results: events.map((e, i) => ({ ...published, eventId: `1-${i}/${e.channel}` })),
        });
      }),
    );
    const results = await client().publishBatch([
      { channel: 'a', event: 'x', data: 1 },
      { channel: 'b', event: 'y', data: 2, idempotencyKey: 'k2' },
    ]);
    expect(results.map((r) => r.eventId)).toEqual(['1-0/a', '1-1/b']);
    const { events } = seen[0]?.body as { events: Array<{ idempotencyKey: string; channel: string }> };
    expect(events[1]?.idempotencyKey).toBe('k2');
    expect(events[0]?.idempotencyKey).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('keeps every key identical when the batch is retried', async () => {
    const bodies: unknown[] = [];
    server.use(
      http.post(`${BASE_URL}/push/publish/batch`, async ({ request }) => {
        bodies.push(await request.json());
        return bodies.length === 1
          ? HttpResponse.json(errorBody('INTERNAL'), { status: 500 })
          : HttpResponse.json({ results: [published] });
      }),
    );
    await client().publishBatch([{ channel: 'a', event: 'x', data: 1 }]);
    expect(bodies).toHaveLength(2);
    expect(bodies[1]).toEqual(bodies[0]);
  });

  it('refuses an empty batch and a batch with one bad event, before sending', async () => {
    await expect(client().publishBatch([])).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(
      client().publishBatch([
        { channel: 'a', event: 'x', data: 1 },
        { channel: 'a', event: 'error', data: 1 },
      ]),
    ).rejects.toMatchObject({ code: 'RESERVED_EVENT_NAME' });
  });

  it('raises the server BATCH_TOO_LARGE', async () => {
    server.use(
      http.post(`${BASE_URL}/push/publish/batch`, () =>
        HttpResponse.json(errorBody('BATCH_TOO_LARGE', 'at most 100'), { status: 400 }),
      ),
    );
    const events = Array.from({ length: 101 }, (_, i) => ({ channel: 'a', event: 'x', data: i }));
    await expect(client().publishBatch(events)).rejects.toMatchObject({ code: 'BATCH_TOO_LARGE', status: 400 });
  });
});

describe('sessions.list', () => {
  const session = { id: 's1', userId: 'u1', channels: ['orders'], connectedAt: '2030-01-01T00:00:00.000Z' };

  it('queries by channel or by user and returns the sessions array', async () => {
    const urls: URL[] = [];
    server.use(
      http.get(`${BASE_URL}/push/sessions`, ({ request }) => {
        urls.push(new URL(request.url));
        return HttpResponse.json({ sessions: [session] });
      }),
    );
    const cast = client();
    expect(await cast.sessions.list({ channel: 'orders' })).toEqual([session]);
    expect(await cast.sessions.list({ userId: 'u1' })).toEqual([session]);
    expect(urls[0]?.searchParams.get('channel')).toBe('orders');
    expect(urls[0]?.searchParams.has('userId')).toBe(false);
    expect(urls[1]?.searchParams.get('userId')).toBe('u1');
  });

  it('needs a channel or a user id', async () => {
    await expect(client().sessions.list({} as { channel: string })).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
  });
});
