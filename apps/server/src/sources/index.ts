import type { Config } from '../config.js';
import { ChangeFeeds } from './feeds.js';

export { ChangeFeeds, collectionChannel, CHANGE_EVENT_NAME, COLLECTION_CHANNEL_PREFIX } from './feeds.js';
export type { ChangeFeedsOptions, StreamCloser } from './feeds.js';
export { CHANGE_TYPES } from './types.js';
export type { Change, ChangeSink, ChangeSource, ChangeType, Watch } from './types.js';

/**
 * Creates the change feeds the configuration asks for: PostgreSQL when
 * `CAST_DATABASE_URL` is set (its client is loaded only then), else none.
 *
 * @param config - the server configuration
 * @returns the feeds (not started), or undefined without a database
 * @example
 * ```ts
 * const feeds = await createChangeFeeds(config)
 * if (feeds) hub.observe(feeds)
 * ```
 */
export async function createChangeFeeds(config: Config): Promise<ChangeFeeds | undefined> {
  if (!config.databaseUrl) return undefined;
  const { createPostgresSource } = await import('./postgres/source.js');
  const source = createPostgresSource({
    url: config.databaseUrl,
    tenantColumn: config.tenantColumn,
    watchTables: config.watchTables,
  });
  // With Redis, several nodes LISTEN to the same channels: an idempotency key
  // derived from each change makes the cluster publish it once.
  return new ChangeFeeds(source, { maxDocumentBytes: config.maxPayloadBytes, dedupe: Boolean(config.redisUrl) });
}
