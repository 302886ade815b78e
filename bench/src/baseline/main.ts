/**
 * Starts the baseline hub: PORT (0 = any), HOST, CAST_API_KEYS
 * (`tenant=key,…`), CAST_SIGNING_SECRET, BASELINE_HISTORY. Prints
 * `listening on http://HOST:PORT` like the reference server.
 */
import { createBaselineHub, parseApiKeys } from './hub.js';

const keys = parseApiKeys(process.env.CAST_API_KEYS ?? '');
const secret = process.env.CAST_SIGNING_SECRET;
if (keys.size === 0 || !secret) {
  console.error('baseline hub: set CAST_API_KEYS (tenant=key) and CAST_SIGNING_SECRET.');
  process.exit(2);
}
const host = process.env.HOST ?? '127.0.0.1';
const server = createBaselineHub({
  apiKeys: keys,
  signingSecret: secret,
  historySize: process.env.BASELINE_HISTORY ? Number(process.env.BASELINE_HISTORY) : undefined,
});
server.listen(Number(process.env.PORT ?? 0), host, () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  console.log(`baseline hub listening on http://${host}:${port}`);
});
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => process.exit(0));
