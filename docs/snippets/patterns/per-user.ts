import type { CastServer } from '@cast/server-sdk';
import type { Events } from '../server/cast.js';

/** Issues a user's token and notifies them. */
export async function notifyUser(cast: CastServer<Events>, userId: string) {
  // #region per-user
  // When the user's page loads (your backend knows userId from its session):
  const { token } = await cast.tokens.create({ channels: [`user:${userId}`], userId });

  // Later, from anywhere in your backend:
  const { delivered } = await cast.publish({
    channel: `user:${userId}`,
    event: 'notification',
    data: { message: 'Your export is ready' },
  });
  // #endregion per-user
  return { token, delivered };
}
