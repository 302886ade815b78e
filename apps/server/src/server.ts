import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createApp } from './app.js';
import { createTokenService } from './auth/tokens.js';
import type { Broker } from './broker/types.js';
import { createMemoryBroker } from './broker/memory.js';
import { type Config, knownTenants } from './config.js';
import type { ServerDeps } from './context.js';
import { createRequestListener } from './dispatch.js';
import { answerClientError, httpServerOptions } from './http-limits.js';
import { combineLifecycle, type LifecycleListener } from './lifecycle.js';
import { Metrics } from './metrics.js';
import { RuntimeMetrics } from './runtime-metrics.js';
import { Presence } from './presence/presence.js';
import { resyncPresence } from './presence/resync.js';
import { createChangeFeeds } from './sources/index.js';
import { Hub } from './stream/hub.js';

/** A running server. */
export interface RunningServer {
  /** Base URL, e.g. `http://127.0.0.1:8080`. */
  url: string;
  port: number;
  deps: ServerDeps;
  /** Ends every stream, stops accepting, closes the broker. */
  close(): Promise<void>;
}

/** Creates the broker the configuration asks for; Redis code is loaded only when configured. */
export async function createBroker(config: Config): Promise<Broker> {
  if (config.redisUrl) {
    const { createRedisBroker } = await import('./broker/redis/index.js');
    return createRedisBroker({
      url: config.redisUrl,
      prefix: config.redisPrefix,
      historySize: config.historySize,
      historyMaxAgeSeconds: config.historyMaxAgeSeconds,
      historyMaxBytes: config.historyMaxBytes,
      idempotencyWindowSeconds: config.idempotencyWindowSeconds,
      revocationTtlSeconds: config.maxTokenTtlSeconds,
      nodeTtlMs: config.nodeTtlMs,
    });
  }
  return createMemoryBroker({
    historySize: config.historySize,
    historyMaxAgeSeconds: config.historyMaxAgeSeconds,
    historyMaxBytes: config.historyMaxBytes,
    idempotencyWindowSeconds: config.idempotencyWindowSeconds,
    revocationTtlSeconds: config.maxTokenTtlSeconds,
  });
}

/** Options of {@link startServer} beyond the configuration. */
export interface StartServerOptions {
  /** Told of lifecycle events (channel occupancy, presence, revoked connections). */
  lifecycle?: LifecycleListener | undefined;
}

/**
 * Starts the Cast server for a configuration.
 *
 * @param config - the configuration
 * @param options - a lifecycle listener
 * @example
 * ```ts
 * const server = await startServer(loadConfig())
 * console.log(server.url)
 * ```
 */
export async function startServer(config: Config, options: StartServerOptions = {}): Promise<RunningServer> {
  const broker = await createBroker(config);
  const feeds = await createChangeFeeds(config);
  const metrics = new Metrics();
  // Without CAST_WEBHOOKS the webhook code is never loaded.
  const webhooks = config.webhooks ? await (await import('./webhooks/index.js')).createWebhooks(config) : undefined;
  if (webhooks) metrics.sections.push(webhooks.metrics);
  const lifecycle = combineLifecycle(options.lifecycle, webhooks);
  const hub = new Hub(broker, metrics, config.heartbeatMs, lifecycle);
  await broker.start(hub);
  const presence = new Presence(broker.presence, {
    graceMs: config.presenceGraceMs,
    repairMs: Math.max(100, Math.floor(config.nodeTtlMs / 3)),
    lifecycle,
    resync: (tenant) => resyncPresence(hub, broker, tenant),
  });
  hub.observe(presence);
  // Change feeds start and stop the watch of a `$db:` channel as it gains its first and loses its last stream.
  if (feeds) hub.observe(feeds);
  if (feeds) {
    try {
      await feeds.start(broker, hub);
    } catch (err) {
      hub.closeAll('shutdown');
      await broker.close().catch(() => {});
      throw err;
    }
  }
  const deps: ServerDeps = {
    config,
    broker,
    hub,
    metrics,
    feeds,
    presence,
    lifecycle,
    tokens: createTokenService(config.signingSecret, config.maxTokenTtlSeconds, {
      tenants: knownTenants(config),
      maxChannels: config.maxChannelsPerToken,
    }),
  };
  const app = createApp(deps);
  const server: Server = await new Promise((resolve, reject) => {
    const s = createServer(httpServerOptions(config), createRequestListener(deps, app));
    s.once('error', reject);
    s.listen(config.port, config.host, () => resolve(s));
  });
  // Started once the server listens: nothing is left sampling when start-up fails.
  const runtime = new RuntimeMetrics();
  metrics.sections.push(runtime);
  // Requests Node refuses itself (too large a head, too slow, not HTTP) get the JSON error body too.
  server.on('clientError', answerClientError);
  // Keep-alive longer than typical proxies'.
  server.keepAliveTimeout = 65_000;
  // Sockets with a request in flight. At shutdown every other socket is closed at once: Node's
  // closeIdleConnections() (v20) leaves open a socket that never sent a request (a client's
  // spare or speculative connection), which would hold the exit for the whole grace period.
  const sockets = new Set<Socket>();
  const busy = new Set<Socket>();
  let stopping = false;
  // One listener function for every socket and response: an idle stream holds no closure of its own.
  function socketClosed(this: Socket): void {
    sockets.delete(this);
    busy.delete(this);
  }
  function responseClosed(this: ServerResponse): void {
    const { socket } = this.req;
    busy.delete(socket);
    if (stopping) socket.destroySoon();
  }
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', socketClosed);
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    busy.add(req.socket);
    res.on('close', responseClosed);
  });
  const { port } = server.address() as AddressInfo;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const hostForUrl = host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${hostForUrl}:${port}`,
    port,
    deps,
    close() {
      closing ??= (async () => {
        stopping = true;
        hub.closeAll('shutdown');
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          // Idle keep-alive sockets would hold close() open.
          server.closeIdleConnections();
          for (const socket of sockets) if (!busy.has(socket)) socket.destroySoon();
          const t = setTimeout(() => {
            server.closeAllConnections();
            resolve();
          }, config.shutdownGraceMs);
          t.unref();
        });
        presence.close();
        runtime.stop();
        await feeds?.close();
        await webhooks?.close();
        await broker.close();
      })();
      return closing;
    },
  };
}
