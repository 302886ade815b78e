// Size budget of the browser build. The test runs in Node, so it may use node:zlib; the package never does.
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

/**
 * Budgets, bytes of minified + gzipped browser ESM, eventsource-parser and
 * @cast/protocol included. The issue aims at 4 KB. What the client cannot do
 * without weighs ≈2.6 KB on its own: eventsource-parser ≈1.4 KB, and from the
 * protocol `CastError` with the error table it needs, `isCastError`,
 * `errorFromResponse`, the pattern and event-id helpers ≈1.3 KB. The client
 * itself (options, backoff, stall detection, token refresh, resume and
 * de-duplication, handlers) adds ≈2.3 KB, so `createRealtime` measures
 * 4,921 bytes and the whole entry (with the XHR fetch) 5,505. The budgets
 * are those with ≈3 % headroom: a change that adds weight has to say why here.
 * The backoff moved to the protocol, shared with the SDK and the server, and
 * its `equal` and `none` jitter modes (unused here) add ≈45 bytes.
 */
const BUDGET = { createRealtime: 5_100, wholeEntry: 5_700 } as const;

async function minified(entry: string): Promise<Uint8Array> {
  const result = await build({
    stdin: { contents: entry, resolveDir: new URL('.', import.meta.url).pathname, loader: 'ts' },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  return result.outputFiles[0]?.contents ?? new Uint8Array();
}

async function gzippedSize(entry: string): Promise<number> {
  return gzipSync(await minified(entry), { level: 9 }).length;
}

describe('browser build size', () => {
  it(`keeps createRealtime (with eventsource-parser) under ${BUDGET.createRealtime} bytes gzipped`, async () => {
    const size = await gzippedSize(`export { createRealtime } from './index.ts';`);
    console.info(`@cast/realtime-client createRealtime: ${size} bytes min+gzip (budget ${BUDGET.createRealtime})`);
    expect(size).toBeGreaterThan(1000); // the bundle really holds the client and the parser
    expect(size).toBeLessThanOrEqual(BUDGET.createRealtime);
  });

  it(`keeps the whole entry under ${BUDGET.wholeEntry} bytes gzipped`, async () => {
    const size = await gzippedSize(`export * from './index.ts';`);
    console.info(`@cast/realtime-client whole entry: ${size} bytes min+gzip (budget ${BUDGET.wholeEntry})`);
    expect(size).toBeLessThanOrEqual(BUDGET.wholeEntry);
  });

  it('leaves out the parts of @cast/protocol the client does not use', async () => {
    const code = new TextDecoder().decode(await minified(`export * from './index.ts';`));
    expect(code).toContain('STREAM_INTERRUPTED'); // the error table CastError needs is there
    // DEFAULTS, the token claims and the server's SSE framing are not.
    expect(code).not.toContain('idempotencyWindowSeconds');
    expect(code).not.toContain('cast:stream');
    expect(code).not.toContain('SSE retry must be');
  });

  it('bundles no Node built-in, process or Buffer', async () => {
    const result = await build({
      entryPoints: [new URL('./index.ts', import.meta.url).pathname],
      bundle: true,
      format: 'esm',
      platform: 'neutral',
      mainFields: ['module', 'main'],
      write: false,
      logLevel: 'silent',
    });
    const code = result.outputFiles[0]?.text ?? '';
    expect(code).not.toMatch(/from\s+["']node:|require\(["']node:|\bprocess\.|\bBuffer\b/);
  });
});
