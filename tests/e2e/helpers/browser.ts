/**
 * The plumbing of the browser tests: a client entry (or inline source) bundled
 * with esbuild into one browser script, and a small static site on a free
 * loopback port that serves it with its page (and a JSON route such as
 * `/token`, as an app's own backend would). Chromium itself is launched by
 * `launchChromium` in `../examples-browser.ts`.
 */
import { type Server, createServer } from 'node:http';
import { extname } from 'node:path';
import { build } from 'esbuild';

/** Inline source for {@link bundleForBrowser}, resolved as if it were a file in `resolveDir`. */
export interface BrowserSource {
  /** The module's text (plain JavaScript). */
  contents: string;
  /** Where its imports are resolved from. */
  resolveDir: string;
}

/** Options of {@link bundleForBrowser}. */
export interface BundleForBrowserOptions {
  /**
   * The output format.
   * @defaultValue `'esm'`
   */
  format?: 'esm' | 'iife';
  /**
   * The language level to lower the output to.
   * @defaultValue esbuild's own (`esnext`)
   */
  target?: string;
  /** Global identifiers replaced at build time, e.g. `{ 'process.env.NODE_ENV': '"development"' }`. */
  define?: Record<string, string>;
  /** Packages swapped for others at every import of the bundle. */
  alias?: Record<string, string>;
}

/**
 * Bundles an entry file (or inline source) with its dependencies into one
 * script for the browser.
 *
 * @param entry - the path of the entry file, or inline source
 * @param options - format, target, defines and aliases
 * @returns the bundled script's text
 * @example
 * ```ts
 * const clientJs = await bundleForBrowser(resolve(here, '../../packages/realtime-client/dist/index.js'));
 * ```
 */
export async function bundleForBrowser(
  entry: string | BrowserSource,
  options: BundleForBrowserOptions = {},
): Promise<string> {
  const bundle = await build({
    ...(typeof entry === 'string' ? { entryPoints: [entry] } : { stdin: { ...entry, loader: 'js' } }),
    bundle: true,
    format: options.format ?? 'esm',
    platform: 'browser',
    ...(options.target ? { target: options.target } : {}),
    ...(options.define ? { define: options.define } : {}),
    ...(options.alias ? { alias: options.alias } : {}),
    write: false,
    logLevel: 'silent',
  });
  return bundle.outputFiles[0]?.text ?? '';
}

/** Options of {@link servePage}. */
export interface ServePageOptions {
  /**
   * Static files by path (`/`, `/app.js`, ...), typed by their extension: `.js` as JavaScript,
   * `.html` or none as HTML.
   */
  files: Record<string, string>;
  /**
   * Routes answered with the JSON of what their handler resolves to (500 when it rejects),
   * e.g. `/token`. The handler gets the request's URL, query included.
   */
  json?: Record<string, (url: URL) => Promise<unknown>>;
}

/** A page's site started by {@link servePage}. */
export interface PageSite {
  /** Base URL, e.g. http://127.0.0.1:41234 (another origin than the Cast server's). */
  url: string;
  /** Stops listening. */
  close(): Promise<void>;
}

const CONTENT_TYPES: Record<string, string> = { '': 'text/html', '.html': 'text/html', '.js': 'text/javascript' };

/**
 * Serves a page, its scripts and its JSON routes on a free loopback port;
 * any other path answers 404.
 *
 * @param options - the files and the JSON routes
 * @returns the site's URL and a way to close it
 * @example
 * ```ts
 * const site = await servePage({
 *   files: { '/': PAGE, '/realtime-client.js': clientJs },
 *   json: { '/token': () => issueToken(cast, { channels: ['orders'] }) },
 * });
 * await page.goto(`${site.url}/?server=${encodeURIComponent(cast.url)}`);
 * await site.close();
 * ```
 */
export async function servePage(options: ServePageOptions): Promise<PageSite> {
  const files = new Map<string, [type: string, body: string]>();
  for (const [path, body] of Object.entries(options.files)) {
    const type = CONTENT_TYPES[extname(path)];
    if (!type) throw new Error(`servePage: no content type for ${path} (serve .js, .html or a path without one)`);
    files.set(path, [type, body]);
  }
  const json = options.json ?? {};
  const site: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const route = json[url.pathname];
    if (route) {
      route(url).then(
        (body) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body)),
        () => res.writeHead(500).end(),
      );
      return;
    }
    const file = files.get(url.pathname);
    if (!file) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': file[0] }).end(file[1]);
  });
  await new Promise<void>((r) => site.listen(0, '127.0.0.1', r));
  const address = site.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise<void>((r) => site.close(() => r())) };
}
