/**
 * What happens on the realtime side that a backend may want to hear about
 * (webhooks consume these). Each event is reported once for the whole
 * cluster, by the node that decided it, after the presence grace period
 * where one applies.
 */
export const LIFECYCLE_TYPES = [
  'channel.occupied',
  'channel.vacated',
  'presence.join',
  'presence.leave',
  'connection.revoked',
] as const;

/** One of {@link LIFECYCLE_TYPES}. */
export type LifecycleType = (typeof LIFECYCLE_TYPES)[number];

/** One lifecycle event of a tenant's channel. */
export interface LifecycleEvent {
  type: LifecycleType;
  tenant: string;
  channel: string;
  /** The user concerned (presence and revocation events). */
  userId?: string | undefined;
  /** When it happened, ms since the epoch. */
  at: number;
}

/** Told of every lifecycle event, once per cluster. Must not throw or block. */
export interface LifecycleListener {
  lifecycle(event: LifecycleEvent): void;
}
