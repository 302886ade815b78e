import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { createInProcessServer, type InProcessServer } from './test-support.js';

const servers: InProcessServer[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

async function app(env: Record<string, string> = {}) {
  const server = await createInProcessServer({
    CAST_API_KEYS: 'acme=sk_test_0123456789abcdef',
    CAST_SIGNING_SECRET: 's'.repeat(32),
    ...env,
  });
  servers.push(server);
  return server.app;
}

describe('CAST_CONSOLE', () => {
  it('routes /console to the console by default', async () => {
    const res = await (await app()).request('/console');
    // The page itself, or (in a tree where the console was never built) the console's own 404 saying how to build it.
    if (res.status === 404) expect(await res.text()).toContain('console is not built');
    else expect(res.headers.get('content-type')).toContain('text/html');
  });

  it('removes /console when off: 404 for the page and its assets, the API unaffected', async () => {
    const off = await app({ CAST_CONSOLE: 'off' });
    for (const path of ['/console', '/console/', '/console/app.js']) {
      const res = await off.request(path);
      expect(res.status, path).toBe(404);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('NOT_FOUND');
      expect(body.error.message).not.toContain('console is not built');
    }
    expect((await off.request('/healthz')).status).toBe(200);
  });

  it('sends / to the console when it is on, and answers a JSON 404 there when it is off', async () => {
    const on = await (await app()).request('/');
    expect(on.status).toBe(302);
    expect(on.headers.get('location')).toBe('/console/');
    const off = await (await app({ CAST_CONSOLE: 'off' })).request('/');
    expect(off.status).toBe(404);
    expect(((await off.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
  });

  it('refuses a value other than on or off with one line', () => {
    expect(() =>
      loadConfig({
        CAST_CONSOLE: 'maybe',
        CAST_API_KEYS: 'a=sk_test_0123456789abcdef',
        CAST_SIGNING_SECRET: 's'.repeat(32),
      }),
    ).toThrow('CAST_CONSOLE must be "on" or "off"');
  });
});

describe('HEAD on stream routes', () => {
  it('answers HEAD /push/stream with the stream headers only and registers no session', async () => {
    const server = await createInProcessServer({
      CAST_API_KEYS: 'acme=sk_test_0123456789abcdef',
      CAST_SIGNING_SECRET: 's'.repeat(32),
    });
    servers.push(server);
    const { token } = await server.deps.tokens.sign({ tenant: 'acme', channels: ['orders'], ttlSeconds: 60 });
    const res = await server.app.request(`/push/stream?token=${token}`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(await res.text()).toBe('');
    expect(server.deps.hub.size).toBe(0);
    const [outcome] = await server.deps.broker.publish('acme', [{ channel: 'orders', event: 'x', data: '1' }]);
    expect(outcome?.delivered).toBe(0);
    // The same checks as a GET: a bad token is still refused.
    expect((await server.app.request('/push/stream?token=nope', { method: 'HEAD' })).status).toBe(401);
  });

  it('answers HEAD /v1/events/subscribe without opening a stream', async () => {
    const server = await createInProcessServer({
      CAST_API_KEYS: 'acme=sk_test_0123456789abcdef',
      CAST_SIGNING_SECRET: 's'.repeat(32),
    });
    servers.push(server);
    const res = await server.app.request('/v1/events/subscribe?apikey=sk_test_0123456789abcdef', { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(server.deps.hub.size).toBe(0);
  });
});
