// Size budget of the React bindings' browser build. The test runs in Node, so it may use node:zlib.
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

/**
 * Budgets, bytes of minified + gzipped browser ESM, React itself left out (the
 * app has it). The bindings alone (provider, StrictMode-safe ownership, four
 * hooks) weigh 678 bytes; with the realtime client they wrap (its built
 * `dist`), 5,430. Budgets with ≈3 % headroom, and
 * `@cast/realtime-client/shared` is never pulled in (pass `create` to share).
 */
const BUDGET = { bindings: 700, withClient: 5_570 } as const;

async function minified(external: string[]): Promise<Uint8Array> {
  const result = await build({
    stdin: {
      contents: `export * from './index.ts';`,
      resolveDir: new URL('.', import.meta.url).pathname,
      loader: 'ts',
    },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    external,
    write: false,
    logLevel: 'silent',
  });
  return result.outputFiles[0]?.contents ?? new Uint8Array();
}

describe('@cast/react browser build size', () => {
  it(`keeps the bindings alone under ${BUDGET.bindings} bytes gzipped`, async () => {
    const size = gzipSync(await minified(['react', '@cast/realtime-client']), { level: 9 }).length;
    console.info(`@cast/react bindings: ${size} bytes min+gzip (budget ${BUDGET.bindings})`);
    expect(size).toBeGreaterThan(300);
    expect(size).toBeLessThanOrEqual(BUDGET.bindings);
  });

  it(`keeps the bindings with the client under ${BUDGET.withClient} bytes gzipped, without the sharing code`, async () => {
    const code = await minified(['react']);
    const size = gzipSync(code, { level: 9 }).length;
    console.info(`@cast/react with the client: ${size} bytes min+gzip (budget ${BUDGET.withClient})`);
    expect(size).toBeLessThanOrEqual(BUDGET.withClient);
    expect(new TextDecoder().decode(code)).not.toContain('BroadcastChannel');
  });
});
