import { type ChannelsResponse, isValidChannel, type PresenceResponse } from '@cast/protocol';
import { Hono } from 'hono';
import { authenticate } from '../auth/api-key.js';
import { asObject, readJsonBody } from '../body.js';
import type { ServerDeps } from '../context.js';
import { fail } from '../errors.js';
import { ANY_INDEX } from '../json.js';
import { requestOf } from '../request.js';
import type { PublishInput } from '../broker/types.js';
import { checkChannel, checkPublish, checkUserId } from '../validate.js';
import { streamRoute } from './stream.js';
import { ENVELOPE_BYTES, publishEvents, publishOne } from './publish.js';
import { revocationRoutes } from './revoke.js';
import { issueToken } from './tokens.js';

/**
 * The `/push/*` routes: tokens, the stream, publish (single and batch) and the
 * sessions listing.
 */
export function pushRoutes(deps: ServerDeps): Hono {
  const { config, broker, tokens, metrics } = deps;
  const app = new Hono();

  app.post('/tokens', async (c) => c.json(await issueToken(deps, requestOf(c))));

  app.get('/stream', streamRoute(deps));

  const publish = (tenant: string, inputs: PublishInput[]) => publishEvents(deps, tenant, inputs);

  app.post('/publish', async (c) => c.json(await publishOne(deps, requestOf(c))));

  app.post('/publish/batch', async (c) => {
    const req = requestOf(c);
    const { tenant } = authenticate(config.keys, req, 'secret');
    const doc = await readJsonBody(req, config.maxBatch * (config.maxPayloadBytes + ENVELOPE_BYTES), [
      ['events', ANY_INDEX, 'data'],
    ]);
    const { events } = asObject(doc.value);
    if (!Array.isArray(events) || events.length === 0) fail('BAD_REQUEST', '"events" must be a non-empty array.');
    if (events.length > config.maxBatch) {
      fail('BATCH_TOO_LARGE', `A batch holds at most ${config.maxBatch} events (got ${events.length}).`);
    }
    // Validate the whole batch before publishing any of it.
    const inputs = events.map((e, i) => {
      try {
        return checkPublish(asObject(e, `events[${i}]`), doc.source(['events', i, 'data']), config.maxPayloadBytes);
      } catch (err) {
        if (err instanceof Error) err.message = `events[${i}]: ${err.message}`;
        throw err;
      }
    });
    return c.json({ results: await publish(tenant, inputs) });
  });

  app.get('/sessions', async (c) => {
    const { tenant } = authenticate(config.keys, requestOf(c), 'secret');
    const channel = c.req.query('channel');
    const userId = c.req.query('userId');
    const filter: { channel?: string; userId?: string } = {};
    if (channel !== undefined) filter.channel = checkChannel(channel);
    if (userId !== undefined) filter.userId = checkUserId(userId) as string;
    return c.json({ sessions: await broker.listSessions(tenant, filter) });
  });

  app.get('/presence', async (c) => {
    const { tenant } = authenticate(config.keys, requestOf(c), 'secret');
    const channel = checkChannel(c.req.query('channel'));
    const snapshot = await broker.presence.snapshot(tenant, [channel]);
    const { members, connections } = snapshot.channels[0] ?? { members: [], connections: 0 };
    const res: PresenceResponse = { channel, members, connections };
    return c.json(res);
  });

  app.get('/channels', async (c) => {
    const { tenant } = authenticate(config.keys, requestOf(c), 'secret');
    const prefix = c.req.query('prefix') ?? '';
    if (prefix !== '' && !isValidChannel(prefix)) {
      fail(
        'BAD_REQUEST',
        `"prefix" must be the start of a channel name: up to 128 letters, digits and _ - . : @ = + (got ${JSON.stringify(String(prefix).slice(0, 140))}).`,
      );
    }
    const after = readCursor(c.req.query('cursor'));
    const limit = readLimit(c.req.query('limit'));
    const page = await broker.presence.channels(tenant, { prefix, after, limit });
    const res: ChannelsResponse = {
      channels: page.channels,
      cursor: page.next === undefined ? null : Buffer.from(page.next, 'utf8').toString('base64url'),
    };
    return c.json(res);
  });
  app.route('/', revocationRoutes(deps));

  return app;
}

/** Channels listed per page of `GET /push/channels` unless `limit=` says otherwise. */
export const CHANNELS_PAGE = 100;
/** The largest `limit=` of `GET /push/channels`. */
export const MAX_CHANNELS_PAGE = 1000;

/** The channel a `cursor=` continues after (an opaque value this server gave). */
function readCursor(raw: string | undefined): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  const name = /^[A-Za-z0-9_-]{1,200}$/.test(raw) ? Buffer.from(raw, 'base64url').toString('utf8') : '';
  if (!isValidChannel(name))
    fail(
      'BAD_REQUEST',
      '"cursor" is not one this server gave: pass the "cursor" of the previous page as is, or leave it out for the first page.',
    );
  return name;
}

function readLimit(raw: string | undefined): number {
  if (raw === undefined || raw === '') return CHANNELS_PAGE;
  if (!/^\d{1,5}$/.test(raw) || Number(raw) < 1 || Number(raw) > MAX_CHANNELS_PAGE) {
    fail(
      'BAD_REQUEST',
      `"limit" must be a whole number from 1 to ${MAX_CHANNELS_PAGE} (got ${JSON.stringify(raw.slice(0, 20))}).`,
    );
  }
  return Number(raw);
}
