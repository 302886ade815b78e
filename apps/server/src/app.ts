import { CastError } from '@cast/protocol';
import { Hono } from 'hono';
import type { ServerDeps } from './context.js';
import { consoleRoute } from './console/route.js';
import { cors } from './cors.js';
import { errorResponse } from './errors.js';
import { eventRoutes } from './routes/events.js';
import { pushRoutes } from './routes/push.js';
import { openApiDocument } from './openapi.js';

/** Paths with routes, for telling 405 from 404. */
const KNOWN_PATHS = new Set([
  '/healthz',
  '/readyz',
  '/metrics',
  '/openapi.json',
  '/push/tokens',
  '/push/stream',
  '/push/publish',
  '/push/publish/batch',
  '/push/sessions',
  '/push/revoke',
  '/push/disconnect',
  '/push/presence',
  '/push/channels',
  '/v1/events/subscribe',
  '/v1/events/publish',
  '/console',
  '/console/',
]);

/**
 * Builds the HTTP application over the given broker, hub and services. The
 * routes talk to the `Broker` interface only.
 *
 * @example
 * ```ts
 * const app = createApp(deps)
 * serve({ fetch: app.fetch, port: 8080 })
 * ```
 */
export function createApp(deps: ServerDeps): Hono {
  const app = new Hono();
  app.use('*', cors(deps.config.corsOrigins));

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
    const ready = await deps.broker.ready().catch(() => false);
    return ready
      ? c.json({ status: 'ready', broker: deps.broker.kind })
      : c.json({ error: { code: 'UNAVAILABLE', message: `The ${deps.broker.kind} broker is not reachable.` } }, 503);
  });
  app.get('/metrics', (c) =>
    c.body(deps.metrics.render({ connections: deps.hub.size, broker: deps.broker.kind }), 200, {
      'Content-Type': 'text/plain; version=0.0.4; charset=utf-8',
    }),
  );

  // Built once: the document depends only on the configuration.
  const openapi = JSON.stringify(openApiDocument(deps.config));
  app.get('/openapi.json', (c) => c.body(openapi, 200, { 'Content-Type': 'application/json; charset=utf-8' }));

  app.route('/push', pushRoutes(deps));
  app.route('/v1/events', eventRoutes(deps));
  if (deps.config.console) {
    app.route('/console', consoleRoute());
    // A person who opens the server's address in a browser lands on the console.
    app.get('/', (c) => c.redirect('/console/', 302));
  }

  app.notFound((c) => {
    if (KNOWN_PATHS.has(c.req.path) && (deps.config.console || !c.req.path.startsWith('/console'))) {
      return errorResponse(c, new CastError('METHOD_NOT_ALLOWED', `${c.req.method} is not allowed on ${c.req.path}.`));
    }
    return errorResponse(c, new CastError('NOT_FOUND', `No route for ${c.req.method} ${c.req.path}.`));
  });
  app.onError((err, c) => errorResponse(c, err));
  return app;
}
