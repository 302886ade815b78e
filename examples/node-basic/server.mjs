// A minimal backend for Cast: no framework and no server SDK, only node:http and fetch.
// It serves one page (which subscribes with @cast/realtime-client, loaded through an import map,
// no bundler), issues that page a stream token, and publishes test orders.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';

const CAST_URL = (process.env.CAST_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
const CAST_API_KEY = process.env.CAST_API_KEY ?? developmentKey();
const PORT = Number(process.env.PORT ?? 3000);
const HOST = process.env.HOST ?? '127.0.0.1';
// The page learns the Cast server's address from its <html data-cast-url> attribute.
const page = readFileSync(new URL('./public/index.html', import.meta.url), 'utf8').replace(
  '<html lang="en">',
  `<html lang="en" data-cast-url="${CAST_URL.replace(/&/g, '&amp;').replace(/"/g, '&quot;')}">`,
);

/** The ES module entry of an installed package, resolved from `from` (a file path). */
function esmEntry(name, from) {
  const manifestPath = createRequire(from).resolve(`${name}/package.json`);
  const main = JSON.parse(readFileSync(manifestPath, 'utf8')).exports['.'];
  const file = typeof main.import === 'string' ? main.import : (main.import.default ?? main.default);
  return join(dirname(manifestPath), file);
}

/**
 * The files a module imports by relative path (`./chunk-….js`, the code a package's entries share),
 * and theirs, as names inside the module's own folder. Read once at start-up from the installed
 * package, so a request can only ever get one of these files: nothing outside the folder is served.
 */
function relativeImports(entry) {
  const folder = dirname(entry);
  const found = new Set();
  const visit = (file) => {
    for (const [, specifier] of readFileSync(file, 'utf8').matchAll(/(?:\bfrom|\bimport)\s*["'](\.\/[^"']+)["']/g)) {
      const path = resolve(dirname(file), specifier);
      const name = relative(folder, path).split(sep).join('/');
      if (name.startsWith('../') || isAbsolute(name))
        throw new Error(`${file} imports ${specifier}, outside ${folder}`);
      if (found.has(name)) continue;
      found.add(name);
      visit(path);
    }
  };
  visit(entry);
  return [...found];
}

// The three modules the page imports by name (see the import map in public/index.html), served as
// they are installed. A page in an app with a bundler imports '@cast/realtime-client' the same way.
const clientEntry = esmEntry('@cast/realtime-client', new URL(import.meta.url).pathname);
const modules = new Map([
  ['/modules/realtime-client.js', readFileSync(clientEntry)],
  ['/modules/protocol.js', readFileSync(esmEntry('@cast/protocol', clientEntry))],
  ['/modules/eventsource-parser.js', readFileSync(esmEntry('eventsource-parser', clientEntry))],
]);
// The client's entry imports the chunks of its dist folder by relative path, which the browser
// resolves beside /modules/realtime-client.js.
for (const name of relativeImports(clientEntry)) {
  const path = `/modules/${name}`;
  if (modules.has(path)) throw new Error(`${name} of @cast/realtime-client clashes with a module of the same name`);
  modules.set(path, readFileSync(join(dirname(clientEntry), ...name.split('/'))));
}

/** The key `pnpm start` created for the development tenant, when none is configured. */
function developmentKey() {
  const file = new URL('../../apps/server/.cast/dev-credentials.json', import.meta.url);
  try {
    return JSON.parse(readFileSync(file, 'utf8')).apiKey;
  } catch {
    console.error('Set CAST_API_KEY, or start the Cast server once with `pnpm start` to create a development key.');
    process.exit(1);
  }
}

/** Calls the Cast HTTP API with the secret key; the key never reaches the browser. */
async function cast(path, body) {
  const res = await fetch(`${CAST_URL}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CAST_API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

const server = createServer(async (req, res) => {
  try {
    if (req.method === 'GET' && req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      return res.end(page);
    }
    if (req.method === 'GET' && modules.has(req.url)) {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
      return res.end(modules.get(req.url));
    }
    if (req.method === 'POST' && req.url === '/api/token') {
      // A real app checks its own session here and grants only that user's channels.
      const { status, body } = await cast('/push/tokens', { channels: ['orders'], ttlSeconds: 600 });
      return send(res, status, status === 200 ? { ...body, castUrl: CAST_URL } : body);
    }
    if (req.method === 'POST' && req.url === '/api/orders') {
      const orderId = randomUUID().slice(0, 8);
      const { status, body } = await cast('/push/publish', {
        channel: 'orders',
        event: 'order.created',
        data: { orderId, total: 4999, currency: 'AOA' },
      });
      return send(res, status, status === 200 ? { orderId, ...body } : body);
    }
    send(res, 404, { error: { code: 'NOT_FOUND', message: `No route for ${req.method} ${req.url}` } });
  } catch (err) {
    console.error(err);
    send(res, 502, { error: { code: 'UNAVAILABLE', message: `Cannot reach the Cast server at ${CAST_URL}.` } });
  }
});

server.listen(PORT, HOST, () => {
  const { port } = server.address();
  console.log(`Example listening on http://${HOST}:${port} (Cast server: ${CAST_URL}; set CAST_URL to use another)`);
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.close(() => process.exit(0)));
