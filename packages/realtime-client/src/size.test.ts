// Size budget of the browser build. The test runs in Node, so it may use node:zlib; the package never does.
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

/**
 * Budgets, bytes of minified + gzipped browser ESM, eventsource-parser and
 * @cast/protocol included. The issue aims at 4 KB and holds `createRealtime`
 * at 4.9 KB. What the client cannot do without weighs ≈2.3 KB on its own:
 * eventsource-parser ≈0.9 KB (pinned to 3.0.6: 3.1 adds ≈540 bytes in this
 * bundle for a buffer limit and a megabyte-line fast path the client does not
 * use), and from the protocol `CastError` with the whole error table (the
 * class takes a code's status from it, and `isCastError` and
 * `errorFromResponse` check codes against it), the pattern, event-id and
 * backoff helpers ≈1.4 KB. The client itself (options, stall detection, token
 * refresh, resume and de-duplication, handlers, the presence view and the
 * terminal `revoked` / `disconnected` events; a presence view is a method of
 * every client, so it cannot be tree-shaken) brings `createRealtime` to 4,914
 * bytes and the whole entry (with the XHR fetch) to 5,500; of these, 7 bytes
 * let the de-duplication keep the `presence.sync` of every channel, which share
 * one position. Sharing one stream
 * among tabs (`@cast/realtime-client/shared`: election, the `BroadcastChannel`
 * relay, per-tab de-duplication) is its own entry, ≈1.7 KB on top of the client
 * it wraps: 6,690 bytes in all, of which ≈285 tell tabs of different grants
 * apart (each tab reads the `chs` claim of its token; a follower skips the
 * channels outside its grant and holds what the leader relays until it knows
 * the leader's grant; a tab whose grant the leader's stream lacks leaves for a
 * stream of its own and says so through `onOwnStream`), and ≈85 keep the
 * `types` filter to the tabs still open (a tab says `bye` when it leaves or its
 * page hides, and `hello` again when the page comes back from the
 * back-forward cache; the leader narrows after a delay; a new leader counts
 * only the tabs that answer it, and widens for one that answers late). Relaying
 * a leader's errors as a spread copy of their fields made room for these.
 * `createRealtime`'s budget is the 4,921 bytes it weighed when the issue asked
 * that it not grow; the others leave ≈1 to 3 % headroom (the shared entry, 10
 * bytes only): a change that adds weight has to say why here.
 */
const BUDGET = { createRealtime: 4_921, wholeEntry: 5_620, shared: 6_700 } as const;

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

  it(`keeps createSharedRealtime (the /shared entry, with the client) under ${BUDGET.shared} bytes gzipped`, async () => {
    const size = await gzippedSize(`export { createSharedRealtime } from './shared/index.ts';`);
    console.info(`@cast/realtime-client/shared createSharedRealtime: ${size} bytes min+gzip (budget ${BUDGET.shared})`);
    expect(size).toBeLessThanOrEqual(BUDGET.shared);
  });

  it('leaves the tab-sharing code out of the main entry', async () => {
    const code = new TextDecoder().decode(await minified(`export * from './index.ts';`));
    expect(code).not.toContain('BroadcastChannel');
    const shared = new TextDecoder().decode(await minified(`export * from './shared/index.ts';`));
    expect(shared).toContain('BroadcastChannel');
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
