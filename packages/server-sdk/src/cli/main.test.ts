import { describe, expect, it } from 'vitest';
import { EXIT, main, type CliIo } from './main.js';
import { bodyOf, fakeIo } from './test-io.js';

const published = { messageId: 'm-1', eventId: '9-0/orders', delivered: 3, creditsUsed: 0 };

/** The test io, with a JSON document on standard input. */
const io = (answer: (url: URL, init: RequestInit | undefined) => Response, extra: Partial<CliIo> = {}) =>
  fakeIo(answer, { readStdin: async () => '{"from":"stdin"}', ...extra });
const headerOf = (init: RequestInit | undefined, name: string): string | null => new Headers(init?.headers).get(name);

describe('cast token', () => {
  it('prints the bare token, for $(cast token ...)', async () => {
    const t = io(() =>
      Response.json({ token: 'eyJ.x.y', expiresAt: '2030-01-01T00:00:00.000Z', channels: ['a', 'b'] }),
    );
    const code = await main(['token', '--channels', 'a, b', '--user', 'u1', '--ttl', '60'], t.io);
    expect(code).toBe(EXIT.ok);
    expect(t.out).toEqual(['eyJ.x.y']);
    expect(bodyOf(t.requests[0]?.init)).toEqual({ channels: ['a', 'b'], userId: 'u1', ttlSeconds: 60 });
    expect(headerOf(t.requests[0]?.init, 'authorization')).toBe('Bearer sk_env');
  });

  it('prints the whole answer with --json, using --key and --url over the environment', async () => {
    const answer = { token: 't', expiresAt: '2030-01-01T00:00:00.000Z', channels: ['a'] };
    const t = io(() => Response.json(answer));
    const code = await main(
      ['token', '--channels', 'a', '--json', '--key', 'sk_flag', '--url', 'http://flag.test'],
      t.io,
    );
    expect(code).toBe(EXIT.ok);
    expect(JSON.parse(t.out[0] ?? '')).toEqual(answer);
    expect(t.requests[0]?.url.origin).toBe('http://flag.test');
    expect(headerOf(t.requests[0]?.init, 'authorization')).toBe('Bearer sk_flag');
  });

  it.each([
    [['token'], 'needs --channels'],
    [['token', '--channels', 'a', '--ttl', 'soon'], '--ttl'],
    [['token', '--channels', 'a', '--bogus'], 'bogus'],
    [['frobnicate'], 'unknown command'],
    [[], 'no command'],
  ])('%j is a usage error (exit 2)', async (argv, words) => {
    const t = io(() => Response.json({}));
    expect(await main(argv, t.io)).toBe(EXIT.usage);
    expect(t.err).toHaveLength(1);
    expect(t.err[0]).toContain(words);
    expect(t.requests).toHaveLength(0);
  });

  it('says which variable is missing', async () => {
    const t = io(() => Response.json({}), { env: {} });
    expect(await main(['token', '--channels', 'a'], t.io)).toBe(EXIT.usage);
    expect(t.err[0]).toContain('CAST_API_KEY');
  });

  it('reports a server error in one line with its code, exit 1', async () => {
    const t = io(() =>
      Response.json({ error: { code: 'INVALID_API_KEY', message: 'Unknown API key.' } }, { status: 401 }),
    );
    expect(await main(['token', '--channels', 'a'], t.io)).toBe(EXIT.failed);
    expect(t.err).toEqual(['cast: Unknown API key. (INVALID_API_KEY)']);
    expect(t.out).toEqual([]);
  });

  it('reports errors as JSON with --json', async () => {
    const t = io(() => Response.json({ error: { code: 'FORBIDDEN', message: 'no' } }, { status: 403 }));
    expect(await main(['token', '--channels', 'a', '--json'], t.io)).toBe(EXIT.failed);
    expect(JSON.parse(t.err[0] ?? '')).toEqual({ error: { code: 'FORBIDDEN', message: 'no' } });
  });
});

describe('cast publish', () => {
  it('publishes the JSON argument and prints a summary', async () => {
    const t = io(() => Response.json(published));
    expect(await main(['publish', 'orders', 'order.created', '{"id":"a1"}'], t.io)).toBe(EXIT.ok);
    expect(bodyOf(t.requests[0]?.init)).toMatchObject({
      channel: 'orders',
      event: 'order.created',
      data: { id: 'a1' },
    });
    expect(t.out[0]).toContain('delivered to 3 connections');
    expect(t.out[0]).toContain('m-1');
  });

  it('reads the data from standard input with -', async () => {
    const t = io(() => Response.json(published));
    expect(await main(['publish', 'orders', 'e', '-', '--json'], t.io)).toBe(EXIT.ok);
    expect(bodyOf(t.requests[0]?.init)).toMatchObject({ data: { from: 'stdin' } });
    expect(JSON.parse(t.out[0] ?? '')).toEqual(published);
  });

  it('sends null without data, and the given idempotency key', async () => {
    const t = io(() => Response.json(published));
    expect(await main(['publish', 'orders', 'ping', '--idempotency-key', 'k-1'], t.io)).toBe(EXIT.ok);
    expect(bodyOf(t.requests[0]?.init)).toMatchObject({ data: null, idempotencyKey: 'k-1' });
    expect(headerOf(t.requests[0]?.init, 'idempotency-key')).toBe('k-1');
  });

  it('refuses data that is not JSON before sending anything', async () => {
    const t = io(() => Response.json(published));
    expect(await main(['publish', 'orders', 'e', '{oops'], t.io)).toBe(EXIT.usage);
    expect(t.err[0]).toContain('not valid JSON');
    expect(t.requests).toHaveLength(0);
  });

  it('refuses a reserved event name with its code, exit 1', async () => {
    const t = io(() => Response.json(published));
    expect(await main(['publish', 'orders', 'connected', '{}'], t.io)).toBe(EXIT.failed);
    expect(t.err[0]).toContain('RESERVED_EVENT_NAME');
  });
});

describe('cast --help', () => {
  it('prints the usage on stdout with exit 0', async () => {
    const t = io(() => Response.json({}));
    expect(await main(['--help'], t.io)).toBe(EXIT.ok);
    expect(t.out[0]).toContain('cast listen <channel...>');
    expect(await main(['publish', '-h'], t.io)).toBe(EXIT.ok);
  });
});
