import type { Broker } from './broker/types.js';
import type { TokenService } from './auth/tokens.js';
import type { Config } from './config.js';
import type { LifecycleListener } from './lifecycle.js';
import type { Metrics } from './metrics.js';
import type { ChangeFeeds } from './sources/feeds.js';
import type { Presence } from './presence/presence.js';
import type { Hub } from './stream/hub.js';

/** What every route may use: one object, built once at start. */
export interface ServerDeps {
  config: Config;
  broker: Broker;
  hub: Hub;
  tokens: TokenService;
  metrics: Metrics;
  /** Database change feeds; undefined without CAST_DATABASE_URL. */
  feeds?: ChangeFeeds | undefined;
  /** This node's presence and occupancy tracking. */
  presence?: Presence | undefined;
  /**
   * Told of channel, presence and revocation lifecycle events, once per
   * cluster; the webhook engine when CAST_WEBHOOKS is set, else undefined.
   */
  lifecycle?: LifecycleListener | undefined;
}
