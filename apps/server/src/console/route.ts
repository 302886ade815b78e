import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CastError } from '@cast/protocol';
import { Hono, type Context } from 'hono';

/**
 * Everything the console loads comes from this server: its own script and
 * stylesheet, and its API calls. No inline script or style, no CDN, no frames.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  // Forms are handled by script; without it, nothing (such as the API key) may be submitted anywhere.
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/** Built asset names carry a content hash (`app-3FJ2KQ.js`), so they never change under a URL. */
const HASHED_NAME = /-[A-Z0-9]{8,}\.[a-z]+$/;

/** Options of {@link consoleRoute}. */
export interface ConsoleRouteOptions {
  /**
   * The folder holding the built console (`index.html` and its assets).
   * @defaultValue `dist/console` next to the server bundle
   */
  dir?: string;
}

interface Asset {
  body: Uint8Array<ArrayBuffer>;
  type: string;
  etag: string;
  immutable: boolean;
}

/** The folder of the built console: beside the bundle (`dist/main.js`), or `dist/` seen from `src/console/`. */
function defaultDir(): string | undefined {
  const candidates = [new URL('./console/', import.meta.url), new URL('../../dist/console/', import.meta.url)];
  for (const url of candidates) {
    if (url.protocol !== 'file:') continue;
    const dir = fileURLToPath(url);
    if (existsSync(join(dir, 'index.html'))) return dir;
  }
  return undefined;
}

/** Reads the whole (flat) folder once: the set of servable names is exactly what the build wrote. */
function loadAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const name of readdirSync(dir)) {
    const type = CONTENT_TYPES[extname(name)];
    const path = join(dir, name);
    if (!type || !statSync(path).isFile()) continue;
    const body = new Uint8Array(readFileSync(path));
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
    assets.set(name, { body, type, etag, immutable: name !== 'index.html' && HASHED_NAME.test(name) });
  }
  return assets;
}

function send(c: Context, asset: Asset): Response {
  const headers: Record<string, string> = {
    'Content-Type': asset.type,
    ETag: asset.etag,
    // The page is revalidated on every load so a new build shows at once; its hashed assets never change.
    'Cache-Control': asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
    'Content-Security-Policy': CONSOLE_CSP,
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'X-Frame-Options': 'DENY',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-origin',
  };
  const match = c.req.header('if-none-match');
  if (match && match.split(',').some((tag) => tag.trim().replace(/^W\//, '') === asset.etag)) {
    return new Response(null, { status: 304, headers });
  }
  return new Response(c.req.method === 'HEAD' ? null : asset.body, {
    status: 200,
    headers: { ...headers, 'Content-Length': String(asset.body.byteLength) },
  });
}

/**
 * The developer console at `/console`: serves the static build of
 * `apps/server/console-ui` (written by `scripts/build-console.mjs`) with a strict
 * Content-Security-Policy. The page itself talks only to this server's
 * `/push/*` routes. When the console was not built, `/console` answers a clear
 * 404 instead.
 *
 * @param options - where the built console lives
 * @returns a Hono app to mount at `/console`
 * @example
 * ```ts
 * app.route('/console', consoleRoute())
 * ```
 */
export function consoleRoute(options: ConsoleRouteOptions = {}): Hono {
  const app = new Hono();
  let assets: Map<string, Asset> | undefined;
  const load = (): Map<string, Asset> => {
    if (assets) return assets;
    const dir = options.dir ?? defaultDir();
    if (!dir || !existsSync(join(dir, 'index.html'))) {
      throw new CastError('NOT_FOUND', 'The console is not built: run `pnpm --filter @cast/server build`.');
    }
    assets = loadAssets(dir);
    return assets;
  };

  const page = (c: Context) => send(c, load().get('index.html') as Asset);
  app.get('/', page);
  // A plain `/:name` (names never hold a slash, so nothing outside the folder is reachable) keeps the
  // whole app on Hono's fastest router; a pattern like `/:name{[^/]*}` would switch every route to a slower one.
  app.get('/:name', (c) => {
    const name = c.req.param('name');
    const asset = load().get(name);
    if (!asset) throw new CastError('NOT_FOUND', `No console file ${JSON.stringify(name)}.`);
    return send(c, asset);
  });
  // `/console/` is the page too. `routePath` is the mounted wildcard (`/console/*`), so this matches only the bare slash.
  app.get('*', (c) => {
    if (c.req.path === c.req.routePath.slice(0, -1)) return page(c);
    throw new CastError('NOT_FOUND', `No console file ${JSON.stringify(c.req.path)}.`);
  });
  return app;
}
