import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { signWebhook } from '../webhook.js';
import { EXIT, main, USAGE } from './main.js';
import { bodyOf, fakeIo } from './test-io.js';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

const io = fakeIo;

describe('cast --version and --help', () => {
  it('prints the package version', async () => {
    const t = io();
    expect(await main(['--version'], t.io)).toBe(EXIT.ok);
    expect(t.out).toEqual([version]);
    expect(version).toMatch(/^\d+\.\d+\.\d+/);
  });

  it.each(['token', 'publish', 'listen', 'presence', 'channels', 'revoke', 'disconnect', 'webhooks'])(
    'cast %s --help prints that command’s usage, exit 0, with no request',
    async (command) => {
      for (const argv of [
        [command, '--help'],
        [command, '-h'],
        ['help', command],
      ]) {
        const t = io();
        expect(await main(argv, t.io)).toBe(EXIT.ok);
        expect(t.out).toHaveLength(1);
        expect(t.out[0]).toMatch(new RegExp(`^Usage: cast ${command}\\b`));
        expect(t.out[0]).not.toBe(USAGE);
        expect(t.requests).toHaveLength(0);
      }
    },
  );

  it('lists the new commands and --version in the top-level usage', async () => {
    const t = io();
    await main(['--help'], t.io);
    for (const words of [
      'cast presence',
      'cast channels',
      'cast revoke',
      'cast disconnect',
      'cast webhooks listen',
      '--version',
    ]) {
      expect(t.out[0]).toContain(words);
    }
  });
});

describe('cast token with presence', () => {
  it('sends presence and userInfo with --presence and --user-info', async () => {
    const t = io(() =>
      Response.json({ token: 'jwt', expiresAt: '2030-01-01T00:00:00.000Z', channels: ['room:1'], tokenId: 'tok_1' }),
    );
    expect(
      await main(
        ['token', '--channels', 'room:1', '--user', 'u1', '--presence', '--user-info', '{"name":"Ada"}'],
        t.io,
      ),
    ).toBe(EXIT.ok);
    expect(bodyOf(t.requests[0]?.init)).toEqual({
      channels: ['room:1'],
      userId: 'u1',
      presence: true,
      userInfo: { name: 'Ada' },
    });
    expect(t.out).toEqual(['jwt']);
  });

  it.each([
    [['--user-info', '{name}'], 'not valid JSON'],
    [['--user-info', '["Ada"]'], 'must be a JSON object'],
  ])('token %j is a usage error (exit 2) with no request', async (flags, words) => {
    const t = io();
    expect(await main(['token', '--channels', 'room:1', ...flags], t.io)).toBe(EXIT.usage);
    expect(t.err[0]).toContain(words);
    expect(t.requests).toHaveLength(0);
  });
});

describe('cast presence', () => {
  const answer = {
    channel: 'room:1',
    members: [
      { userId: 'u1', userInfo: { name: 'Ada' }, connections: 2 },
      { userId: 'u2', userInfo: null, connections: 1 },
    ],
    connections: 4,
  };

  it('asks GET /push/presence and prints one line per member', async () => {
    const t = io(() => Response.json(answer));
    expect(await main(['presence', 'room:1'], t.io)).toBe(EXIT.ok);
    expect(t.requests[0]?.url.pathname).toBe('/push/presence');
    expect(t.requests[0]?.url.searchParams.get('channel')).toBe('room:1');
    expect(t.out).toEqual([
      'room:1: 2 members, 4 connections',
      '  u1  2 connections  {"name":"Ada"}',
      '  u2  1 connection',
    ]);
  });

  it('prints the answer as JSON with --json, with --key and --url before the command', async () => {
    const t = io(() => Response.json(answer));
    expect(await main(['--key', 'sk_flag', '--url', 'http://flag.test', 'presence', 'room:1', '--json'], t.io)).toBe(
      EXIT.ok,
    );
    expect(JSON.parse(t.out[0] ?? '')).toEqual(answer);
    expect(t.requests[0]?.url.origin).toBe('http://flag.test');
    expect(new Headers(t.requests[0]?.init?.headers).get('authorization')).toBe('Bearer sk_flag');
  });

  it('reports a server error with its code, exit 1', async () => {
    const t = io(() => Response.json({ error: { code: 'UNAVAILABLE', message: 'Redis is down.' } }, { status: 503 }), {
      env: { CAST_API_KEY: 'k', CAST_URL: 'http://cast.test' },
    });
    // The SDK retries 503; the third answer is the same.
    expect(await main(['presence', 'room:1'], t.io)).toBe(EXIT.failed);
    expect(t.err.at(-1)).toBe('cast: Redis is down. (UNAVAILABLE)');
  });
});

describe('cast channels', () => {
  it('walks every page with the prefix and prints one line per channel', async () => {
    const pages: Record<string, unknown> = {
      '': { channels: [{ channel: 'order:1', connections: 3, users: 2 }], cursor: 'c1' },
      c1: { channels: [{ channel: 'order:2', connections: 1, users: 1 }], cursor: null },
    };
    const t = io((url) => Response.json(pages[url.searchParams.get('cursor') ?? '']));
    expect(await main(['channels', '--prefix', 'order:'], t.io)).toBe(EXIT.ok);
    expect(t.requests.map((r) => r.url.searchParams.get('prefix'))).toEqual(['order:', 'order:']);
    expect(t.out).toEqual(['order:1  3 connections, 2 users', 'order:2  1 connection, 1 user']);
  });

  it('prints one JSON object per channel with --json, and nothing for no channels', async () => {
    const t = io(() => Response.json({ channels: [{ channel: 'a', connections: 1, users: 0 }], cursor: null }));
    expect(await main(['channels', '--json'], t.io)).toBe(EXIT.ok);
    expect(t.out.map((line) => JSON.parse(line) as unknown)).toEqual([{ channel: 'a', connections: 1, users: 0 }]);
    const empty = io(() => Response.json({ channels: [], cursor: null }));
    expect(await main(['channels'], empty.io)).toBe(EXIT.ok);
    expect(empty.out).toEqual([]);
  });
});

describe('cast revoke', () => {
  it.each([
    [['--user', 'u1'], { userId: 'u1' }],
    [['--token', 'tok_1'], { tokenId: 'tok_1' }],
    [['--issued-before', '2030-01-01T00:00:00Z'], { issuedBefore: '2030-01-01T00:00:00.000Z' }],
    [
      ['--issued-before', '2030-01-01T00:00:00Z', '--user', 'u1'],
      { issuedBefore: '2030-01-01T00:00:00.000Z', userId: 'u1' },
    ],
  ])('revoke %j posts %j', async (flags, body) => {
    const t = io(() => Response.json({ revoked: 3 }));
    expect(await main(['revoke', ...flags], t.io)).toBe(EXIT.ok);
    expect(t.requests[0]?.url.pathname).toBe('/push/revoke');
    expect(bodyOf(t.requests[0]?.init)).toEqual(body);
    expect(t.out).toEqual(['revoked: closed 3 streams']);
  });

  it.each([
    [[], 'needs --user'],
    [['--user', 'u1', '--token', 't'], 'not both'],
    [['--token', 't', '--issued-before', '2030-01-01T00:00:00Z'], 'not both'],
    [['--issued-before', 'yesterday'], 'ISO 8601'],
    [['extra', '--user', 'u1'], 'no arguments'],
    [['--session', 's'], 'session'],
  ])('revoke %j is a usage error (exit 2) with no request', async (flags, words) => {
    const t = io();
    expect(await main(['revoke', ...flags], t.io)).toBe(EXIT.usage);
    expect(t.err[0]).toContain(words);
    expect(t.requests).toHaveLength(0);
  });
});

describe('cast disconnect', () => {
  it.each([
    [
      ['--user', 'u1'],
      { userId: 'u1', reconnect: false },
      'disconnected 2 streams (the clients were told not to reconnect)',
    ],
    [
      ['--user', 'u1', '--reconnect'],
      { userId: 'u1', reconnect: true },
      'disconnected 2 streams (the clients will reconnect)',
    ],
    [
      ['--session', 's1', '--channel', 'orders', '--no-reconnect'],
      { sessionId: 's1', channel: 'orders', reconnect: false },
      'disconnected 2 streams (the clients were told not to reconnect)',
    ],
  ])('disconnect %j posts %j', async (flags, body, line) => {
    const t = io(() => Response.json({ disconnected: 2 }));
    expect(await main(['disconnect', ...flags], t.io)).toBe(EXIT.ok);
    expect(t.requests[0]?.url.pathname).toBe('/push/disconnect');
    expect(bodyOf(t.requests[0]?.init)).toEqual(body);
    expect(t.out).toEqual([line]);
  });

  it('prints { disconnected } with --json', async () => {
    const t = io(() => Response.json({ disconnected: 1 }));
    expect(await main(['disconnect', '--user', 'u1', '--json'], t.io)).toBe(EXIT.ok);
    expect(JSON.parse(t.out[0] ?? '')).toEqual({ disconnected: 1 });
  });

  it.each([
    [[], 'needs one of'],
    [['--user', 'u1', '--session', 's1'], 'needs one of'],
    [['--user', 'u1', '--reconnect', '--no-reconnect'], 'not both'],
    [['--user', 'u1', '--reconnect=yes'], 'reconnect'],
  ])('disconnect %j is a usage error (exit 2) with no request', async (flags, words) => {
    const t = io();
    expect(await main(['disconnect', ...flags], t.io)).toBe(EXIT.usage);
    expect(t.err[0]).toContain(words);
    expect(t.requests).toHaveLength(0);
  });
});

describe('cast webhooks listen', () => {
  const secret = 'whsec_cli_test_0123456789abcdef0123';
  const delivery = JSON.stringify({
    events: [
      {
        id: 'wh_1',
        type: 'presence.join',
        tenant: 'acme',
        channel: 'room:1',
        userId: 'u1',
        at: '2030-01-01T00:00:00.000Z',
      },
      { id: 'wh_2', type: 'channel.vacated', tenant: 'acme', channel: 'room:2', at: '2030-01-01T00:00:01.000Z' },
    ],
  });

  /** Starts the receiver on a free port; resolves once it printed its address. */
  async function start(flags: string[], env: Record<string, string> = {}) {
    const stop = new AbortController();
    let announce: (url: string) => void = () => {};
    const ready = new Promise<string>((resolve) => {
      announce = resolve;
    });
    const t = io(undefined, {
      env,
      signal: stop.signal,
      stderr: (line) => {
        t.err.push(line);
        const match = /receiving webhooks on (http:\/\/\S+)/.exec(line);
        if (match) announce(match[1] as string);
      },
    });
    const exit = main(['webhooks', 'listen', '--port', '0', ...flags], t.io);
    const url = await Promise.race([
      ready,
      exit.then((code) => Promise.reject(new Error(`exited ${code}: ${t.err.join('\n')}`))),
    ]);
    return { t, url, exit, stop };
  }

  it('prints the events of a signed delivery and answers 200; answers 401 to a forged one and prints nothing', async () => {
    const { t, url, exit, stop } = await start(['--secret', secret]);
    try {
      const ok = await fetch(`${url}webhooks`, {
        method: 'POST',
        body: delivery,
        headers: { 'content-type': 'application/json', 'cast-signature': await signWebhook(delivery, secret) },
      });
      expect(ok.status).toBe(200);
      expect(await ok.json()).toEqual({ received: 2 });
      expect(t.out).toEqual([
        '2030-01-01T00:00:00.000Z presence.join room:1 user u1 (wh_1)',
        '2030-01-01T00:00:01.000Z channel.vacated room:2 (wh_2)',
      ]);

      const forged = await fetch(url, {
        method: 'POST',
        body: delivery,
        headers: { 'cast-signature': await signWebhook(delivery, 'another-secret-entirely-0123456789') },
      });
      expect(forged.status).toBe(401);
      expect(await forged.json()).toMatchObject({ error: { code: 'INVALID_SIGNATURE' } });
      expect(t.out).toHaveLength(2);
      expect(t.err.at(-1)).toMatch(/refused a delivery: .* \(INVALID_SIGNATURE\)/);
    } finally {
      stop.abort();
    }
    expect(await exit).toBe(EXIT.ok);
  });

  it('reads the secret from CAST_WEBHOOK_SECRET and prints JSON lines with --json', async () => {
    const { t, url, exit, stop } = await start(['--json'], { CAST_WEBHOOK_SECRET: secret });
    try {
      const res = await fetch(url, {
        method: 'POST',
        body: delivery,
        headers: { 'cast-signature': await signWebhook(delivery, secret) },
      });
      expect(res.status).toBe(200);
      expect(t.out.map((line) => JSON.parse(line) as { id: string }).map((e) => e.id)).toEqual(['wh_1', 'wh_2']);
    } finally {
      stop.abort();
    }
    expect(await exit).toBe(EXIT.ok);
  });

  it('answers 405 to a GET and 413 to a body far larger than a delivery, printing nothing', async () => {
    const { t, url, exit, stop } = await start(['--secret', secret]);
    try {
      expect((await fetch(url)).status).toBe(405);
      const huge = await fetch(url, { method: 'POST', body: 'x'.repeat(2 * 1024 * 1024) });
      expect(huge.status).toBe(413);
      expect(t.out).toEqual([]);
    } finally {
      stop.abort();
    }
    expect(await exit).toBe(EXIT.ok);
  });

  it('fails with exit 1 and one line when the port is taken', async () => {
    const first = await start(['--secret', secret]);
    try {
      const port = new URL(first.url).port;
      const t = io(undefined, { env: {} });
      expect(await main(['webhooks', 'listen', '--port', port, '--secret', secret], t.io)).toBe(EXIT.failed);
      expect(t.err).toHaveLength(1);
      expect(t.err[0]).toMatch(/EADDRINUSE/);
    } finally {
      first.stop.abort();
    }
    await first.exit;
  });

  it.each([
    [['webhooks', 'listen'], 'no webhook secret'],
    [['webhooks'], 'subcommand'],
    [['webhooks', 'serve', '--secret', 's'], 'unknown webhooks subcommand'],
    [['webhooks', 'listen', '--secret', 's', '--port', 'http'], '--port'],
    [['webhooks', 'listen', '--secret', 's', '--tolerance', '0'], '--tolerance'],
  ])('%j is a usage error (exit 2)', async (argv, words) => {
    const t = io(undefined, { env: {} });
    expect(await main(argv, t.io)).toBe(EXIT.usage);
    expect(t.err[0]).toContain(words);
  });
});
