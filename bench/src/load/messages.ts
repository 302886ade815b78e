/**
 * Messages between the runner and its load-generator child processes (IPC).
 * Every request carries an `id`; the reply carries the same `id`.
 */
import type { HistogramJson } from '../stats/histogram.js';
import type { DeliveryCounts } from '../stats/ledger.js';

/** CPU time used by a process, µs. */
export interface CpuTime {
  user: number;
  system: number;
}

/** Opens SSE connections. */
export interface ConnectCommand {
  type: 'connect';
  id: number;
  /** Base URL of the hub, `http://host:port`. */
  url: string;
  /** Request path with query, e.g. `/push/stream?token=…`. */
  path: string;
  /** Extra request headers (e.g. `Last-Event-ID`). */
  headers?: Record<string, string>;
  /** How many connections to open. */
  count: number;
  /** Global index of the first connection (for its source address). */
  addressIndex: number;
  /** Connections opened at once. */
  concurrency: number;
  /** Give up on a connection after this long, ms. */
  timeoutMs: number;
  /** Open this delivery window on the new connections before they connect (replay). */
  window?: WindowCommandBody;
}

/** Opens a measurement window on every live connection. */
export interface WindowCommandBody {
  /** First expected sequence number. */
  base: number;
  /** Most sequence numbers in the window. */
  capacity: number;
  /** When this many distinct deliveries (over all connections) have arrived, note the time. */
  expectTotal?: number;
}

/** Runner → subscriber worker. */
export type SubscriberCommand =
  | ConnectCommand
  | ({ type: 'window'; id: number } & WindowCommandBody)
  | { type: 'poll'; id: number }
  | { type: 'close-window'; id: number; expected: number }
  | { type: 'heal'; id: number; url: string; path: string; concurrency: number; timeoutMs: number }
  | { type: 'disconnect'; id: number }
  | { type: 'exit'; id: number };

/** Reply to `connect` and `heal`. */
export interface ConnectReply {
  type: 'connected';
  id: number;
  ok: number;
  failed: number;
  errors: string[];
  elapsedMs: number;
  /** When the requests started, ms since the epoch. */
  startedAt: number;
  /** Counts of the `recovered` flag in the `connected` events. */
  recoveredTrue: number;
  recoveredFalse: number;
}

/** Reply to `poll`. */
export interface PollReply {
  type: 'poll';
  id: number;
  distinct: number;
  alive: number;
}

/** Reply to `close-window`. */
export interface WindowReply {
  type: 'window-report';
  id: number;
  counts: DeliveryCounts;
  latency: HistogramJson;
  /** Connections that closed while the window was open. */
  dropped: number;
  /** Frames that were not understood (bad id, bad payload, several data lines). */
  malformed: number;
  /** `expired` events seen. */
  expired: number;
  /** When `expectTotal` was reached, ms since the epoch (0 when not reached). */
  completedAt: number;
  /** The id of the last event of the first connection. */
  lastId: string | undefined;
  cpu: CpuTime;
  rssBytes: number;
}

/** Runner → request worker: publish `count` events at `rate` per second. */
export interface PublishCommand {
  type: 'publish';
  id: number;
  url: string;
  apiKey: string;
  channel: string;
  event: string;
  base: number;
  count: number;
  /** Events per second (Infinity: as fast as the connections allow). */
  rate: number;
  payloadBytes: number;
  connections: number;
  addressIndex: number;
  /** Stop sending after this long, ms. */
  deadlineMs: number;
}

/** Runner → request worker: closed-loop throughput of one route. */
export interface ThroughputCommand {
  type: 'throughput';
  id: number;
  url: string;
  apiKey: string;
  kind: 'publish' | 'token';
  channel: string;
  event: string;
  base: number;
  payloadBytes: number;
  connections: number;
  addressIndex: number;
  durationMs: number;
  /** Sends a fresh `Idempotency-Key` (`k<seq>`) with every publish. */
  idempotencyKeys?: boolean;
}

/**
 * Runner → request worker: starts closed-loop load on several hubs at once,
 * each over its own keep-alive connections, and keeps it going until
 * `shared-stop`. `shared-count` reads how many requests each has answered.
 */
export interface SharedStartCommand {
  type: 'shared-start';
  id: number;
  hubs: Array<{ url: string; apiKey: string }>;
  kind: 'publish' | 'token';
  channel: string;
  event: string;
  payloadBytes: number;
  /** Connections per hub. */
  connections: number;
  addressIndex: number;
  /** The load stops by itself after this long, ms, if no `shared-stop` came. */
  maxMs: number;
}

/** Runner → request worker. */
export type RequestCommand =
  | PublishCommand
  | ThroughputCommand
  | SharedStartCommand
  | { type: 'shared-count'; id: number }
  | { type: 'shared-stop'; id: number }
  | { type: 'exit'; id: number };

/** Reply to `shared-start`, `shared-count` and `shared-stop`: per hub, in the order of `hubs`. */
export interface SharedCounts {
  type: 'shared-counts';
  id: number;
  /** Requests answered 200 so far (publishes: sequence numbers 0 … sent - 1 went out). */
  ok: number[];
  sent: number[];
  failed: number[];
  /** One sample error per hub, if any. */
  sampleErrors: Array<string | undefined>;
}

/** Reply to `publish` and `throughput`. */
export interface RequestReply {
  type: 'requests';
  id: number;
  /** Requests sent (sequence numbers `base … base + sent - 1` when publishing). */
  sent: number;
  ok: number;
  failed: number;
  /** Status codes (and `error` for transport errors) with their counts. */
  statuses: Record<string, number>;
  /** One sample error body. */
  sampleError?: string;
  elapsedMs: number;
  /** Request latency. */
  latency: HistogramJson;
  /** Largest delay of a send behind its schedule, ms (publish only). */
  maxLagMs: number;
  cpu: CpuTime;
}

/** Any reply. */
export type WorkerReply =
  ConnectReply | PollReply | WindowReply | RequestReply | SharedCounts | { type: 'ack'; id: number };
