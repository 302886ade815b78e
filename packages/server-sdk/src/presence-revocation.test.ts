import type { ChannelInfo } from '@cast/protocol';
import { http, HttpResponse } from 'msw';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CastServer } from './cast-server.js';
import { BASE_URL, createMockServer, record, type SeenRequest } from './test-server.js';
import type { DisconnectRequest, RevokeRequest } from './types.js';

const server = createMockServer();
beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

function client(): CastServer {
  return new CastServer({ apiKey: 'sk_test', baseUrl: BASE_URL, retries: 0 });
}

/** Answers `answer` on one route and records what it saw. */
function route(method: 'get' | 'post', path: string, answer: unknown, status = 200): SeenRequest[] {
  const seen: SeenRequest[] = [];
  server.use(
    http[method](`${BASE_URL}${path}`, async ({ request }) => {
      seen.push(await record(request));
      return HttpResponse.json(answer as Record<string, unknown>, { status });
    }),
  );
  return seen;
}

const members = [{ userId: 'u1', userInfo: { name: 'Ada' }, connections: 2 }];

describe('tokens.create with presence', () => {
  it('sends presence and userInfo and returns the token id', async () => {
    const answer = { token: 'jwt', expiresAt: '2030-01-01T00:00:00.000Z', channels: ['room:1'], tokenId: 'tok_1' };
    const seen = route('post', '/push/tokens', answer);
    const issued = await client().tokens.create({
      channels: ['room:1'],
      userId: 'u1',
      presence: true,
      userInfo: { name: 'Ada' },
    });
    expect(issued.tokenId).toBe('tok_1');
    expect(seen[0]?.body).toEqual({ channels: ['room:1'], userId: 'u1', presence: true, userInfo: { name: 'Ada' } });
  });

  it('refuses a userInfo that is not an object without a request', async () => {
    const seen = route('post', '/push/tokens', {});
    await expect(
      client().tokens.create({ channels: ['a'], userInfo: ['x'] as unknown as Record<string, unknown> }),
    ).rejects.toMatchObject({ code: 'INVALID_USER_INFO', status: 400 });
    expect(seen).toHaveLength(0);
  });

  it('passes the server INVALID_USER_INFO through as a CastError', async () => {
    route('post', '/push/tokens', { error: { code: 'INVALID_USER_INFO', message: 'too big' } }, 400);
    await expect(client().tokens.create({ channels: ['a'], userInfo: { a: 1 } })).rejects.toMatchObject({
      code: 'INVALID_USER_INFO',
      status: 400,
      message: 'too big',
    });
  });
});

describe('presence.get', () => {
  it('asks GET /push/presence?channel=C with the API key and returns the members', async () => {
    const answer = { channel: 'room:1', members, connections: 3 };
    const seen = route('get', '/push/presence', answer);
    await expect(client().presence.get('room:1')).resolves.toEqual(answer);
    expect(seen[0]?.url.searchParams.get('channel')).toBe('room:1');
    expect(seen[0]?.headers.get('authorization')).toBe('Bearer sk_test');
  });

  it('refuses a bad channel name without a request', async () => {
    const seen = route('get', '/push/presence', {});
    await expect(client().presence.get('not ok')).rejects.toMatchObject({ code: 'INVALID_CHANNEL' });
    expect(seen).toHaveLength(0);
  });

  it('turns an answer without members into BAD_RESPONSE', async () => {
    route('get', '/push/presence', { channel: 'room:1' });
    await expect(client().presence.get('room:1')).rejects.toMatchObject({ code: 'BAD_RESPONSE' });
  });

  it('reports the server being unable to reach Redis as UNAVAILABLE, retryable', async () => {
    route('get', '/push/presence', { error: { code: 'UNAVAILABLE', message: 'redis down' } }, 503);
    await expect(client().presence.get('room:1')).rejects.toMatchObject({ code: 'UNAVAILABLE', retryable: true });
  });

  it('ends with ABORTED when its signal aborts', async () => {
    route('get', '/push/presence', { channel: 'room:1', members: [], connections: 0 });
    await expect(client().presence.get('room:1', { signal: AbortSignal.abort() })).rejects.toMatchObject({
      code: 'ABORTED',
    });
  });
});

describe('channels', () => {
  const page = (names: string[], cursor: string | null) => ({
    channels: names.map((channel): ChannelInfo => ({ channel, connections: 1, users: 1 })),
    cursor,
  });

  it('list sends prefix and cursor only when given', async () => {
    const seen = route('get', '/push/channels', page(['order:1'], null));
    await client().channels.list();
    await client().channels.list({ prefix: 'order:', cursor: 'c1' });
    expect([...seen[0]!.url.searchParams.keys()]).toEqual([]);
    expect(seen[1]?.url.searchParams.get('prefix')).toBe('order:');
    expect(seen[1]?.url.searchParams.get('cursor')).toBe('c1');
  });

  it('list refuses an answer without a cursor field', async () => {
    route('get', '/push/channels', { channels: [] });
    await expect(client().channels.list()).rejects.toMatchObject({ code: 'BAD_RESPONSE' });
  });

  it('all walks every page with the cursors the server gives, and stops at a null cursor', async () => {
    const pages: Record<string, ReturnType<typeof page>> = {
      start: page(['a', 'b'], 'c1'),
      c1: page(['c'], 'c2'),
      c2: page(['d'], null),
    };
    const seen: URL[] = [];
    server.use(
      http.get(`${BASE_URL}/push/channels`, ({ request }) => {
        const url = new URL(request.url);
        seen.push(url);
        return HttpResponse.json(pages[url.searchParams.get('cursor') ?? 'start']);
      }),
    );
    const names: string[] = [];
    for await (const info of client().channels.all({ prefix: 'x' })) names.push(info.channel);
    expect(names).toEqual(['a', 'b', 'c', 'd']);
    expect(seen.map((url) => url.searchParams.get('prefix'))).toEqual(['x', 'x', 'x']);
  });

  it('all stops with BAD_RESPONSE when the server repeats a cursor, instead of looping', async () => {
    route('get', '/push/channels', page(['a'], 'same'));
    const names: string[] = [];
    const walk = async (): Promise<void> => {
      for await (const info of client().channels.all()) names.push(info.channel);
    };
    await expect(walk()).rejects.toMatchObject({ code: 'BAD_RESPONSE' });
    expect(names).toEqual(['a', 'a']);
  });
});

describe('tokens.revoke', () => {
  it.each<[RevokeRequest, Record<string, string>]>([
    [{ userId: 'u1' }, { userId: 'u1' }],
    [{ tokenId: 'tok_1' }, { tokenId: 'tok_1' }],
    [{ issuedBefore: new Date('2030-01-01T00:00:00Z') }, { issuedBefore: '2030-01-01T00:00:00.000Z' }],
    [
      { issuedBefore: '2030-01-01T01:00:00+01:00', userId: 'u1' },
      { issuedBefore: '2030-01-01T00:00:00.000Z', userId: 'u1' },
    ],
  ])('posts %j as %j and returns the server answer', async (request, body) => {
    const seen = route('post', '/push/revoke', { revoked: 2 });
    await expect(client().tokens.revoke(request)).resolves.toEqual({ revoked: 2 });
    expect(seen[0]?.body).toEqual(body);
    expect(seen[0]?.headers.get('authorization')).toBe('Bearer sk_test');
  });

  it.each([
    [{}],
    [{ userId: 'u1', tokenId: 't' }],
    [{ tokenId: 't', issuedBefore: new Date() }],
    [{ issuedBefore: 'yesterday' }],
    [{ tokenId: '' }],
    [{ userId: 42 }],
  ])('refuses %j with BAD_REQUEST without a request', async (request) => {
    const seen = route('post', '/push/revoke', { revoked: 0 });
    await expect(client().tokens.revoke(request as RevokeRequest)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    expect(seen).toHaveLength(0);
  });

  it('turns an answer without a count into BAD_RESPONSE', async () => {
    route('post', '/push/revoke', { disconnected: 1 });
    await expect(client().tokens.revoke({ userId: 'u1' })).rejects.toMatchObject({ code: 'BAD_RESPONSE' });
  });
});

describe('connections.disconnect', () => {
  it.each<[DisconnectRequest, Record<string, unknown>]>([
    [{ userId: 'u1' }, { userId: 'u1' }],
    [
      { sessionId: 's1', reconnect: false },
      { sessionId: 's1', reconnect: false },
    ],
    [
      { userId: 'u1', channel: 'orders', reconnect: true },
      { userId: 'u1', channel: 'orders', reconnect: true },
    ],
  ])('posts %j as %j and returns { disconnected }', async (request, body) => {
    const seen = route('post', '/push/disconnect', { disconnected: 3 });
    await expect(client().connections.disconnect(request)).resolves.toEqual({ disconnected: 3 });
    expect(seen[0]?.body).toEqual(body);
  });

  it.each([
    [{}, 'BAD_REQUEST'],
    [{ userId: 'u1', sessionId: 's1' }, 'BAD_REQUEST'],
    [{ userId: 'u1', reconnect: 'no' }, 'BAD_REQUEST'],
    [{ userId: 'u1', channel: 'bad channel' }, 'INVALID_CHANNEL'],
  ])('refuses %j with %s without a request', async (request, code) => {
    const seen = route('post', '/push/disconnect', { disconnected: 0 });
    await expect(client().connections.disconnect(request as DisconnectRequest)).rejects.toMatchObject({ code });
    expect(seen).toHaveLength(0);
  });

  it('passes a server error through with its code', async () => {
    route('post', '/push/disconnect', { error: { code: 'BAD_REQUEST', message: 'unknown session' } }, 400);
    await expect(client().connections.disconnect({ sessionId: 'x' })).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      message: 'unknown session',
    });
  });
});
