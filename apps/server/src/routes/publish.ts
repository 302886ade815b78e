import { type PublishResponse, formatPosition, formatWireId } from '@cast/protocol';
import { authenticate } from '../auth/api-key.js';
import { asObject, readJsonBody } from '../body.js';
import type { PublishInput, PublishOutcome } from '../broker/types.js';
import type { ServerDeps } from '../context.js';
import type { HttpRequest } from '../request.js';
import { checkPublish } from '../validate.js';

/** Room for the JSON around `data` in a publish body. */
export const ENVELOPE_BYTES = 16 * 1024;

/** The wire answer for one publish outcome. */
export function toPublishResponse(outcome: PublishOutcome): PublishResponse {
  const res: PublishResponse = {
    messageId: outcome.event.messageId,
    eventId: formatWireId(formatPosition(outcome.event.position), outcome.event.channel),
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

/**
 * `POST /push/publish`: authenticates by secret key, reads and checks one
 * event and publishes it. Both the plain `node:http` handler and Hono serve
 * the route through here.
 *
 * @param deps - the server's services
 * @param req - the request
 * @returns the wire answer
 * @example
 * ```ts
 * app.post('/publish', async (c) => c.json(await publishOne(deps, requestOf(c))))
 * ```
 */
export async function publishOne(
  deps: Pick<ServerDeps, 'config' | 'broker' | 'metrics'>,
  req: HttpRequest,
): Promise<PublishResponse> {
  const { config } = deps;
  const { tenant } = authenticate(config.keys, req, 'secret');
  const doc = await readJsonBody(req, config.maxPayloadBytes + ENVELOPE_BYTES, [['data']]);
  const input = checkPublish(
    asObject(doc.value),
    doc.source(['data']),
    config.maxPayloadBytes,
    req.header('idempotency-key'),
  );
  const [res] = await publishEvents(deps, tenant, [input]);
  return res as PublishResponse;
}
