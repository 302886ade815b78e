import { type PublishResponse, formatWireId } from '@cast/protocol';
import type { PublishInput, PublishOutcome } from '../broker/types.js';
import type { ServerDeps } from '../context.js';

/** Room for the JSON around `data` in a publish body. */
export const ENVELOPE_BYTES = 16 * 1024;

/** The wire answer for one publish outcome. */
export function toPublishResponse(outcome: PublishOutcome): PublishResponse {
  const res: PublishResponse = {
    messageId: outcome.event.messageId,
    eventId: formatWireId(outcome.event.position, outcome.event.channel),
    delivered: outcome.delivered,
    creditsUsed: 0,
  };
  if (outcome.duplicate) res.duplicate = true;
  return res;
}

/**
 * Publishes validated events of one tenant through the broker, counts them in
 * the metrics and returns the wire answers, in order. Every publish route
 * (`/push/publish`, its batch, `/v1/events/publish`) goes through here.
 */
export async function publishEvents(
  deps: Pick<ServerDeps, 'broker' | 'metrics'>,
  tenant: string,
  inputs: readonly PublishInput[],
): Promise<PublishResponse[]> {
  const started = performance.now();
  const outcomes = await deps.broker.publish(tenant, inputs);
  for (const o of outcomes) {
    if (o.duplicate) deps.metrics.duplicatePublishes++;
    else deps.metrics.eventsPublished++;
  }
  deps.metrics.observePublish((performance.now() - started) / 1000);
  return outcomes.map(toPublishResponse);
}
