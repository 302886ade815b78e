import type { CastServer } from '@cast/server-sdk';
import type { Events } from '../server/cast.js';

/** A token for the user's channel and the broadcast channel, then a broadcast. */
export async function broadcast(cast: CastServer<Events>, userId: string) {
  // #region broadcast
  const { token } = await cast.tokens.create({ channels: [`user:${userId}`, 'announcements'], userId });

  await cast.publish({
    channel: 'announcements',
    event: 'notification',
    data: { message: 'Maintenance tonight at 22:00 UTC' },
  });
  // #endregion broadcast
  return token;
}
