import { afterEach, describe, expect, it } from 'vitest';
import { createInProcessServer, type InProcessServer } from '../test-support.js';

const KEY = 'sk_test_0123456789abcdef';
const servers: InProcessServer[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

function claimsOf(token: string): { exp: number } {
  return JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString('utf8')) as { exp: number };
}

describe('POST /push/tokens', () => {
  it("answers each token's own expiry, also for tokens of other lifetimes issued in the same second", async () => {
    const server = await createInProcessServer({ CAST_API_KEYS: `acme=${KEY}`, CAST_SIGNING_SECRET: 's'.repeat(32) });
    servers.push(server);
    const issue = async (ttlSeconds: number) => {
      const res = await server.app.request('/push/tokens', {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ channels: ['orders'], ttlSeconds }),
      });
      expect(res.status).toBe(200);
      return (await res.json()) as { token: string; expiresAt: string };
    };
    for (const ttl of [60, 60, 120, 60, 3600]) {
      const { token, expiresAt } = await issue(ttl);
      expect(expiresAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      expect(Date.parse(expiresAt) / 1000).toBe(claimsOf(token).exp);
    }
  });
});
