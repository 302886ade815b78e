import type { CastServer } from '@cast/server-sdk';
import type { Events } from './cast.js';

/** A token whose stream is present on the order page and hears who else is. */
export async function presenceToken(cast: CastServer<Events>) {
  // #region token
  const { token, tokenId } = await cast.tokens.create({
    channels: ['order:abc123'],
    userId: 'user_123',
    presence: true, // this stream also receives presence.sync / join / leave
    userInfo: { name: 'Ada', role: 'support' }, // what the others see, at most 1 KiB of JSON
  });
  // #endregion token
  return { token, tokenId };
}

/** Who is on the order page, and which order pages are open at all. */
export async function whoIsHere(cast: CastServer<Events>) {
  // #region presence
  const { members, connections } = await cast.presence.get('order:abc123');
  for (const m of members) console.log(m.userId, m.userInfo, `${m.connections} tab(s)`);
  // #endregion presence
  // #region channels
  const open: string[] = [];
  for await (const c of cast.channels.all({ prefix: 'order:' })) open.push(`${c.channel}: ${c.users} user(s)`);
  // #endregion channels
  return { members, connections, open };
}
