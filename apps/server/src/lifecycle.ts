import type { WebhookEventType } from '@cast/protocol';

/**
 * What happens on the realtime side that a backend may want to hear about
 * (webhooks consume these): the same kinds a webhook carries
 * (`WEBHOOK_EVENT_TYPES` in `@cast/protocol`). Each event is reported once
 * for the whole cluster, by the node that decided it, after the presence
 * grace period where one applies.
 */
export type LifecycleType = WebhookEventType;

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

/**
 * One listener that tells each of the given ones (skipping those undefined),
 * or undefined when none is given, so nothing runs for nobody.
 *
 * @param listeners - e.g. the webhook engine and a listener passed to `startServer`
 * @returns the combined listener
 * @example
 * ```ts
 * const lifecycle = combineLifecycle(options.lifecycle, webhooks)
 * ```
 */
export function combineLifecycle(...listeners: Array<LifecycleListener | undefined>): LifecycleListener | undefined {
  const present = listeners.filter((l): l is LifecycleListener => l !== undefined);
  if (present.length <= 1) return present[0];
  return {
    lifecycle(event) {
      for (const l of present) l.lifecycle(event);
    },
  };
}
