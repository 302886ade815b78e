import { DEFAULTS, type TokenResponse } from '@cast/protocol';
import { Hono } from 'hono';
import { authenticate } from '../auth/api-key.js';
import { asObject, readJson, readJsonBody } from '../body.js';
import type { ServerDeps } from '../context.js';
import { fail } from '../errors.js';
import { MAX_TOKEN_BYTES } from '../http-limits.js';
import { ANY_INDEX } from '../json.js';
import { requestHeader } from '../node-request.js';
import type { PublishInput } from '../broker/types.js';
import { checkChannel, checkPublish, checkUserId } from '../validate.js';
import { streamRoute } from '../stream/route.js';
import { ENVELOPE_BYTES, publishEvents } from './publish.js';
import { revocationRoutes } from './revoke.js';

/**
 * The `/push/*` routes: tokens, the stream, publish (single and batch) and the
 * sessions listing.
 */
export function pushRoutes(deps: ServerDeps): Hono {
  const { config, broker, tokens, metrics } = deps;
  const app = new Hono();

  app.post('/tokens', async (c) => {
    const { tenant } = authenticate(config.keys, c, 'secret');
    const body = asObject(await readJson(c, 64 * 1024));
    const { channels: rawChannels, userId: rawUser, ttlSeconds: rawTtl } = body;
    if (!Array.isArray(rawChannels) || rawChannels.length === 0) {
      fail('BAD_REQUEST', '"channels" must be a non-empty array of channel names.');
    }
    const channels = [...new Set(rawChannels.map((ch, i) => checkChannel(ch, `channels[${i}]`)))];
    if (channels.length > config.maxChannelsPerToken) {
      fail('TOO_MANY_CHANNELS', `A token may grant at most ${config.maxChannelsPerToken} channels (got ${channels.length}).`);
    }
    const userId = checkUserId(rawUser);
    let ttlSeconds: number = DEFAULTS.tokenTtlSeconds;
    if (rawTtl !== undefined && rawTtl !== null) {
      if (typeof rawTtl !== 'number' || !Number.isInteger(rawTtl) || rawTtl < 1) {
        fail('BAD_REQUEST', '"ttlSeconds" must be a whole number of seconds, at least 1.');
      }
      if (rawTtl > config.maxTokenTtlSeconds) {
        fail('BAD_REQUEST', `"ttlSeconds" must be at most ${config.maxTokenTtlSeconds}.`);
      }
      ttlSeconds = rawTtl;
    }
    ttlSeconds = Math.min(ttlSeconds, config.maxTokenTtlSeconds);
    const signed = await tokens.sign({ tenant, channels, ttlSeconds, ...(userId === undefined ? {} : { userId }) });
    if (signed.token.length > MAX_TOKEN_BYTES) {
      fail('TOKEN_TOO_LARGE', `The token would be ${signed.token.length} bytes, over the ${MAX_TOKEN_BYTES} a stream request may carry: grant fewer or shorter channels.`);
    }
    metrics.tokensIssued++;
    const res: TokenResponse = {
      token: signed.token,
      expiresAt: signed.expiresAt.toISOString().replace('.000Z', 'Z'),
      channels,
      tokenId: signed.tokenId,
    };
    return c.json(res);
  });

  app.get('/stream', streamRoute(deps));

  const publish = (tenant: string, inputs: PublishInput[]) => publishEvents(deps, tenant, inputs);

  app.post('/publish', async (c) => {
    const { tenant } = authenticate(config.keys, c, 'secret');
    const doc = await readJsonBody(c, config.maxPayloadBytes + ENVELOPE_BYTES, [['data']]);
    const input = checkPublish(asObject(doc.value), doc.source(['data']), config.maxPayloadBytes, requestHeader(c, 'idempotency-key'));
    const [res] = await publish(tenant, [input]);
    return c.json(res);
  });

  app.post('/publish/batch', async (c) => {
    const { tenant } = authenticate(config.keys, c, 'secret');
    const doc = await readJsonBody(c, config.maxBatch * (config.maxPayloadBytes + ENVELOPE_BYTES), [['events', ANY_INDEX, 'data']]);
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
    const { tenant } = authenticate(config.keys, c, 'secret');
    const channel = c.req.query('channel');
    const userId = c.req.query('userId');
    const filter: { channel?: string; userId?: string } = {};
    if (channel !== undefined) filter.channel = checkChannel(channel);
    if (userId !== undefined) filter.userId = checkUserId(userId) as string;
    return c.json({ sessions: await broker.listSessions(tenant, filter) });
  });

  app.route('/', revocationRoutes(deps));

  return app;
}
