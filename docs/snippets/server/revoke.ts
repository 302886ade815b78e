import type { CastServer } from '@cast/server-sdk';
import type { Events } from './cast.js';

/** "Log out everywhere": the user's streams close and their tokens stop working. */
export async function logOutEverywhere(cast: CastServer<Events>) {
  // #region revoke
  const { revoked } = await cast.tokens.revoke({ userId: 'user_123' }); // revoked: the streams it ended
  // Or one token: { tokenId } (from tokens.create), or { issuedBefore: new Date(), userId? }.
  // #endregion revoke
  return revoked;
}

/** Closes a user's streams; with reconnect: true their clients come back with fresh grants. */
export async function kick(cast: CastServer<Events>, reconnect: boolean) {
  // #region disconnect
  const { disconnected } = await cast.connections.disconnect({ userId: 'user_123', reconnect });
  // #endregion disconnect
  return disconnected;
}
