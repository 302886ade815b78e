import { createHmac } from 'node:crypto';
import type { WebhookEvent } from '@cast/protocol';
import { describe, expect, it, vi } from 'vitest';
import { signWebhook, verifyWebhook } from './webhook.js';
import { createWebhookHandler } from './webhook-handler.js';

const secret = 'whsec_0123456789abcdef0123456789abcdef';
const otherSecret = 'whsec_fedcba9876543210fedcba9876543210';
const t = 1_900_000_000;
const now = t * 1000;

const events: WebhookEvent[] = [
  { id: 'wh_1', type: 'channel.occupied', tenant: 'acme', channel: 'order:1', at: '2030-03-17T17:46:40.000Z' },
  {
    id: 'wh_2',
    type: 'presence.join',
    tenant: 'acme',
    channel: 'order:1',
    userId: 'Zoë',
    at: '2030-03-17T17:46:40.100Z',
  },
];
const body = JSON.stringify({ events });

/** The scheme spelled out with node:crypto, independently of the code under test. */
function reference(key: string, timestamp: number, raw: string): string {
  return createHmac('sha256', key).update(`${timestamp}.${raw}`).digest('hex');
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

describe('signWebhook', () => {
  it('signs "t.body" with HMAC-SHA256 as hex, as the scheme says', async () => {
    const header = await signWebhook(body, secret, { timestamp: t });
    expect(header).toBe(`t=${t},v1=${reference(secret, t, body)}`);
  });

  it('gives one v1 per secret, for a rotation', async () => {
    const header = await signWebhook(body, [secret, otherSecret], { timestamp: t });
    expect(header).toBe(`t=${t},v1=${reference(secret, t, body)},v1=${reference(otherSecret, t, body)}`);
  });
});

describe('verifyWebhook', () => {
  it('agrees with the test vector of the webhooks guide', async () => {
    const vectorBody =
      '{"events":[{"id":"wh_1","type":"channel.occupied","tenant":"acme","channel":"order:abc123","at":"2026-03-01T09:30:00.000Z"}]}';
    const header = 't=1772357400,v1=de8c88be0a6f3f3df8c07dfd9c536b9c7ea743df776a0695eb2c2ef79e2bcd74';
    const vectorSecret = 'cast-webhook-example-secret-0123456789';
    expect(await signWebhook(vectorBody, vectorSecret, { timestamp: 1772357400 })).toBe(header);
    const verified = await verifyWebhook(vectorBody, header, vectorSecret, { now: 1772357400_000 });
    expect(verified.map((e) => e.channel)).toEqual(['order:abc123']);
  });

  it('returns the events of a validly signed body', async () => {
    const header = `t=${t},v1=${reference(secret, t, body)}`;
    await expect(verifyWebhook(body, header, secret, { now })).resolves.toEqual(events);
  });

  it('verifies the raw bytes as well as the text (non-ASCII included)', async () => {
    const header = await signWebhook(body, secret, { timestamp: t });
    const bytes = new TextEncoder().encode(body);
    await expect(verifyWebhook(bytes, header, secret, { now })).resolves.toEqual(events);
    await expect(verifyWebhook(bytes.buffer, header, secret, { now })).resolves.toEqual(events);
  });

  it('refuses a tampered body with INVALID_SIGNATURE', async () => {
    const header = await signWebhook(body, secret, { timestamp: t });
    const tampered = body.replace('order:1', 'order:2');
    await expect(verifyWebhook(tampered, header, secret, { now })).rejects.toMatchObject({
      code: 'INVALID_SIGNATURE',
      status: 401,
    });
  });

  it('refuses a body re-serialized with other whitespace (verify the raw body)', async () => {
    const header = await signWebhook(body, secret, { timestamp: t });
    await expect(verifyWebhook(JSON.stringify({ events }, null, 2), header, secret, { now })).rejects.toMatchObject({
      code: 'INVALID_SIGNATURE',
    });
  });

  it('refuses a signature made with another secret', async () => {
    const header = await signWebhook(body, otherSecret, { timestamp: t });
    await expect(verifyWebhook(body, header, secret, { now })).rejects.toMatchObject({ code: 'INVALID_SIGNATURE' });
  });

  it('refuses a timestamp changed after signing (it is part of the signed text)', async () => {
    const header = (await signWebhook(body, secret, { timestamp: t })).replace(`t=${t}`, `t=${t + 1}`);
    await expect(verifyWebhook(body, header, secret, { now })).rejects.toMatchObject({ code: 'INVALID_SIGNATURE' });
  });

  it('refuses a delivery signed longer ago than the tolerance with WEBHOOK_TOO_OLD, and accepts one at the limit', async () => {
    const header = await signWebhook(body, secret, { timestamp: t });
    await expect(verifyWebhook(body, header, secret, { now: now + 300_000 })).resolves.toHaveLength(2);
    const error = await failure(verifyWebhook(body, header, secret, { now: now + 301_000 }));
    expect(error).toMatchObject({ code: 'WEBHOOK_TOO_OLD', status: 401 });
    expect((error as Error).message).toMatch(/301 s ago/);
  });

  it('honours toleranceSeconds, and refuses a time too far in the future as well', async () => {
    const header = await signWebhook(body, secret, { timestamp: t });
    await expect(
      verifyWebhook(body, header, secret, { now: now + 60_000, toleranceSeconds: 30 }),
    ).rejects.toMatchObject({
      code: 'WEBHOOK_TOO_OLD',
    });
    await expect(verifyWebhook(body, header, secret, { now: now - 400_000 })).rejects.toMatchObject({
      code: 'WEBHOOK_TOO_OLD',
    });
    await expect(
      verifyWebhook(body, header, secret, { now: now + 86_400_000, toleranceSeconds: Number.POSITIVE_INFINITY }),
    ).resolves.toHaveLength(2);
  });

  it('checks the signature before the age: an old forged delivery is INVALID_SIGNATURE', async () => {
    const header = await signWebhook(body, otherSecret, { timestamp: t });
    await expect(verifyWebhook(body, header, secret, { now: now + 3_600_000 })).rejects.toMatchObject({
      code: 'INVALID_SIGNATURE',
    });
  });

  it.each([
    [undefined, /no Cast-Signature header/],
    [null, /no Cast-Signature header/],
    ['', /no Cast-Signature header/],
    ['garbage', /malformed/],
    [`v1=${'a'.repeat(64)}`, /no t= timestamp/],
    [`t=${t}`, /no v1= signature/],
    [`t=${t},v0=${'a'.repeat(64)}`, /no v1= signature/],
    [`t=soon,v1=${'a'.repeat(64)}`, /malformed/],
    [`t=${t},t=${t},v1=${'a'.repeat(64)}`, /malformed/],
    [`t=${t},v1=xyz`, /64 hex digits/],
    [`t=${t},${Array.from({ length: 9 }, () => `v1=${'a'.repeat(64)}`).join(',')}`, /more than 8/],
  ])('refuses the header %j with INVALID_SIGNATURE', async (header, message) => {
    const error = await failure(verifyWebhook(body, header, secret, { now }));
    expect(error).toMatchObject({ code: 'INVALID_SIGNATURE' });
    expect((error as Error).message).toMatch(message);
  });

  it('accepts a header with several v1 when any one matches, whatever its position, and ignores other schemes', async () => {
    const good = reference(secret, t, body);
    const stale = reference(otherSecret, t, body);
    for (const header of [
      `t=${t},v1=${stale},v1=${good}`,
      `t=${t},v1=${good},v1=${stale}`,
      ` t=${t} , v0=zz , v1=${good.toUpperCase()} `,
    ]) {
      await expect(verifyWebhook(body, header, secret, { now })).resolves.toHaveLength(2);
    }
  });

  it('takes several secrets during a rotation: a delivery signed with either verifies', async () => {
    for (const key of [secret, otherSecret]) {
      const header = await signWebhook(body, key, { timestamp: t });
      await expect(verifyWebhook(body, header, [otherSecret, secret], { now })).resolves.toHaveLength(2);
    }
  });

  it('refuses a validly signed body that is not a Cast delivery with BAD_REQUEST', async () => {
    for (const raw of ['not json', '{"events":{}}', '{"events":[{"id":1}]}', 'null']) {
      const header = await signWebhook(raw, secret, { timestamp: t });
      await expect(verifyWebhook(raw, header, secret, { now })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    }
  });

  it.each([[''], [[] as string[]], [['ok', '']]])('refuses the secret %j with INVALID_OPTIONS', async (bad) => {
    await expect(verifyWebhook(body, `t=${t},v1=${'a'.repeat(64)}`, bad, { now })).rejects.toMatchObject({
      code: 'INVALID_OPTIONS',
    });
  });

  it.each([[0], [-5], [Number.NaN]])('refuses toleranceSeconds %s with INVALID_OPTIONS', async (toleranceSeconds) => {
    const header = await signWebhook(body, secret, { timestamp: t });
    await expect(verifyWebhook(body, header, secret, { now, toleranceSeconds })).rejects.toMatchObject({
      code: 'INVALID_OPTIONS',
    });
  });
});

describe('createWebhookHandler', () => {
  const post = (raw: string, signature?: string): Request =>
    new Request('http://app.test/webhooks/cast', {
      method: 'POST',
      body: raw,
      headers: signature === undefined ? {} : { 'cast-signature': signature },
    });

  it('hands verified events to onEvents and answers 200 { received }', async () => {
    const onEvents = vi.fn();
    const handler = createWebhookHandler({ secret, onEvents });
    const res = await handler(post(body, await signWebhook(body, secret)));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ received: 2 });
    expect(onEvents).toHaveBeenCalledTimes(1);
    expect(onEvents.mock.calls[0]?.[0]).toEqual(events);
  });

  it('answers 401 with the error body to a bad or missing signature, without calling onEvents', async () => {
    const onEvents = vi.fn();
    const handler = createWebhookHandler({ secret, onEvents });
    const forged = await handler(post(body, await signWebhook(body, otherSecret)));
    expect(forged.status).toBe(401);
    expect(await forged.json()).toMatchObject({ error: { code: 'INVALID_SIGNATURE' } });
    const unsigned = await handler(post(body));
    expect(unsigned.status).toBe(401);
    expect(onEvents).not.toHaveBeenCalled();
  });

  it('answers 401 WEBHOOK_TOO_OLD to a replay of an old delivery', async () => {
    const handler = createWebhookHandler({ secret, onEvents: vi.fn(), toleranceSeconds: 60 });
    const old = await signWebhook(body, secret, { timestamp: Math.floor(Date.now() / 1000) - 120 });
    const res = await handler(post(body, old));
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: { code: 'WEBHOOK_TOO_OLD' } });
  });

  it('answers 500 when onEvents throws, so that Cast delivers again, and tells onError', async () => {
    const onError = vi.fn();
    const handler = createWebhookHandler({
      secret,
      onEvents: () => {
        throw new Error('database down');
      },
      onError,
    });
    const res = await handler(post(body, await signWebhook(body, secret)));
    expect(res.status).toBe(500);
    expect(JSON.stringify(await res.json())).not.toMatch(/database down/);
    expect(onError).toHaveBeenCalledWith(expect.objectContaining({ message: 'database down' }));
  });

  it('answers 405 to anything but POST', async () => {
    const handler = createWebhookHandler({ secret, onEvents: vi.fn() });
    const res = await handler(new Request('http://app.test/webhooks/cast'));
    expect(res.status).toBe(405);
  });

  it('refuses bad options at construction', () => {
    expect(() => createWebhookHandler({ secret: '', onEvents: vi.fn() })).toThrow(/secret/);
    expect(() => createWebhookHandler({ secret, onEvents: undefined as never })).toThrow(/onEvents/);
    expect(() => createWebhookHandler({ secret, onEvents: vi.fn(), toleranceSeconds: 0 })).toThrow(/toleranceSeconds/);
  });
});
