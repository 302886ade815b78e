/**
 * The sse-channel peer: each channel is an `SseChannel` with its default
 * options (history, ping), each subscriber added with `addClient`, and every
 * event goes out with `channel.send({ id, event, data })`, as its README shows
 * for broadcasting. The hub replays history itself, so the library is not
 * shown the client's last event id (it would replay its own history on top).
 */
import type http from 'node:http';
import SseChannel from 'sse-channel';
import type { FanoutEngine } from '../baseline/hub.js';

/** The part of an `SseChannel` the engine uses (the package ships no types). */
interface Channel {
  addClient(req: http.IncomingMessage, res: http.ServerResponse): void;
  send(message: { id: string; event: string; data: string }): void;
  getConnectionCount(): number;
}
const Channel = SseChannel as unknown as new (options: { retryTimeout?: number; pingInterval?: number }) => Channel;

/**
 * Creates the sse-channel fan-out engine.
 *
 * @param heartbeatMs - ping interval of each channel
 * @returns the engine
 * @example
 * ```ts
 * createBaselineHub({ apiKeys, signingSecret, fanout: createSseChannelFanout(15_000) });
 * ```
 */
export function createSseChannelFanout(heartbeatMs: number): FanoutEngine {
  const channels = new Map<string, Channel>();
  return {
    name: 'sse-channel',
    async subscribe(req, res, keys, first) {
      if (keys.length !== 1) throw new Error('the sse-channel hub serves one channel per stream');
      const key = keys[0] as string;
      let ch = channels.get(key);
      if (!ch) {
        ch = new Channel({ pingInterval: heartbeatMs });
        channels.set(key, ch);
      }
      const lastEventId = req.headers['last-event-id'];
      const url = req.url;
      delete req.headers['last-event-id'];
      req.url = '/push/stream';
      try {
        ch.addClient(req, res);
      } finally {
        if (lastEventId !== undefined) req.headers['last-event-id'] = lastEventId;
        req.url = url;
      }
      res.socket?.setNoDelay(true);
      res.write(first);
    },
    broadcast(key, event) {
      const ch = channels.get(key);
      if (!ch || ch.getConnectionCount() === 0) return 0;
      ch.send(event);
      return ch.getConnectionCount();
    },
  };
}
