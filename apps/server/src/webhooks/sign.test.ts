import { describe, expect, it } from 'vitest';
import { signWebhook } from './sign.js';

describe('signWebhook', () => {
  it('matches the test vector of the webhooks guide', () => {
    const body =
      '{"events":[{"id":"wh_1","type":"channel.occupied","tenant":"acme","channel":"order:abc123","at":"2026-03-01T09:30:00.000Z"}]}';
    expect(signWebhook(body, 'cast-webhook-example-secret-0123456789', 1772357400)).toBe(
      't=1772357400,v1=de8c88be0a6f3f3df8c07dfd9c536b9c7ea743df776a0695eb2c2ef79e2bcd74',
    );
  });

  it('changes with the body, the time and the secret', () => {
    const base = signWebhook('{}', 's'.repeat(32), 1);
    expect(signWebhook('{ }', 's'.repeat(32), 1)).not.toBe(base);
    expect(signWebhook('{}', 's'.repeat(32), 2).split(',')[1]).not.toBe(base.split(',')[1]);
    expect(signWebhook('{}', 't'.repeat(32), 1)).not.toBe(base);
  });
});
