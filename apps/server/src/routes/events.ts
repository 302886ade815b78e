import { isValidPattern, parsePatternList } from '@cast/protocol';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { type Context, Hono } from 'hono';
import { authenticate, readApiKey } from '../auth/api-key.js';
import { asObject, readJsonBody } from '../body.js';
import type { ServerDeps } from '../context.js';
import { fail } from '../errors.js';
import { outgoingOf } from '../node-request.js';
import { type HttpRequest, requestOf } from '../request.js';
import { collectionChannel } from '../sources/feeds.js';
import { openStream, readResume, type StreamRequest } from './stream.js';
import { ENVELOPE_BYTES, publishEvents } from './publish.js';
import { checkEventName, checkPayload } from '../validate.js';

/**
 * The event bus lives in each tenant's log on this channel, with the topic as
 * the event name. `$` is outside the public channel grammar, so no push token
 * can name it.
 */
export const BUS_CHANNEL = '$bus';

/** How long a subscribe waits for its database watch to become active before answering. */
const WATCH_WAIT_MS = 2000;

function readTopics(raw: string): string[] {
  const patterns = parsePatternList(raw);
  if (patterns.length === 0) fail('INVALID_FILTER', '"topic" is empty: give a topic, a "prefix.*" wildcard or "*".');
  for (const p of patterns) {
    if (!isValidPattern(p))
      fail(
        'INVALID_FILTER',
        `"${(p as string).slice(0, 140)}" is not a valid topic filter: use "*", "prefix.*" or a topic like order.created.`,
      );
  }
  return patterns;
}

/**
 * The `/v1/events/*` routes: a tenant-scoped event bus (`publish` with a
 * secret key, `subscribe?topic=`) and database change feeds
 * (`subscribe?collection=`), on the same log, replay and streams as `/push`.
 *
 * @example
 * ```ts
 * app.route('/v1/events', eventRoutes(deps))
 * ```
 */
export function eventRoutes(deps: ServerDeps): Hono {
  const { config, feeds } = deps;
  const app = new Hono();

  app.get('/subscribe', async (c) => {
    const req = requestOf(c);
    // A read-only (public) key may subscribe; EventSource cannot set headers, so ?apikey= is accepted too.
    if (!readApiKey(req, true)) {
      fail(
        'UNAUTHORIZED',
        'Missing API key: send the "apikey" header (or ?apikey= where headers cannot be set) with a public or secret key.',
      );
    }
    const { tenant } = authenticate(config.keys, req, 'any', true);
    const collection = c.req.query('collection');
    const topic = c.req.query('topic');
    if (collection !== undefined && topic !== undefined) {
      fail('BAD_REQUEST', 'Give either "collection" (a database change feed) or "topic" (the event bus), not both.');
    }
    const resume = readResume(req);
    if (collection === undefined) {
      return openStreamResponse(c, req, deps, {
        grant: { tenant, channels: [BUS_CHANNEL], userId: undefined, expiresAt: undefined },
        types: topic === undefined ? undefined : readTopics(topic),
        resume,
      });
    }
    if (!feeds) {
      fail(
        'NOT_FOUND',
        'Database change feeds are off: set CAST_DATABASE_URL (and CAST_WATCH_TABLES=todos,…) to enable them.',
      );
    }
    if (collection.trim() === '')
      fail('BAD_REQUEST', '"collection" is empty: give a watched table, e.g. collection=todos.');
    const resolved = await feeds.resolve(collection.trim());
    if (resolved === undefined) {
      fail(
        'NOT_FOUND',
        `${JSON.stringify(collection.slice(0, 140))} is not a watched table: add it to CAST_WATCH_TABLES, or install its trigger with "cast-server watch install ${collection.slice(0, 63)}".`,
      );
    }
    if (typeof resolved !== 'string') {
      fail('BAD_REQUEST', `"${collection}" is ambiguous: use one of ${resolved.ambiguous.join(', ')}.`);
    }
    // Hold the answer until the database listens, so "connected" means no change after it is missed.
    await feeds.whenActive(tenant, resolved, WATCH_WAIT_MS);
    return openStreamResponse(c, req, deps, {
      grant: { tenant, channels: [collectionChannel(resolved)], userId: undefined, expiresAt: undefined },
      types: undefined,
      resume,
    });
  });

  app.post('/publish', async (c) => {
    const req = requestOf(c);
    const { tenant } = authenticate(config.keys, req, 'secret');
    const doc = await readJsonBody(req, config.maxPayloadBytes + ENVELOPE_BYTES, [['data']]);
    const body = asObject(doc.value);
    const event = checkEventName(body.topic, 'topic');
    const [res] = await publishEvents(deps, tenant, [
      {
        channel: BUS_CHANNEL,
        event,
        ...checkPayload(body, doc.source(['data']), config.maxPayloadBytes, req.header('idempotency-key')),
      },
    ]);
    return c.json(res);
  });

  return app;
}

/** A stream under Hono: on the Node response when there is one, else a web `Response`. */
async function openStreamResponse(
  c: Context,
  req: HttpRequest,
  deps: ServerDeps,
  stream: StreamRequest,
): Promise<Response> {
  return (await openStream(req, outgoingOf(c), deps, stream)) ?? RESPONSE_ALREADY_SENT;
}
