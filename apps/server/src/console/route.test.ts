import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CastError } from '@cast/protocol';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { errorResponse } from '../errors.js';
import { CONSOLE_CSP, consoleRoute } from './route.js';

function appFor(dir: string): Hono {
  const app = new Hono();
  app.route('/console', consoleRoute({ dir }));
  app.onError((err, c) => errorResponse(c, err));
  app.notFound((c) => errorResponse(c, new CastError('NOT_FOUND', 'No route.')));
  return app;
}

function builtConsole(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cast-console-'));
  writeFileSync(
    join(dir, 'index.html'),
    '<!doctype html><script type="module" src="/console/app-ABCD1234.js"></script>',
  );
  writeFileSync(join(dir, 'app-ABCD1234.js'), 'console.log(1)');
  writeFileSync(join(dir, 'app-ABCD1234.css'), 'body{}');
  writeFileSync(join(dir, 'notes.txt'), 'not served');
  return dir;
}

describe('consoleRoute', () => {
  const app = appFor(builtConsole());

  it('serves the page at /console and /console/ with a strict CSP and no caching', async () => {
    for (const path of ['/console', '/console/', '/console/index.html']) {
      const res = await app.request(path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(res.headers.get('cache-control')).toBe('no-cache');
      expect(res.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(await res.text()).toContain('app-ABCD1234.js');
    }
  });

  it('allows only same-origin scripts, styles and requests', () => {
    expect(CONSOLE_CSP).toContain("default-src 'none'");
    expect(CONSOLE_CSP).toContain("script-src 'self'");
    expect(CONSOLE_CSP).toContain("connect-src 'self'");
    expect(CONSOLE_CSP).not.toContain('unsafe-inline');
    expect(CONSOLE_CSP).not.toContain('http');
  });

  it('serves hashed assets with their type and an immutable cache', async () => {
    const js = await app.request('/console/app-ABCD1234.js');
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(await js.text()).toBe('console.log(1)');
    const css = await app.request('/console/app-ABCD1234.css');
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
  });

  it('answers 304 to a matching If-None-Match', async () => {
    const first = await app.request('/console/');
    const etag = first.headers.get('etag');
    expect(etag).toMatch(/^".+"$/);
    const again = await app.request('/console/', { headers: { 'if-none-match': etag as string } });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
  });

  it('answers 404 JSON for unknown files, other types and paths outside the folder', async () => {
    for (const path of ['/console/nope.js', '/console/notes.txt', '/console/..%2Fpackage.json', '/console/a/b.js']) {
      const res = await app.request(path);
      expect(res.status, path).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
    }
  });

  it('says how to build the console when it is missing', async () => {
    const res = await appFor(mkdtempSync(join(tmpdir(), 'cast-empty-'))).request('/console');
    expect(res.status).toBe(404);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.message).toContain('pnpm --filter @cast/server build');
  });
});
