/**
 * The better-sse peer: each channel is a better-sse `Channel`, each
 * subscriber a `Session` registered with it, and every event goes out with
 * `channel.broadcast(data, event, { eventId })`, as its README recommends for
 * sending to many clients. The data is already JSON, so the serializer passes
 * it through.
 */
import type http from 'node:http';
import { type Channel, createChannel, createSession } from 'better-sse';
import type { FanoutEngine } from '../baseline/hub.js';

/**
 * Creates the better-sse fan-out engine.
 *
 * @param heartbeatMs - keep-alive interval of each session
 * @returns the engine
 * @example
 * ```ts
 * createBaselineHub({ apiKeys, signingSecret, fanout: createBetterSseFanout(15_000) });
 * ```
 */
export function createBetterSseFanout(heartbeatMs: number): FanoutEngine {
  const channels = new Map<string, Channel>();
  const channelOf = (key: string): Channel => {
    let ch = channels.get(key);
    if (!ch) {
      ch = createChannel();
      channels.set(key, ch);
    }
    return ch;
  };
  return {
    name: 'better-sse',
    async subscribe(req: http.IncomingMessage, res: http.ServerResponse, keys, first) {
      const session = await createSession(req, res, {
        serializer: (data) => String(data),
        retry: null,
        keepAlive: heartbeatMs,
        trustClientEventId: false,
      });
      res.socket?.setNoDelay(true);
      // The connected frame and any replay are already encoded by the hub; live events come from the channel.
      res.write(first);
      for (const key of keys) channelOf(key).register(session);
    },
    broadcast(key, event) {
      const ch = channels.get(key);
      if (!ch || ch.sessionCount === 0) return 0;
      ch.broadcast(event.data, event.event, { eventId: event.id });
      return ch.sessionCount;
    },
  };
}
