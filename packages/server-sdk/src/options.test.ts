import { CastError } from '@cast/protocol';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CastServer } from './cast-server.js';
import { resolveOptions } from './options.js';

afterEach(() => {
  vi.unstubAllEnvs();
});

function constructionError(build: () => unknown): CastError {
  try {
    build();
  } catch (error) {
    if (error instanceof CastError) return error;
    throw error;
  }
  throw new Error('expected the constructor to throw');
}

describe('CastServer options', () => {
  it('reads the API key and URL from CAST_API_KEY and CAST_URL', () => {
    vi.stubEnv('CAST_API_KEY', 'sk_env');
    vi.stubEnv('CAST_URL', 'http://localhost:8080/');
    const resolved = resolveOptions({});
    expect(resolved.apiKey).toBe('sk_env');
    expect(resolved.baseUrl).toBe('http://localhost:8080');
  });

  it('prefers the options over the environment', () => {
    vi.stubEnv('CAST_API_KEY', 'sk_env');
    vi.stubEnv('CAST_URL', 'http://env.test');
    const resolved = resolveOptions({ apiKey: 'sk_given', baseUrl: 'https://given.test/cast/' });
    expect(resolved).toMatchObject({ apiKey: 'sk_given', baseUrl: 'https://given.test/cast' });
  });

  it('throws INVALID_OPTIONS at construction without an API key or URL', () => {
    vi.stubEnv('CAST_API_KEY', '');
    vi.stubEnv('CAST_URL', '');
    expect(constructionError(() => new CastServer({ baseUrl: 'http://x.test' }))).toMatchObject({
      code: 'INVALID_OPTIONS',
      message: expect.stringContaining('CAST_API_KEY'),
    });
    expect(constructionError(() => new CastServer({ apiKey: 'k' }))).toMatchObject({
      code: 'INVALID_OPTIONS',
      message: expect.stringContaining('CAST_URL'),
    });
  });

  it.each([
    [{ baseUrl: 'not a url' }],
    [{ baseUrl: 'ftp://x.test' }],
    [{ baseUrl: 'http://x.test/?a=1' }],
    [{ retries: -1 }],
    [{ retries: 1.5 }],
    [{ timeoutMs: 0 }],
    [{ timeoutMs: Number.NaN }],
  ])('throws INVALID_OPTIONS for %j', (bad) => {
    expect(constructionError(() => new CastServer({ apiKey: 'k', baseUrl: 'http://x.test', ...bad })).code).toBe(
      'INVALID_OPTIONS',
    );
  });

  it('works where there is no process at all', () => {
    const saved = globalThis.process;
    try {
      // Browsers and Workers without Node compatibility have no `process`.
      Reflect.deleteProperty(globalThis, 'process');
      expect(resolveOptions({ apiKey: 'k', baseUrl: 'http://x.test' }).apiKey).toBe('k');
      expect(() => resolveOptions({})).toThrow(CastError);
    } finally {
      globalThis.process = saved;
    }
  });
});
