import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import {
  type ConnectedData,
  comparePositions,
  type EventMatcher,
  type EventPosition,
  createMatcher,
  isValidPattern,
  parsePatternList,
  parseWireId,
} from '@cast/protocol';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import type { Handler } from 'hono';
import { readBearer } from '../auth/bearer.js';
import type { TokenGrant } from '../auth/tokens.js';
import type { PresenceSnapshot, ReplayPage } from '../broker/types.js';
import { isPresenceEvent } from '../presence/events.js';
import type { ServerDeps } from '../context.js';
import { corsHeaders } from '../cors.js';
import { fail } from '../errors.js';
import { outgoingOf } from '../node-request.js';
import { type HttpRequest, requestOf } from '../request.js';
import { connectedFrame, eventFrame, syncFrame } from '../stream/frames.js';
import { NodeSink, releaseSentText, type StreamSink, webSink } from '../stream/sink.js';
import { type LogFrame, StreamConnection } from '../stream/connection.js';

/** The filter of streams without `types`: one shared function, not one per stream. */
const MATCH_ALL = createMatcher([]);
/** The same for streams without presence: everything but the presence events. */
const MATCH_ALL_BUT_PRESENCE: EventMatcher = (name) => !isPresenceEvent(name);

/** A stream whose token lacks `presence: true` carries no presence event, live or replayed. */
function withoutPresence(matcher: EventMatcher): EventMatcher {
  return matcher === MATCH_ALL ? MATCH_ALL_BUT_PRESENCE : (name) => !isPresenceEvent(name) && matcher(name);
}

/**
 * A stream whose token has `presence: true` carries its channels' presence
 * events whatever its `types` filter: the token decides presence traffic, the
 * filter the application's events (so a client filtering on `order.*` still
 * keeps its presence views).
 */
function withPresence(matcher: EventMatcher): EventMatcher {
  return matcher === MATCH_ALL ? MATCH_ALL : (name) => isPresenceEvent(name) || matcher(name);
}

function readToken(req: HttpRequest): string {
  const query = req.query('token');
  if (query) return query;
  const bearer = readBearer(req);
  if (bearer) return bearer;
  fail('UNAUTHORIZED', 'Missing token: pass ?token=<token> or "Authorization: Bearer <token>".');
}

/** The `types` filter's patterns, checked; undefined without one. */
function readFilter(req: HttpRequest): string[] | undefined {
  const raw = req.query('types');
  if (raw === undefined) return undefined;
  const patterns = parsePatternList(raw);
  for (const p of patterns) {
    if (!isValidPattern(p))
      fail(
        'INVALID_FILTER',
        `"${(p as string).slice(0, 140)}" is not a valid type filter: use "*", "prefix.*" or an event name.`,
      );
  }
  return patterns;
}

/**
 * A filter's patterns as a stream keeps them: sorted and without repeats, or
 * undefined when they take every event (none, or `*`). Two streams with the
 * same filter hold the same list, so a broker can count them together.
 */
function countedTypes(patterns: readonly string[] | undefined): string[] | undefined {
  if (!patterns || patterns.length === 0 || patterns.includes('*')) return undefined;
  return [...new Set(patterns)].sort();
}

/**
 * Reads where a stream resumes: the `Last-Event-ID` header, else the
 * `lastEventId` query parameter, parsed here once into the log position
 * the rest of the stream passes around. `unknown` for an id this server
 * cannot have sent: the stream still opens, live, with `recovered: false`
 * (a 4xx would end an EventSource for good).
 *
 * @param req - the request
 * @returns the position to resume after, `unknown`, or undefined for a fresh stream
 * @example
 * ```ts
 * readResume(req) // { ms: 1732400000000, seq: 3 } for Last-Event-ID: 1732400000000-3/orders
 * ```
 */
export function readResume(req: HttpRequest): EventPosition | 'unknown' | undefined {
  // The header (what EventSource and the Cast client send) wins over the query parameter.
  const raw = req.header('last-event-id') ?? req.query('lastEventId');
  if (raw === undefined || raw.trim() === '') return undefined;
  const id = parseWireId(raw);
  return id ? { ms: id.ms, seq: id.seq } : 'unknown';
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
 * server stops. The plain `node:http` handler and Hono both serve the route
 * through here.
 *
 * @param deps - the server's services
 * @param req - the request
 * @param outgoing - the Node response to stream on; without one, the stream is a web `Response`
 * @returns that web `Response`, or undefined when the answer went to `outgoing`
 * @example
 * ```ts
 * await serveStream(deps, new NodeHttpRequest(incoming), outgoing)
 * ```
 */
export async function serveStream(
  deps: ServerDeps,
  req: HttpRequest,
  outgoing: ServerResponse | undefined,
): Promise<Response | undefined> {
  const grant = await deps.tokens.verify(readToken(req));
  const types = readFilter(req);
  const resume = readResume(req);
  const revocations = await deps.broker.revocations(grant.tenant);
  // No await from this check until the stream is in the hub: a revocation
  // arriving meanwhile either is in the list already or finds the stream.
  if (revocations.covers(grant)) {
    fail(
      'TOKEN_REVOKED',
      'The token was revoked; ask your backend for a new one (a token issued after the revocation works).',
    );
  }
  return openStream(req, outgoing, deps, { grant, types, resume });
}

/** Hono's handler of `GET /push/stream` (see {@link serveStream}). */
export function streamRoute(deps: ServerDeps): Handler {
  return async (c) => (await serveStream(deps, requestOf(c), outgoingOf(c))) ?? RESPONSE_ALREADY_SENT;
}

/** What a stream serves: whose events, which ones, and where to resume. */
export interface StreamRequest {
  grant: Pick<TokenGrant, 'tenant' | 'channels' | 'userId'> &
    Partial<Pick<TokenGrant, 'tokenId' | 'issuedAt' | 'presence' | 'userInfo'>> & { expiresAt: number | undefined };
  /** The event types it takes (`types`, `topic`: `*`, `prefix.*` or names, checked); undefined: every event. */
  types: readonly string[] | undefined;
  resume: EventPosition | 'unknown' | undefined;
}

/**
 * Opens an SSE response for an authorized request. Shared by every stream
 * route (`/push/stream`, `/v1/events/subscribe`).
 *
 * @param http - the request (its method and `Origin`)
 * @param outgoing - the Node response to stream on; without one, the stream is a web `Response`
 * @param deps - the server's services
 * @param req - whose events, which ones, where to resume
 * @returns that web `Response`, or undefined when the answer went to `outgoing`
 */
export async function openStream(
  http: HttpRequest,
  outgoing: ServerResponse | undefined,
  deps: ServerDeps,
  req: StreamRequest,
): Promise<Response | undefined> {
  const { config, hub, broker, metrics } = deps;
  const { grant, resume } = req;
  const types = countedTypes(req.types);
  const matcher = types ? createMatcher(types) : MATCH_ALL;
  const headers = { ...STREAM_HEADERS, ...corsHeaders(config.corsOrigins, http.header('origin')) };
  // HEAD: the headers a GET would get (after the same checks), and no stream: nothing registered, the response ends.
  if (http.method === 'HEAD') {
    if (!outgoing) return new Response(null, { status: 200, headers });
    outgoing.writeHead(200, headers);
    outgoing.end();
    return undefined;
  }

  let sink: StreamSink;
  let response: Response | undefined;
  if (outgoing) {
    outgoing.writeHead(200, headers);
    outgoing.flushHeaders();
    outgoing.socket?.setNoDelay(true);
    // Everything the request holds was read: the stream keeps neither its token text nor its sent head.
    releaseSentText(outgoing);
    sink = new NodeSink(outgoing);
    response = undefined;
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
    types,
    matcher: presence ? withPresence(matcher) : withoutPresence(matcher),
    maxPendingBytes: config.connectionBufferBytes,
    // A replay whose peer takes nothing for two heartbeat intervals is a slow consumer.
    stallMs: 2 * config.heartbeatMs,
    expiresAt: grant.expiresAt,
    tokenId: grant.tokenId,
    issuedAt: grant.issuedAt,
    owner: hub,
  });

  const replaying = resume !== undefined && resume !== 'unknown';
  // Live frames wait while the stream replays or, fresh, takes its presence snapshot.
  if (replaying) conn.holdLive();
  else if (presence) conn.holdLive(false);
  // Redis: the stream counts for `delivered` everywhere (and has its floor) before it says `connected`.
  // Its own presence join is sent to the store as the hub adds it, so a snapshot taken after holds its user.
  await hub.add(conn);

  const connected: ConnectedData = { channels: grant.channels };
  if (!replaying) {
    if (resume === 'unknown') {
      metrics.replays++;
      metrics.replaysUnrecovered++;
      connected.recovered = false;
    }
    conn.send(connectedFrame(config.retryMs, connected));
    hub.watchExpiry(conn);
    if (presence) {
      // A fresh or unrecovered stream starts its presence from a snapshot, sent right after `connected`.
      syncPresence(conn, deps, req, undefined).catch((err: unknown) => {
        console.error('cast: presence snapshot failed', err);
        conn.close('shutdown');
      });
    }
  } else {
    metrics.replays++;
    // Not awaited: the replay runs as the peer reads, which (on a web stream) starts once the response is returned.
    replay(conn, deps, req, resume, connected).catch((err: unknown) => {
      console.error('cast: replay failed', err);
      conn.close('shutdown');
    });
  }
  return response;
}

/**
 * Where live delivery takes over after a replay: the newest position replayed
 * (or the resume point). The client has everything up to it, so a recovered
 * replay hands off there even when the page ends before it (a Redis node whose
 * feed is catching up ends its page before events it has not had yet; the
 * client may have them from elsewhere). An unrecovered one never hands off
 * past the log's end: a resume from beyond it (an id this log never gave)
 * would otherwise wait for the clock to pass it before any live event flowed.
 */
function handOff(last: EventPosition, end: EventPosition | undefined, recovered: boolean): EventPosition | undefined {
  if (recovered) return last;
  if (end === undefined) return undefined;
  return comparePositions(last, end) > 0 ? end : last;
}

/**
 * Ends a presence stream's hold with one `presence.sync` per channel at the
 * snapshot's log position: the held events up to it (but the presence events
 * the sync replaces), the syncs (with that position as their id, so a resume
 * from them continues right after), then the events after it. The snapshot
 * is taken after everything the stream already got (`from`, where its replay
 * ended), and the sync waits until this node has delivered every event up to
 * the snapshot, so sync + the events after it are exactly the membership.
 * Without a snapshot (the store unreachable) the stream goes live as it is.
 */
async function syncPresence(
  conn: StreamConnection,
  deps: ServerDeps,
  req: StreamRequest,
  from: EventPosition | undefined,
): Promise<void> {
  const { broker } = deps;
  const { grant } = req;
  let snapshot: PresenceSnapshot | undefined;
  let at: EventPosition | undefined;
  try {
    snapshot = await broker.presence.snapshot(grant.tenant, grant.channels);
    at = snapshot.position;
    if (at) await broker.presence.caughtUp(grant.tenant, at);
  } catch (err) {
    console.error('cast: presence snapshot failed', err);
    snapshot = undefined;
  }
  if (conn.isClosed) return;
  if (!snapshot) {
    if (conn.takeDropped()) conn.close('shutdown');
    else conn.goLive(from);
    return;
  }
  const frames = conn.wants('presence.sync')
    ? snapshot.channels.map(({ channel, members }) => syncFrame(snapshot.position, channel, members))
    : [];
  // An empty log: the sync has no position; every held event comes after it.
  conn.resync(at, frames, from);
}

/**
 * Sends `connected` and the replay after `resume`, page by page: a page is
 * read only once the socket has taken the previous one, so a resume holds
 * about one page (half the connection buffer) whatever the history's size.
 * Then hands over to live delivery with every event once. A presence stream
 * whose history was not recovered gets a `presence.sync` at the replay's end
 * instead of the presence events replayed (see {@link syncPresence}).
 */
async function replay(
  conn: StreamConnection,
  deps: ServerDeps,
  req: StreamRequest,
  resume: EventPosition,
  connected: ConnectedData,
): Promise<void> {
  const { broker, config, metrics } = deps;
  const { grant } = req;
  const pageBytes = Math.max(1, Math.floor(config.connectionBufferBytes / 2));
  let from = resume;
  let first = true;
  let recovered = true;
  /** The newest position replayed (or read past), else the resume point. */
  let last: EventPosition = resume;
  for (;;) {
    conn.takeDropped();
    let page: ReplayPage;
    try {
      page = await broker.replayPage(grant.tenant, grant.channels, from, pageBytes);
    } catch (err) {
      if (!first) {
        // The client keeps what it got and resumes from there.
        conn.close('shutdown');
        return;
      }
      // The log is unreachable (e.g. Redis down): go live and say that history could not be replayed.
      console.error('cast: replay failed', err);
      metrics.replaysUnrecovered++;
      connected.recovered = false;
      conn.send(connectedFrame(config.retryMs, connected));
      deps.hub.watchExpiry(conn);
      if (conn.presence) await syncPresence(conn, deps, req, undefined);
      else conn.goLive(undefined);
      return;
    }
    if (conn.isClosed) return;
    if (first) {
      first = false;
      // A `$db:` channel's changes reach the log only while its watch is active: the feeds say whether it was.
      recovered = page.recovered && (deps.feeds?.covers(grant.tenant, grant.channels, resume) ?? true);
      connected.recovered = recovered;
      if (!recovered) metrics.replaysUnrecovered++;
      conn.send(connectedFrame(config.retryMs, connected));
      deps.hub.watchExpiry(conn);
    } else if (!page.recovered && recovered) {
      // Trimmed while this replay ran: end the stream; the client resumes and learns recovered: false.
      conn.close('shutdown');
      return;
    }
    // An unrecovered presence stream gets a sync after the replay: the presence events it replaces are left out.
    const syncing = conn.presence && !recovered;
    const frames: LogFrame[] = [];
    for (const event of page.events) {
      last = event.position;
      if (syncing && isPresenceEvent(event.event)) continue;
      // The stream's own filter: without presence, no presence event is replayed either.
      if (conn.wants(event.event)) frames.push({ at: event.position, frame: eventFrame(event) });
    }
    metrics.replayedEvents += frames.length;
    if (!(await conn.sendPage(frames))) return;
    if (page.next !== undefined) {
      from = page.next;
      continue;
    }
    const { end } = page;
    if (conn.takeDropped()) {
      // Live frames held meanwhile passed the limit and were dropped: they are in the log, read on.
      last = handOff(last, end, recovered) ?? last;
      if (end && comparePositions(end, last) > 0) last = end;
      from = last;
      continue;
    }
    if (syncing) await syncPresence(conn, deps, req, handOff(last, end, recovered));
    else conn.goLive(handOff(last, end, recovered));
    return;
  }
}
