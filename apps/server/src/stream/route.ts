import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import {
  type ConnectedData,
  type EventMatcher,
  createMatcher,
  encodeFrame,
  isValidPattern,
  parsePatternList,
  parsePosition,
  parseWireId,
} from '@cast/protocol';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import type { Context, Handler } from 'hono';
import { readBearer } from '../auth/bearer.js';
import type { TokenGrant } from '../auth/tokens.js';
import type { ServerDeps } from '../context.js';
import { corsHeaders } from '../cors.js';
import { fail } from '../errors.js';
import { requestHeader } from '../node-request.js';
import { eventFrame } from './hub.js';
import { NodeSink, type StreamSink, webSink } from './sink.js';
import { StreamConnection } from './writer.js';

/** The filter of streams without `types`: one shared function, not one per stream. */
const MATCH_ALL = createMatcher([]);

function readToken(c: Context): string {
  const query = c.req.query('token');
  if (query) return query;
  const bearer = readBearer(c);
  if (bearer) return bearer;
  fail('UNAUTHORIZED', 'Missing token: pass ?token=<token> or "Authorization: Bearer <token>".');
}

function readFilter(c: Context): EventMatcher {
  const raw = c.req.query('types');
  if (raw === undefined) return MATCH_ALL;
  const patterns = parsePatternList(raw);
  for (const p of patterns) {
    if (!isValidPattern(p)) fail('INVALID_FILTER', `"${(p as string).slice(0, 140)}" is not a valid type filter: use "*", "prefix.*" or an event name.`);
  }
  return createMatcher(patterns);
}

/** Reads where a stream resumes: the `Last-Event-ID` header, else the `lastEventId` query parameter. */
export function readResume(c: Context): { position: string; ms: number; seq: number } | undefined {
  // The header (what EventSource and the Cast client send) wins over the query parameter.
  const raw = requestHeader(c, 'last-event-id') ?? c.req.query('lastEventId');
  if (raw === undefined || raw.trim() === '') return undefined;
  const parsed = parseWireId(raw);
  if (!parsed) fail('INVALID_EVENT_ID', 'Last-Event-ID is not an id this server sent (expected <ms>-<seq>/<channel>).');
  return parsed;
}

const STREAM_HEADERS: Record<string, string> = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache, no-transform',
  Connection: 'keep-alive',
  // Tells nginx-style proxies not to buffer the stream.
  'X-Accel-Buffering': 'no',
};

/**
 * `GET /push/stream`: authorizes by token, then streams `connected`, the
 * replay (when resuming) and live events, with heartbeats, until the client
 * leaves, the token expires, the connection falls too far behind or the
 * server stops.
 */
export function streamRoute(deps: ServerDeps): Handler {
  return async (c) => {
    const grant = await deps.tokens.verify(readToken(c));
    const matcher = readFilter(c);
    const resume = readResume(c);
    return openStream(c, deps, { grant, matcher, resume });
  };
}

/** What a stream serves: whose events, which ones, and where to resume. */
export interface StreamRequest {
  grant: Pick<TokenGrant, 'tenant' | 'channels' | 'userId'> & { expiresAt: number | undefined };
  matcher: EventMatcher;
  resume: { position: string; ms: number; seq: number } | undefined;
}

/**
 * Opens an SSE response for an authorized request. Shared by every stream
 * route (`/push/stream`, `/v1/events/subscribe`).
 */
export async function openStream(c: Context, deps: ServerDeps, req: StreamRequest): Promise<Response> {
  const { config, hub, broker, metrics } = deps;
  const { grant, matcher, resume } = req;
  const headers = { ...STREAM_HEADERS, ...corsHeaders(config.corsOrigins, requestHeader(c, 'origin')) };

  const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
  let sink: StreamSink;
  let response: Response;
  if (outgoing) {
    outgoing.writeHead(200, headers);
    outgoing.flushHeaders();
    outgoing.socket?.setNoDelay(true);
    sink = new NodeSink(outgoing);
    response = RESPONSE_ALREADY_SENT;
  } else {
    const web = webSink();
    sink = web.sink;
    response = new Response(web.body, { status: 200, headers });
  }

  // No closure here outlives this call: an idle stream keeps only its connection.
  const conn = new StreamConnection(sink, {
    id: randomUUID(),
    tenant: grant.tenant,
    channels: grant.channels,
    userId: grant.userId,
    matcher,
    maxPendingBytes: config.connectionBufferBytes,
    expiresAt: grant.expiresAt,
    owner: hub,
  });

  if (resume) conn.holdLive();
  hub.add(conn);

  const connected: ConnectedData = { channels: grant.channels };
  let last: { ms: number; seq: number } | undefined;
  const replayFrames: Buffer[] = [];
  if (resume) {
    metrics.replays++;
    try {
      const result = await broker.replay(grant.tenant, grant.channels, resume.position);
      connected.recovered = result.recovered;
      last = { ms: resume.ms, seq: resume.seq };
      for (const event of result.events) {
        if (!matcher(event.event)) continue;
        replayFrames.push(eventFrame(event));
      }
      const tail = result.events[result.events.length - 1];
      if (tail) last = parsePosition(tail.position) ?? last;
      metrics.replayedEvents += replayFrames.length;
    } catch (err) {
      // The log is unreachable (e.g. Redis down): go live and say that history could not be replayed.
      console.error('cast: replay failed', err);
      connected.recovered = false;
    }
    if (connected.recovered === false) metrics.replaysUnrecovered++;
  }

  conn.send(Buffer.from(encodeFrame({ retry: config.retryMs, event: 'connected', data: JSON.stringify(connected) })));
  conn.allowBurst(replayFrames.reduce((n, f) => n + f.byteLength, 0));
  for (const frame of replayFrames) conn.send(frame);
  if (resume) conn.goLive(last);

  hub.watchExpiry(conn);
  return response;
}
