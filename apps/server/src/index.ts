export { createApp } from './app.js';
export { loadConfig, ConfigError, NUMBER_SETTINGS } from './config.js';
export type { Config, KeyGrant, KeyKind, WebhookEndpoint, WebhookSettings } from './config.js';
export { startServer, createBroker } from './server.js';
export type { RunningServer } from './server.js';
export { createMemoryBroker } from './broker/memory.js';
export type { MemoryBrokerOptions } from './broker/memory.js';
export type {
  Broker,
  LocalDelivery,
  PublishInput,
  PublishOutcome,
  ReplayResult,
  SessionRecord,
  StoredEvent,
} from './broker/types.js';
