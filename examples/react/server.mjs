// Serves the React page (bundled with esbuild at start), issues its stream
// tokens and publishes test orders.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import { build } from 'esbuild';

const CAST_URL = (process.env.CAST_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
const CAST_API_KEY = process.env.CAST_API_KEY ?? developmentKey();
const PORT = Number(process.env.PORT ?? 3000);
const HOST = process.env.HOST ?? '127.0.0.1';

/** The key `pnpm start` created for the development tenant, when none is configured. */
function developmentKey() {
  try {
    const file = new URL('../../apps/server/.cast/dev-credentials.json', import.meta.url);
    return JSON.parse(readFileSync(file, 'utf8')).apiKey;
  } catch {
    console.error('Set CAST_API_KEY, or start the Cast server once with `pnpm start` to create a development key.');
    process.exit(1);
  }
}

const bundle = await build({
  entryPoints: [new URL('./src/app.tsx', import.meta.url).pathname],
  bundle: true,
  write: false,
  format: 'esm',
  target: 'es2022',
  minify: true,
  jsx: 'automatic',
  define: { 'process.env.NODE_ENV': '"production"' },
});
const script = bundle.outputFiles[0].contents;
const escapeHtml = (s) => s.replace(/[&<>"]/g, (ch) => `&#${ch.charCodeAt(0)};`);
const page = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Cast: React</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem}li{font-size:14px}</style></head>
<body><div id="root" data-cast-url="${escapeHtml(CAST_URL)}"></div><script type="module" src="/app.js"></script></body>
</html>`;

async function cast(path, body) {
  const res = await fetch(`${CAST_URL}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CAST_API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

const server = createServer(async (req, res) => {
  const json = (status, body) => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
  };
  try {
    if (req.method === 'GET' && req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      return res.end(page);
    }
    if (req.method === 'GET' && req.url === '/app.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
      return res.end(script);
    }
    if (req.method === 'POST' && req.url === '/api/token') {
      // A real app checks its own session here.
      const { status, body } = await cast('/push/tokens', { channels: ['orders', 'announcements'], ttlSeconds: 600 });
      return json(status, body);
    }
    if (req.method === 'POST' && req.url === '/api/orders') {
      const orderId = randomUUID().slice(0, 8);
      const { status, body } = await cast('/push/publish', {
        channel: 'orders',
        event: 'order.created',
        data: { orderId },
      });
      return json(status, status === 200 ? { orderId, ...body } : body);
    }
    json(404, { error: { code: 'NOT_FOUND', message: `No route for ${req.method} ${req.url}` } });
  } catch (err) {
    console.error(err);
    json(502, { error: { code: 'UNAVAILABLE', message: `Cannot reach the Cast server at ${CAST_URL}.` } });
  }
});

server.listen(PORT, HOST, () => {
  const { port } = server.address();
  console.log(`Example listening on http://${HOST}:${port} (Cast server: ${CAST_URL}; set CAST_URL to use another)`);
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.close(() => process.exit(0)));
