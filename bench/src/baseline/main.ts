/**
 * Starts the baseline hub: PORT (0 = any), HOST, CAST_API_KEYS
 * (`tenant=key,…`), CAST_SIGNING_SECRET, BASELINE_HISTORY, and BENCH_FANOUT
 * (`baseline`, `better-sse` or `sse-channel`: the same HTTP shape over the
 * baseline's fan-out or a peer library's). Prints `listening on
 * http://HOST:PORT` like the reference server.
 */
import { type FanoutEngine, createBaselineHub, parseApiKeys } from './hub.js';

const keys = parseApiKeys(process.env.CAST_API_KEYS ?? '');
const secret = process.env.CAST_SIGNING_SECRET;
if (keys.size === 0 || !secret) {
  console.error('baseline hub: set CAST_API_KEYS (tenant=key) and CAST_SIGNING_SECRET.');
  process.exit(2);
}
const host = process.env.HOST ?? '127.0.0.1';
const heartbeatMs = 15_000;
// A peer's library is loaded only by its own hub, so the baseline's memory holds none of them.
const engines: Record<string, (() => Promise<FanoutEngine>) | undefined> = {
  baseline: undefined,
  'better-sse': async () => (await import('../peers/better-sse.js')).createBetterSseFanout(heartbeatMs),
  'sse-channel': async () => (await import('../peers/sse-channel.js')).createSseChannelFanout(heartbeatMs),
};
const engineName = process.env.BENCH_FANOUT ?? 'baseline';
if (!(engineName in engines)) {
  console.error(`baseline hub: BENCH_FANOUT must be one of ${Object.keys(engines).join(', ')}.`);
  process.exit(2);
}
const fanout = await engines[engineName]?.();
const server = createBaselineHub({
  ...(fanout ? { fanout } : {}),
  heartbeatMs,
  apiKeys: keys,
  signingSecret: secret,
  historySize: process.env.BASELINE_HISTORY ? Number(process.env.BASELINE_HISTORY) : undefined,
});
server.listen(Number(process.env.PORT ?? 0), host, () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  console.log(`${engineName} hub listening on http://${host}:${port}`);
});
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => process.exit(0));
