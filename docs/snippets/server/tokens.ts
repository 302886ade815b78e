import { createTokenHandler } from '@cast/server-sdk';
import type { CastServer } from '@cast/server-sdk';
import type { Events } from './cast.js';

/** Asks the server for a token. */
export async function issueToken(cast: CastServer<Events>, userId: string) {
  // #region create
  const { token, expiresAt, channels } = await cast.tokens.create({
    channels: [`user:${userId}`, 'announcements'],
    userId,
    ttlSeconds: 3600,
  });
  // #endregion create
  return { token, expiresAt, channels };
}

/** Mints a token locally. */
export async function signLocally(cast: CastServer<Events>) {
  // #region sign
  // Needs signingSecret and tenant (or CAST_SIGNING_SECRET and CAST_TENANT): no round trip.
  const { token } = await cast.tokens.sign({ channels: ['order:abc123'], ttlSeconds: 600 });
  // #endregion sign
  return token;
}

/** Stands in for your own session lookup. */
export type SessionLookup = (request: Request) => Promise<{ id: string } | undefined>;

/** Builds the endpoint browsers call for a token. */
export function tokenEndpoint(cast: CastServer<Events>, currentUser: SessionLookup) {
  // #region handler
  // A (Request) => Response handler: mount it in Hono, Next.js, Workers, Deno or Bun.
  const handler = createTokenHandler({
    cast,
    authorize: async (request) => {
      const user = await currentUser(request); // your own session check
      if (!user) return null; // 401
      return { channels: [`user:${user.id}`, 'announcements'], userId: user.id, ttlSeconds: 900 };
    },
    onError: (err) => console.error('cast token', err),
  });
  // #endregion handler
  return handler;
}
