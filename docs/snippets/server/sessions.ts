import type { CastServer } from '@cast/server-sdk';
import type { Events } from './cast.js';

/** Lists a user's open streams. */
export async function whoIsConnected(cast: CastServer<Events>) {
  // #region sessions
  const sessions = await cast.sessions.list({ userId: 'user_123' });
  for (const s of sessions) console.log(s.id, s.channels.join(','), s.connectedAt);
  const watchers = await cast.sessions.list({ channel: 'order:abc123' });
  // #endregion sessions
  return { sessions, watchers };
}
