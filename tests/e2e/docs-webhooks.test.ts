import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { castSignature, postSigned } from './helpers/webhooks.js';

// The plain Node receiver of the webhooks guide, run in this process.
const SECRET = 'docs-webhook-secret-0123456789abcdef';

describe('docs: the plain Node webhook receiver', () => {
  let server: Server;
  let url: string;
  const logged: string[] = [];

  beforeAll(async () => {
    vi.stubEnv('CAST_WEBHOOK_SECRET', SECRET);
    vi.stubEnv('PORT', '0');
    vi.spyOn(console, 'log').mockImplementation((line: string) => void logged.push(line));
    ({ server } = await import('../../docs/snippets/webhooks/receiver-node.js'));
    if (!server.listening) await new Promise((r) => server.once('listening', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/cast-webhooks`;
  });
  afterAll(() => {
    server?.close();
    vi.unstubAllEnvs();
    vi.restoreAllMocks();
  });

  const event = (id: string) => ({
    id,
    type: 'channel.occupied' as const,
    tenant: 'acme',
    channel: 'order:7',
    at: new Date().toISOString(),
  });

  it('acknowledges a signed batch and handles each event once', async () => {
    expect(await postSigned(url, [event('wh_a'), event('wh_b')], SECRET)).toBe(204);
    expect(await postSigned(url, [event('wh_a')], SECRET)).toBe(204);
    expect(logged.filter((l) => l === 'channel.occupied order:7')).toHaveLength(2);
  });

  it('refuses a wrong secret, a changed body and an old signature', async () => {
    expect(await postSigned(url, [event('wh_c')], 'not-the-secret-0123456789abcdef0123')).toBe(400);
    const signedFor = castSignature(JSON.stringify({ events: [event('wh_d')] }), SECRET);
    expect(await postSigned(url, [event('wh_e')], SECRET, signedFor)).toBe(400);
    const body = JSON.stringify({ events: [event('wh_f')] });
    expect(
      await postSigned(url, [event('wh_f')], SECRET, castSignature(body, SECRET, Math.floor(Date.now() / 1000) - 301)),
    ).toBe(400);
    expect(logged.filter((l) => l.startsWith('channel.occupied'))).toHaveLength(2);
  });
});
