import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import {
  type ConnectedData,
  type EventMatcher,
  createMatcher,
  comparePositions,
  encodeFrame,
  isValidPattern,
  parsePatternList,
  parsePosition,
  parseWireId,
} from '@cast/protocol';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import type { Context, Handler } from 'hono';
import type { TokenGrant } from '../auth/tokens.js';
import type { PresenceSnapshot, StoredEvent } from '../broker/types.js';
import { isPresenceEvent, syncFrame } from '../presence/events.js';
import type { ServerDeps } from '../context.js';
import { corsHeaders } from '../cors.js';
import { fail } from '../errors.js';
import { requestHeader } from '../node-request.js';
import { eventFrame } from './hub.js';
import { NodeSink, type StreamSink, webSink } from './sink.js';
import { StreamConnection } from './writer.js';

/** The filter of streams without `types`: one shared function, not one per stream. */
const MATCH_ALL = createMatcher([]);
/** The same for streams without presence: everything but the presence events. */
const MATCH_ALL_BUT_PRESENCE: EventMatcher = (name) => !isPresenceEvent(name);

/** A stream whose token lacks `presence: true` carries no presence event, live or replayed. */
function withoutPresence(matcher: EventMatcher): EventMatcher {
  return matcher === MATCH_ALL ? MATCH_ALL_BUT_PRESENCE : (name) => !isPresenceEvent(name) && matcher(name);
}

function readToken(c: Context): string {
  const query = c.req.query('token');
  if (query) return query;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(requestHeader(c, 'authorization') ?? '');
  if (m?.[1]) return m[1];
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
  grant: Pick<TokenGrant, 'tenant' | 'channels' | 'userId'> &
    Partial<Pick<TokenGrant, 'presence' | 'userInfo'>> & { expiresAt: number | undefined };
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

  const presence = grant.presence === true && deps.presence !== undefined;
  // No closure here outlives this call: an idle stream keeps only its connection.
  const conn = new StreamConnection(sink, {
    id: randomUUID(),
    tenant: grant.tenant,
    channels: grant.channels,
    userId: grant.userId,
    presence,
    userInfo: grant.userInfo ?? null,
    matcher: presence ? matcher : withoutPresence(matcher),
    maxPendingBytes: config.connectionBufferBytes,
    expiresAt: grant.expiresAt,
    owner: hub,
  });

  // Live frames wait while the stream replays or takes its presence snapshot.
  const holding = resume !== undefined || presence;
  if (holding) conn.holdLive();
  hub.add(conn);

  const connected: ConnectedData = { channels: grant.channels };
  let last: { ms: number; seq: number } | undefined;
  let replayed: StoredEvent[] = [];
  if (resume) {
    metrics.replays++;
    try {
      const result = await broker.replay(grant.tenant, grant.channels, resume.position);
      connected.recovered = result.recovered;
      last = { ms: resume.ms, seq: resume.seq };
      replayed = result.events.filter((event) => conn.wants(event.event));
      const tail = result.events[result.events.length - 1];
      if (tail) last = parsePosition(tail.position) ?? last;
      metrics.replayedEvents += replayed.length;
    } catch (err) {
      // The log is unreachable (e.g. Redis down): go live and say that history could not be replayed.
      console.error('cast: replay failed', err);
      connected.recovered = false;
    }
    if (connected.recovered === false) metrics.replaysUnrecovered++;
  }

  // A fresh or unrecovered stream starts its presence from a snapshot; a recovered resume already has it.
  let snapshot: PresenceSnapshot | undefined;
  if (presence && connected.recovered !== true) {
    try {
      // The stream's own join was sent to the store when the hub added it, so the snapshot,
      // sent after it, holds its user.
      snapshot = await broker.presence.snapshot(grant.tenant, grant.channels);
    } catch (err) {
      console.error('cast: presence snapshot failed', err);
    }
  }

  conn.send(Buffer.from(encodeFrame({ retry: config.retryMs, event: 'connected', data: JSON.stringify(connected) })));
  const frames = snapshot ? framesWithSync(conn, replayed, snapshot) : replayed.map(eventFrame);
  conn.allowBurst(frames.reduce((n, f) => n + f.byteLength, 0));
  for (const frame of frames) conn.send(frame);
  const at = snapshot?.position === undefined ? undefined : parsePosition(snapshot.position);
  if (at && (!last || comparePositions(at, last) > 0)) last = at;
  if (holding) conn.goLive(last);

  hub.watchExpiry(conn);
  return response;
}

/**
 * The replayed frames with one `presence.sync` per channel at the snapshot's
 * log position: events up to it (but the presence events the sync replaces),
 * the syncs (with that position as their id, so a resume from them continues
 * right after), then the events after it.
 */
function framesWithSync(conn: StreamConnection, replayed: StoredEvent[], snapshot: PresenceSnapshot): Buffer[] {
  const at = snapshot.position === undefined ? undefined : parsePosition(snapshot.position);
  const frames: Buffer[] = [];
  let i = 0;
  for (; i < replayed.length; i++) {
    const event = replayed[i] as StoredEvent;
    const p = parsePosition(event.position);
    if (!at || !p || comparePositions(p, at) > 0) break;
    if (!isPresenceEvent(event.event)) frames.push(eventFrame(event));
  }
  if (conn.wants('presence.sync')) {
    for (const { channel, members } of snapshot.channels) frames.push(syncFrame(snapshot.position, channel, members));
  }
  for (; i < replayed.length; i++) frames.push(eventFrame(replayed[i] as StoredEvent));
  return frames;
}
