import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { cors, corsHeaders } from './cors.js';

function app(origins: string[]) {
  const a = new Hono();
  a.use('*', cors(origins));
  a.get('/push/stream', (c) => c.text('ok'));
  return a;
}

const preflight = (origin: string) => ({
  method: 'OPTIONS',
  headers: {
    origin,
    'access-control-request-method': 'GET',
    'access-control-request-headers': 'authorization, last-event-id',
  },
});

describe('CORS', () => {
  it('never writes into the shared response of a stream answered on the Node response itself', async () => {
    const a = new Hono();
    a.use('*', cors(['*']));
    a.get('/push/stream', () => RESPONSE_ALREADY_SENT);
    await a.request('/push/stream', { headers: { origin: 'https://app.example.com' } });
    expect([...RESPONSE_ALREADY_SENT.headers.keys()]).toEqual(['x-hono-already-sent']);
  });

  it('answers a preflight from an allowed origin with Authorization and Last-Event-ID allowed', async () => {
    const res = await app(['https://app.example.com']).request('/push/stream', preflight('https://app.example.com'));
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(res.headers.get('vary')).toBe('Origin');
    const allowed = (res.headers.get('access-control-allow-headers') ?? '').toLowerCase();
    expect(allowed).toContain('authorization');
    expect(allowed).toContain('last-event-id');
  });

  it('gives a disallowed origin no CORS headers, on preflights and on answers', async () => {
    const a = app(['https://app.example.com']);
    const pre = await a.request('/push/stream', preflight('https://evil.example'));
    expect(pre.headers.get('access-control-allow-origin')).toBeNull();
    expect(pre.headers.get('access-control-allow-headers')).toBeNull();
    const res = await a.request('/push/stream', { headers: { origin: 'https://evil.example' } });
    expect(res.status).toBe(200);
    expect([...res.headers.keys()].filter((k) => k.startsWith('access-control-'))).toEqual([]);
  });

  it('allows any origin with *, and adds nothing to same-origin requests', () => {
    expect(corsHeaders(['*'], 'https://x.example')['Access-Control-Allow-Origin']).toBe('*');
    expect(corsHeaders(['*'], undefined)).toEqual({});
    expect(corsHeaders(['https://a.example'], 'https://a.example.evil')).toEqual({});
  });

  it('passes a request without Origin through untouched, and refuses a preflight without Origin', async () => {
    const a = app(['*']);
    const res = await a.request('/push/stream');
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('ok');
    expect([...res.headers.keys()].filter((k) => k.startsWith('access-control-') || k === 'vary')).toEqual([]);
    const pre = await a.request('/push/stream', {
      method: 'OPTIONS',
      headers: { 'access-control-request-method': 'GET' },
    });
    expect(pre.status).toBe(403);
    const star = await a.request('/push/stream', { headers: { origin: 'https://x.example' } });
    expect(star.headers.get('access-control-allow-origin')).toBe('*');
  });
});
