import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WEBHOOK_EVENT_TYPES } from '@cast/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.js';
import type { LifecycleEvent } from '../lifecycle.js';
import { type RunningServer, startServer } from '../server.js';
import { type Respond, startTestReceiver, type TestReceiver } from './test-receiver.js';

const SECRET = 'k'.repeat(40);
const running: Array<RunningServer | TestReceiver> = [];

afterEach(async () => {
  for (const r of running.splice(0).reverse()) await ('deps' in r ? r.close() : r.stop());
});

async function receiver(respond?: Respond): Promise<TestReceiver> {
  const r = await startTestReceiver(SECRET, respond);
  running.push(r);
  return r;
}

async function server(env: Record<string, string>): Promise<RunningServer> {
  const s = await startServer(
    loadConfig({
      PORT: '0',
      CAST_API_KEYS: 'acme=sk_test_0123456789abcdef',
      CAST_SIGNING_SECRET: 's'.repeat(32),
      CAST_DATA_DIR: mkdtempSync(join(tmpdir(), 'cast-wh-')),
      CAST_WEBHOOK_SECRET: SECRET,
      CAST_WEBHOOK_RETRY_BASE_MS: '50',
      ...env,
    }),
  );
  running.push(s);
  return s;
}

function event(type: LifecycleEvent['type'], channel: string, userId?: string): LifecycleEvent {
  return { type, tenant: 'acme', channel, at: Date.now(), ...(userId ? { userId } : {}) };
}

async function metricsOf(s: RunningServer): Promise<string> {
  return (await fetch(`${s.url}/metrics`)).text();
}

describe('the server with CAST_WEBHOOKS (memory broker)', () => {
  it('delivers every event type once, signed, and counts it in /metrics', async () => {
    const r = await receiver();
    const s = await server({ CAST_WEBHOOKS: `acme=${r.url}` });
    const types = WEBHOOK_EVENT_TYPES;
    types.forEach((type, i) =>
      s.deps.lifecycle?.lifecycle(
        event(type, `order:${i}`, type === 'channel.occupied' || type === 'channel.vacated' ? undefined : 'u1'),
      ),
    );
    await r.until(() => r.acked().length === types.length);
    expect(r.deliveries.every((d) => d.signed)).toBe(true);
    expect(r.acked().map((e) => e.type)).toEqual([...types]);
    expect(r.acked()[2]).toMatchObject({ type: 'presence.join', tenant: 'acme', channel: 'order:2', userId: 'u1' });
    expect(new Set(r.acked().map((e) => e.id)).size).toBe(types.length);
    const text = await metricsOf(s);
    expect(text).toMatch(/^cast_webhook_deliveries_total [1-9]/m);
    expect(text).toContain(`cast_webhook_events_delivered_total ${types.length}`);
    expect(text).toContain('cast_webhook_pending{tenant="acme"} 0');
    expect(text).toContain(`cast_webhook_delivery_latency_seconds_count ${types.length}`);
  });

  it('sends to every URL of a tenant', async () => {
    const a = await receiver();
    const b = await receiver();
    const s = await server({ CAST_WEBHOOKS: `acme=${a.url},acme=${b.url}` });
    s.deps.lifecycle?.lifecycle(event('channel.occupied', 'c'));
    await a.until(() => a.acked().length === 1);
    await b.until(() => b.acked().length === 1);
    expect(a.acked()[0]?.id).toBe(b.acked()[0]?.id);
  });

  it("signs each tenant's events with its own secret and sends them only to its URLs", async () => {
    const other = 'o'.repeat(40);
    const a = await receiver();
    const g = await startTestReceiver(other);
    running.push(g);
    const s = await server({
      CAST_API_KEYS: 'acme=sk_test_0123456789abcdef,globex=sk_test_fedcba9876543210',
      CAST_WEBHOOKS: `acme=${a.url},globex=${g.url}`,
      CAST_WEBHOOK_SECRETS: `globex=${other}`,
    });
    s.deps.lifecycle?.lifecycle(event('channel.occupied', 'a'));
    s.deps.lifecycle?.lifecycle({ type: 'channel.occupied', tenant: 'globex', channel: 'g', at: Date.now() });
    await a.until(() => a.acked().length === 1);
    await g.until(() => g.acked().length === 1);
    expect(a.acked().map((e) => e.tenant)).toEqual(['acme']);
    expect(g.acked().map((e) => e.tenant)).toEqual(['globex']);
    expect(a.deliveries[0]?.signed).toBe(true);
    expect(g.deliveries[0]?.signed).toBe(true);
  });

  it('sends a batch answered 500 again with the same ids, then counts the retry', async () => {
    const r = await receiver((n) => (n === 0 ? 500 : 200));
    const s = await server({ CAST_WEBHOOKS: `acme=${r.url}` });
    for (let i = 0; i < 5; i++) s.deps.lifecycle?.lifecycle(event('channel.occupied', `c${i}`));
    await r.until(() => r.acked().length === 5);
    expect(r.deliveries).toHaveLength(2);
    expect(r.deliveries[1]?.events.map((e) => e.id)).toEqual(r.deliveries[0]?.events.map((e) => e.id));
    const text = await metricsOf(s);
    expect(text).toContain('cast_webhook_failures_total 1');
    expect(text).toContain('cast_webhook_retries_total 1');
  });

  it('delivers everything, in order, to a receiver that was down for a while', async () => {
    const r = await receiver();
    await r.stop();
    const s = await server({ CAST_WEBHOOKS: `acme=${r.url}` });
    for (let i = 0; i < 150; i++)
      s.deps.lifecycle?.lifecycle(event(i % 2 ? 'channel.vacated' : 'channel.occupied', `c${i % 3}`));
    const end = Date.now() + 5000;
    while (!/^cast_webhook_failures_total [1-9]/m.test(await metricsOf(s))) {
      if (Date.now() > end) throw new Error('no failed delivery while the receiver was down');
      await new Promise((done) => setTimeout(done, 50));
    }
    await r.start();
    await r.until(() => r.acked().length === 150);
    expect(r.acked().map((e) => `${e.channel} ${e.type}`)).toEqual(
      Array.from({ length: 150 }, (_, i) => `c${i % 3} ${i % 2 ? 'channel.vacated' : 'channel.occupied'}`),
    );
  });

  it('shuts down promptly with a receiver that never answers', async () => {
    const r = await receiver(() => 'hang');
    const s = await server({ CAST_WEBHOOKS: `acme=${r.url}` });
    s.deps.lifecycle?.lifecycle(event('channel.occupied', 'c'));
    await r.until(() => r.deliveries.length === 1);
    const started = Date.now();
    await s.close();
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('runs no webhook code without CAST_WEBHOOKS', async () => {
    const s = await server({});
    expect(s.deps.lifecycle).toBeUndefined();
    expect(await metricsOf(s)).not.toContain('cast_webhook');
  });
});
