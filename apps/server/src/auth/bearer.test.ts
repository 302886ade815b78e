import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { requestOf } from '../request.js';
import { readBearer } from './bearer.js';

const app = new Hono().get('/', (c) => c.text(readBearer(requestOf(c)) ?? '(none)'));

async function read(authorization?: string): Promise<string> {
  const res = await app.request('/', authorization === undefined ? {} : { headers: { authorization } });
  return res.text();
}

describe('readBearer', () => {
  it('reads the credential of a Bearer header, the scheme in any case', async () => {
    expect(await read('Bearer sk_live_1')).toBe('sk_live_1');
    expect(await read('bearer   tok.en-1  ')).toBe('tok.en-1');
    expect(await read('BEARER abc')).toBe('abc');
  });

  it('reads nothing from an absent, empty, other-scheme or two-part header', async () => {
    expect(await read()).toBe('(none)');
    expect(await read('Bearer ')).toBe('(none)');
    expect(await read('Basic dXNlcjpwYXNz')).toBe('(none)');
    expect(await read('Bearer a b')).toBe('(none)');
    expect(await read('sk_live_1')).toBe('(none)');
  });
});
