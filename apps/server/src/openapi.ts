import {
  CHANNEL_PATTERN,
  type CastErrorCode,
  ERROR_CODES,
  EVENT_NAME_PATTERN,
  RESERVED_EVENT_NAMES,
  WEBHOOK_EVENT_TYPES,
  WEBHOOK_SIGNATURE_HEADER,
} from '@cast/protocol';
import type { Config } from './config.js';

/** A JSON value of the OpenAPI document. */
type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
type Schema = { [key: string]: Json };

/** The limits the document states: the running server's, so clients see what it enforces. */
export type OpenApiLimits = Pick<
  Config,
  'maxChannelsPerToken' | 'maxTokenTtlSeconds' | 'maxPayloadBytes' | 'maxBatch' | 'console'
>;

/** One operation of the document, as the route table lists it. */
export interface OpenApiOperation {
  method: string;
  path: string;
  summary: string;
  /** Error codes the operation may answer, from the one error table. */
  errors: CastErrorCode[];
}

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Schema): Schema => ({ 'application/json': { schema } });

/** The error codes every authenticated JSON route may answer. */
const AUTH_ERRORS: CastErrorCode[] = ['UNAUTHORIZED', 'INVALID_API_KEY', 'FORBIDDEN'];
const BODY_ERRORS: CastErrorCode[] = ['BAD_REQUEST', 'INVALID_JSON', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE'];
const PUBLISH_ERRORS: CastErrorCode[] = [
  ...AUTH_ERRORS,
  ...BODY_ERRORS,
  'INVALID_CHANNEL',
  'INVALID_EVENT_NAME',
  'RESERVED_EVENT_NAME',
  'UNAVAILABLE',
];
const STREAM_ERRORS: CastErrorCode[] = [
  'UNAUTHORIZED',
  'INVALID_TOKEN',
  'TOKEN_EXPIRED',
  'TOKEN_REVOKED',
  'INVALID_FILTER',
  'UNAVAILABLE',
];

/** Error answers grouped by status, each status listing its codes. */
function errorResponses(codes: readonly CastErrorCode[]): Schema {
  const byStatus = new Map<number, CastErrorCode[]>();
  for (const code of codes) {
    const { status } = ERROR_CODES[code];
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const out: Schema = {};
  for (const [status, list] of [...byStatus].sort(([a], [b]) => a - b)) {
    out[String(status)] = {
      description: `Error: ${list.join(', ')}.`,
      content: json(ref('Error')),
      'x-cast-error-codes': list,
    };
  }
  return out;
}

function operation(
  op: OpenApiOperation,
  spec: { security?: Json; parameters?: Json[]; requestBody?: Schema; ok: Schema; description?: string },
): Schema {
  const out: Schema = { summary: op.summary, operationId: operationId(op) };
  if (spec.description) out.description = spec.description;
  if (spec.security !== undefined) out.security = spec.security;
  if (spec.parameters) out.parameters = spec.parameters;
  if (spec.requestBody) out.requestBody = { required: true, content: json(spec.requestBody) };
  out.responses = { ...spec.ok, ...errorResponses(op.errors) };
  return out;
}

/** `POST /push/publish/batch` → `postPushPublishBatch`. */
function operationId(op: OpenApiOperation): string {
  const words = op.path
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w[0]?.toUpperCase() + w.slice(1));
  return op.method.toLowerCase() + (words.join('') || 'Root');
}

const SECRET_KEY: Json = [{ secretKey: [] }];
const ANY_KEY: Json = [{ secretKey: [] }, { apiKeyHeader: [] }, { apiKeyQuery: [] }];
const STREAM_TOKEN: Json = [{ streamToken: [] }, { streamTokenQuery: [] }];

const idempotencyHeader: Schema = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  description: 'Deduplicates retries within the idempotency window (same as the body field `idempotencyKey`).',
  schema: ref('IdempotencyKey'),
};
const lastEventIdHeader: Schema = {
  name: 'Last-Event-ID',
  in: 'header',
  required: false,
  description: 'Resume after this event id: every held event after it is replayed before live events.',
  schema: { type: 'string' },
};
const lastEventIdQuery: Schema = {
  name: 'lastEventId',
  in: 'query',
  required: false,
  description: 'The same as the `Last-Event-ID` header, for clients that cannot set headers (the header wins).',
  schema: { type: 'string' },
};
const eventStream: Schema = {
  'text/event-stream': {
    schema: { type: 'string' },
    example:
      'retry: 1000\nevent: connected\ndata: {"channels":["orders"]}\n\nid: 1732400000000-0/orders\nevent: order.created\ndata: {"orderId":"abc123"}\n\n',
  },
};

/**
 * The routes of the server, in the order of the document. The route table
 * test checks this list against the routes the application registers, so it
 * cannot drift.
 */
export function openApiOperations(limits: Pick<OpenApiLimits, 'console'>): OpenApiOperation[] {
  const ops: OpenApiOperation[] = [
    { method: 'GET', path: '/healthz', summary: 'Liveness: the process answers.', errors: [] },
    { method: 'GET', path: '/readyz', summary: 'Readiness: the broker is reachable.', errors: ['UNAVAILABLE'] },
    { method: 'GET', path: '/metrics', summary: 'Prometheus metrics.', errors: [] },
    { method: 'GET', path: '/openapi.json', summary: 'This document.', errors: [] },
    {
      method: 'POST',
      path: '/push/tokens',
      summary: 'Issue a stream token for channels.',
      errors: [
        ...AUTH_ERRORS,
        ...BODY_ERRORS,
        'INVALID_CHANNEL',
        'TOO_MANY_CHANNELS',
        'INVALID_USER_INFO',
        'TOKEN_TOO_LARGE',
      ],
    },
    { method: 'GET', path: '/push/stream', summary: 'Open the SSE stream of a token.', errors: STREAM_ERRORS },
    { method: 'POST', path: '/push/publish', summary: 'Publish one event to a channel.', errors: PUBLISH_ERRORS },
    {
      method: 'POST',
      path: '/push/publish/batch',
      summary: 'Publish up to the batch limit of events, in order.',
      errors: [...PUBLISH_ERRORS, 'BATCH_TOO_LARGE'],
    },
    {
      method: 'GET',
      path: '/push/sessions',
      summary: 'List open streams, by channel or user.',
      errors: [...AUTH_ERRORS, 'BAD_REQUEST', 'INVALID_CHANNEL', 'UNAVAILABLE'],
    },
    {
      method: 'POST',
      path: '/push/revoke',
      summary: 'Revoke tokens by id, user or issue time; their streams end on every node.',
      errors: [...AUTH_ERRORS, ...BODY_ERRORS, 'RATE_LIMITED', 'UNAVAILABLE'],
    },
    {
      method: 'POST',
      path: '/push/disconnect',
      summary: 'Close the streams of a user or one session, on every node.',
      errors: [...AUTH_ERRORS, ...BODY_ERRORS, 'INVALID_CHANNEL', 'UNAVAILABLE'],
    },
    {
      method: 'GET',
      path: '/push/presence',
      summary: 'The members of a channel, across all nodes.',
      errors: [...AUTH_ERRORS, 'BAD_REQUEST', 'INVALID_CHANNEL', 'UNAVAILABLE'],
    },
    {
      method: 'GET',
      path: '/push/channels',
      summary: "The tenant's occupied channels with connection and user counts, page by page.",
      errors: [...AUTH_ERRORS, 'BAD_REQUEST', 'UNAVAILABLE'],
    },
    {
      method: 'GET',
      path: '/v1/events/subscribe',
      summary: 'Subscribe to the event bus or a database change feed.',
      errors: [...AUTH_ERRORS, 'BAD_REQUEST', 'INVALID_FILTER', 'NOT_FOUND', 'UNAVAILABLE'],
    },
    {
      method: 'POST',
      path: '/v1/events/publish',
      summary: 'Publish a topic to the event bus.',
      errors: [...AUTH_ERRORS, ...BODY_ERRORS, 'INVALID_EVENT_NAME', 'RESERVED_EVENT_NAME', 'UNAVAILABLE'],
    },
  ];
  if (limits.console) {
    ops.push(
      { method: 'GET', path: '/', summary: 'Redirects to the developer console.', errors: [] },
      { method: 'GET', path: '/console', summary: 'The developer console (HTML).', errors: [] },
      { method: 'GET', path: '/console/{name}', summary: "One of the console's assets.", errors: ['NOT_FOUND'] },
    );
  }
  return ops;
}

/**
 * The OpenAPI 3.1 document of the HTTP API, built from the same grammar,
 * error table and limits the routes enforce. Served at `/openapi.json`.
 *
 * @param limits - the server's configuration (its limits and whether the console is on)
 * @returns the document, a plain JSON object
 * @example
 * ```ts
 * const doc = openApiDocument(config)
 * doc.paths['/push/publish'].post.operationId // 'postPushPublish'
 * ```
 */
export function openApiDocument(limits: OpenApiLimits): { [key: string]: Json } {
  const byKey = new Map(openApiOperations(limits).map((op) => [`${op.method} ${op.path}`, op]));
  const op = (method: string, path: string): OpenApiOperation => byKey.get(`${method} ${path}`) as OpenApiOperation;
  const paths: { [path: string]: { [method: string]: Json } } = {};
  const add = (method: string, path: string, spec: Parameters<typeof operation>[1]) => {
    paths[path] = { ...paths[path], [method.toLowerCase()]: operation(op(method, path), spec) };
  };
  const okJson = (schema: Schema, description = 'OK.'): Schema => ({ '200': { description, content: json(schema) } });
  const okText = (type: string, description: string): Schema => ({
    '200': { description, content: { [type]: { schema: { type: 'string' } } } },
  });

  add('GET', '/healthz', {
    security: [],
    ok: okJson({ type: 'object', properties: { status: { const: 'ok' } }, required: ['status'] }),
  });
  add('GET', '/readyz', {
    security: [],
    ok: okJson({
      type: 'object',
      properties: { status: { const: 'ready' }, broker: { type: 'string' } },
      required: ['status', 'broker'],
    }),
  });
  add('GET', '/metrics', { security: [], ok: okText('text/plain', 'Prometheus text exposition format.') });
  add('GET', '/openapi.json', { security: [], ok: okJson({ type: 'object' }, 'The OpenAPI 3.1 document.') });
  add('POST', '/push/tokens', {
    security: SECRET_KEY,
    requestBody: ref('TokenRequest'),
    ok: okJson(ref('TokenResponse')),
  });
  add('GET', '/push/stream', {
    security: STREAM_TOKEN,
    description:
      'The first event is `connected` (`{"channels","recovered"?}`), then the replay (when resuming) and live events, each with `id:` `<position>/<channel>`, `event:` and one `data:` line; `: hb` comments keep it open; `expired` ends it when the token expires.',
    parameters: [
      {
        name: 'token',
        in: 'query',
        required: false,
        description: 'The stream token (or `Authorization: Bearer <token>`).',
        schema: { type: 'string' },
      },
      {
        name: 'types',
        in: 'query',
        required: false,
        description: 'Comma-separated event names and `prefix.*` wildcards to receive.',
        schema: { type: 'string' },
      },
      lastEventIdHeader,
      lastEventIdQuery,
    ],
    ok: { '200': { description: 'The event stream.', content: eventStream } },
  });
  add('POST', '/push/publish', {
    security: SECRET_KEY,
    parameters: [idempotencyHeader],
    requestBody: ref('PublishRequest'),
    ok: okJson(ref('PublishResponse')),
  });
  add('POST', '/push/publish/batch', {
    security: SECRET_KEY,
    requestBody: {
      type: 'object',
      properties: { events: { type: 'array', minItems: 1, maxItems: limits.maxBatch, items: ref('PublishRequest') } },
      required: ['events'],
    },
    ok: okJson({
      type: 'object',
      properties: { results: { type: 'array', items: ref('PublishResponse') } },
      required: ['results'],
    }),
  });
  add('GET', '/push/sessions', {
    security: SECRET_KEY,
    parameters: [
      { name: 'channel', in: 'query', required: false, schema: ref('Channel') },
      { name: 'userId', in: 'query', required: false, schema: ref('UserId') },
    ],
    ok: okJson({
      type: 'object',
      properties: { sessions: { type: 'array', items: ref('Session') } },
      required: ['sessions'],
    }),
  });
  add('POST', '/push/revoke', {
    security: SECRET_KEY,
    description:
      'Exactly one of `tokenId`, `userId` or `issuedBefore` (`userId` and `issuedBefore` may come together). Every open stream of a covered token gets a final `revoked` event and closes; later stream requests with it answer 401 `TOKEN_REVOKED`.',
    requestBody: ref('RevokeRequest'),
    ok: okJson({
      type: 'object',
      properties: { revoked: { type: 'integer', minimum: 0, description: 'Streams closed, on every node.' } },
      required: ['revoked'],
    }),
  });
  add('POST', '/push/disconnect', {
    security: SECRET_KEY,
    description:
      'Exactly one of `userId` or `sessionId`. Each matching stream gets a final `disconnected` event (`{"reason","reconnect"}`) and closes; its token stays valid.',
    requestBody: ref('DisconnectRequest'),
    ok: okJson({
      type: 'object',
      properties: { disconnected: { type: 'integer', minimum: 0, description: 'Streams closed, on every node.' } },
      required: ['disconnected'],
    }),
  });
  add('GET', '/push/presence', {
    security: SECRET_KEY,
    parameters: [{ name: 'channel', in: 'query', required: true, schema: ref('Channel') }],
    ok: okJson(ref('PresenceResponse')),
  });
  add('GET', '/push/channels', {
    security: SECRET_KEY,
    parameters: [
      {
        name: 'prefix',
        in: 'query',
        required: false,
        description: 'Only channels whose name starts with it.',
        schema: { type: 'string' },
      },
      {
        name: 'limit',
        in: 'query',
        required: false,
        description: 'Channels per page.',
        schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
      },
      {
        name: 'cursor',
        in: 'query',
        required: false,
        description: 'The `cursor` of the previous page, as is.',
        schema: { type: 'string' },
      },
    ],
    ok: okJson(ref('ChannelsResponse')),
  });
  add('GET', '/v1/events/subscribe', {
    security: ANY_KEY,
    parameters: [
      {
        name: 'topic',
        in: 'query',
        required: false,
        description: 'Topics to receive: names and `prefix.*` wildcards, comma-separated.',
        schema: { type: 'string' },
      },
      {
        name: 'collection',
        in: 'query',
        required: false,
        description: 'A watched table, for its change feed.',
        schema: { type: 'string' },
      },
      lastEventIdHeader,
      lastEventIdQuery,
    ],
    ok: { '200': { description: 'The event stream.', content: eventStream } },
  });
  add('POST', '/v1/events/publish', {
    security: SECRET_KEY,
    parameters: [idempotencyHeader],
    requestBody: {
      type: 'object',
      properties: { topic: ref('EventName'), data: ref('Data'), idempotencyKey: ref('IdempotencyKey') },
      required: ['topic', 'data'],
    },
    ok: okJson(ref('PublishResponse')),
  });
  if (limits.console) {
    paths['/'] = {
      get: {
        summary: op('GET', '/').summary,
        operationId: 'getRoot',
        security: [],
        responses: { '302': { description: 'To `/console/`.' } },
      },
    };
    add('GET', '/console', { security: [], ok: okText('text/html', 'The console page.') });
    add('GET', '/console/{name}', {
      security: [],
      parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }],
      ok: okText('application/octet-stream', 'The asset (script, stylesheet or image).'),
    });
  }

  return {
    openapi: '3.1.0',
    info: {
      title: 'Cast HTTP API',
      version: '1',
      description:
        'Realtime push over Server-Sent Events: issue channel-scoped stream tokens, publish events, stream them. Every error answers `{"error":{"code","message"}}` with a code from the error table.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    paths,
    webhooks: {
      castEvents: {
        post: {
          summary: 'Lifecycle events, POSTed to each URL of the tenant in CAST_WEBHOOKS (see the webhooks guide).',
          operationId: 'castWebhook',
          parameters: [
            {
              name: WEBHOOK_SIGNATURE_HEADER,
              in: 'header',
              required: true,
              description: '`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the webhook secret>`.',
              schema: { type: 'string', pattern: '^t=\\d+,v1=[0-9a-f]{64}$' },
            },
          ],
          requestBody: { required: true, content: json(ref('WebhookBody')) },
          responses: {
            '2XX': { description: 'Acknowledges the whole batch.' },
            default: { description: 'Any other answer, or none within 5 s, is retried with backoff for 24 hours.' },
          },
        },
      },
    },
    components: {
      securitySchemes: {
        secretKey: { type: 'http', scheme: 'bearer', description: 'A secret API key (`CAST_API_KEYS`).' },
        apiKeyHeader: { type: 'apiKey', in: 'header', name: 'apikey', description: 'A public or secret API key.' },
        apiKeyQuery: {
          type: 'apiKey',
          in: 'query',
          name: 'apikey',
          description: 'A public or secret API key, for clients that cannot set headers.',
        },
        streamToken: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'A stream token from `POST /push/tokens`.',
        },
        streamTokenQuery: {
          type: 'apiKey',
          in: 'query',
          name: 'token',
          description: 'A stream token, for EventSource.',
        },
      },
      schemas: {
        Error: {
          type: 'object',
          properties: {
            error: {
              type: 'object',
              properties: { code: { type: 'string', enum: Object.keys(ERROR_CODES) }, message: { type: 'string' } },
              required: ['code', 'message'],
            },
          },
          required: ['error'],
        },
        Channel: { type: 'string', pattern: CHANNEL_PATTERN.source, examples: ['orders', 'user:user_123'] },
        EventName: {
          type: 'string',
          pattern: EVENT_NAME_PATTERN.source,
          not: { enum: [...RESERVED_EVENT_NAMES] },
          examples: ['order.created'],
        },
        UserId: { type: 'string', minLength: 1, maxLength: 256, description: 'No control characters.' },
        IdempotencyKey: { type: 'string', pattern: '^[\\x21-\\x7e]{1,255}$' },
        Data: { description: `Any JSON value, at most ${limits.maxPayloadBytes} bytes; delivered as published.` },
        TokenRequest: {
          type: 'object',
          properties: {
            channels: { type: 'array', minItems: 1, maxItems: limits.maxChannelsPerToken, items: ref('Channel') },
            userId: ref('UserId'),
            ttlSeconds: { type: 'integer', minimum: 1, maximum: limits.maxTokenTtlSeconds, default: 3600 },
            presence: {
              type: 'boolean',
              default: false,
              description: 'The stream receives the `presence.*` events of its channels.',
            },
            userInfo: {
              type: 'object',
              description: 'What other members see about the user (with `userId`), at most 1 KiB of JSON.',
            },
          },
          required: ['channels'],
          examples: [{ channels: ['orders', 'user:user_123'], userId: 'user_123', ttlSeconds: 900 }],
        },
        TokenResponse: {
          type: 'object',
          properties: {
            token: { type: 'string' },
            expiresAt: { type: 'string', format: 'date-time' },
            channels: { type: 'array', items: ref('Channel') },
            tokenId: { type: 'string', description: "The token's id (`jti`), for `POST /push/revoke`." },
          },
          required: ['token', 'expiresAt', 'channels'],
        },
        RevokeRequest: {
          type: 'object',
          properties: {
            tokenId: {
              type: 'string',
              minLength: 1,
              maxLength: 128,
              description: 'One token, by the `tokenId` it was issued with.',
            },
            userId: ref('UserId'),
            issuedBefore: {
              type: 'string',
              format: 'date-time',
              description: 'Tokens issued before this time (not in the future).',
            },
          },
          examples: [
            { userId: 'user_123' },
            { tokenId: '6f1c1b0e-2f4d-4c1a-9d8e-0a1b2c3d4e5f' },
            { issuedBefore: '2026-01-31T12:00:00Z' },
          ],
        },
        DisconnectRequest: {
          type: 'object',
          properties: {
            userId: ref('UserId'),
            sessionId: {
              type: 'string',
              minLength: 1,
              maxLength: 128,
              description: 'An `id` from `GET /push/sessions`.',
            },
            channel: ref('Channel'),
            reconnect: { type: 'boolean', default: false, description: 'Whether the client reconnects.' },
          },
          examples: [{ userId: 'user_123', reconnect: true }],
        },
        PresenceMember: {
          type: 'object',
          properties: {
            userId: { type: 'string' },
            userInfo: { type: ['object', 'null'] },
            connections: { type: 'integer', minimum: 0 },
          },
          required: ['userId', 'userInfo', 'connections'],
        },
        PresenceResponse: {
          type: 'object',
          properties: {
            channel: ref('Channel'),
            members: { type: 'array', items: ref('PresenceMember') },
            connections: {
              type: 'integer',
              minimum: 0,
              description: 'Open streams on the channel, those without a user included.',
            },
          },
          required: ['channel', 'members', 'connections'],
        },
        ChannelsResponse: {
          type: 'object',
          properties: {
            channels: {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  channel: ref('Channel'),
                  connections: { type: 'integer', minimum: 1 },
                  users: { type: 'integer', minimum: 0 },
                },
                required: ['channel', 'connections', 'users'],
              },
            },
            cursor: { type: ['string', 'null'], description: 'Pass as `cursor` for the next page; null on the last.' },
          },
          required: ['channels', 'cursor'],
        },
        PublishRequest: {
          type: 'object',
          properties: {
            channel: ref('Channel'),
            event: ref('EventName'),
            data: ref('Data'),
            idempotencyKey: ref('IdempotencyKey'),
          },
          required: ['channel', 'event', 'data'],
          examples: [{ channel: 'orders', event: 'order.created', data: { orderId: 'abc123', total: 4999 } }],
        },
        PublishResponse: {
          type: 'object',
          properties: {
            messageId: { type: 'string', format: 'uuid' },
            eventId: { type: 'string', description: 'The SSE id of the event: `<position>/<channel>`.' },
            delivered: {
              type: 'integer',
              minimum: 0,
              description: 'Streams that received it at publish time, on every node.',
            },
            creditsUsed: { const: 0 },
            duplicate: { type: 'boolean', description: 'True when the idempotency key was seen before.' },
          },
          required: ['messageId', 'eventId', 'delivered', 'creditsUsed'],
        },
        WebhookEvent: {
          type: 'object',
          properties: {
            id: { type: 'string', description: 'Unique per event, the same on every retry: deduplicate on it.' },
            type: { type: 'string', enum: [...WEBHOOK_EVENT_TYPES] },
            tenant: { type: 'string' },
            channel: ref('Channel'),
            userId: ref('UserId'),
            at: { type: 'string', format: 'date-time' },
          },
          required: ['id', 'type', 'tenant', 'channel', 'at'],
        },
        WebhookBody: {
          type: 'object',
          properties: { events: { type: 'array', minItems: 1, maxItems: 100, items: ref('WebhookEvent') } },
          required: ['events'],
        },
        Session: {
          type: 'object',
          properties: {
            id: { type: 'string' },
            userId: { type: ['string', 'null'] },
            channels: { type: 'array', items: ref('Channel') },
            connectedAt: { type: 'string', format: 'date-time' },
          },
          required: ['id', 'userId', 'channels', 'connectedAt'],
        },
      },
    },
  };
}
