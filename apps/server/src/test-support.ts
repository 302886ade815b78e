import type { Hono } from 'hono';
import { createApp } from './app.js';
import { createTokenService } from './auth/tokens.js';
import { createMemoryBroker } from './broker/memory.js';
import type { Broker } from './broker/types.js';
import { knownTenants, loadConfig } from './config.js';
import type { ServerDeps } from './context.js';
import type { LifecycleListener } from './lifecycle.js';
import { Metrics } from './metrics.js';
import { Presence } from './presence/presence.js';
import { Hub } from './stream/hub.js';

/** A whole server wired in-process on the memory broker, for `app.request()` tests. */
export interface InProcessServer {
  deps: ServerDeps;
  app: Hono;
  /** Ends every stream and stops the hub's timers. */
  close(): void;
}

/**
 * Wires config, memory broker, hub, tokens and app the way `startServer` does,
 * without a socket. Test-only; not exported by the package.
 *
 * @param env - environment for `loadConfig` (keys and secret are required)
 * @param options - the memory broker's history size, a wrapper to put around the broker, a lifecycle listener
 */
export async function createInProcessServer(
  env: Record<string, string>,
  options: { historySize?: number; wrapBroker?: (memory: Broker) => Broker; lifecycle?: LifecycleListener } = {},
): Promise<InProcessServer> {
  const config = loadConfig(env);
  const memory = createMemoryBroker({
    historySize: options.historySize ?? 1000,
    historyMaxAgeSeconds: 3600,
    historyMaxBytes: 1 << 20,
    idempotencyWindowSeconds: 60,
    revocationTtlSeconds: config.maxTokenTtlSeconds,
  });
  const broker = options.wrapBroker ? options.wrapBroker(memory) : memory;
  const metrics = new Metrics();
  const hub = new Hub(broker, metrics, 60_000, options.lifecycle);
  await broker.start(hub);
  const presence = new Presence(broker.presence, { graceMs: config.presenceGraceMs });
  hub.observe(presence);
  const deps: ServerDeps = {
    presence,
    config,
    broker,
    hub,
    metrics,
    lifecycle: options.lifecycle,
    tokens: createTokenService(config.signingSecret, config.maxTokenTtlSeconds, {
      tenants: knownTenants(config),
      maxChannels: config.maxChannelsPerToken,
    }),
  };
  return {
    deps,
    app: createApp(deps),
    close: () => {
      hub.closeAll();
      presence.close();
    },
  };
}

/** One SSE message as the in-process tests read it. */
export interface SseMessage {
  id: string | undefined;
  event: string | undefined;
  data: string;
}

/**
 * Reads SSE messages from an in-process response (the server's framing: LF
 * lines, blank-line separated; comments skipped) until `count` arrived, the
 * stream ended, or `maxChunks` reads were made; then cancels the body.
 *
 * @example
 * ```ts
 * const [connected] = await readSse(await app.request(`/push/stream?token=${token}`), 1);
 * ```
 */
export async function readSse(res: Response, count: number, maxChunks = 100): Promise<SseMessage[]> {
  const got: SseMessage[] = [];
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (let i = 0; i < maxChunks && got.length < count; i++) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    const blocks = buffer.split('\n\n');
    buffer = blocks.pop() ?? '';
    for (const block of blocks) {
      const fields = new Map(
        block
          .split('\n')
          .filter((l) => !l.startsWith(':'))
          .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)] as const),
      );
      if (fields.has('data'))
        got.push({ id: fields.get('id'), event: fields.get('event'), data: fields.get('data') as string });
    }
  }
  await reader.cancel();
  return got;
}
