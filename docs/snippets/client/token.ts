import { createRealtime } from '@cast/realtime-client';

/** The token provider, as the guide shows. */
export function connectWithProvider(castUrl: string, tokenEndpoint: string) {
  // #region provider
  // Called before every connection attempt: after a drop, before the token expires
  // (the server ends the stream with an `expired` event), and once after a 401.
  async function fetchToken(): Promise<string> {
    const res = await fetch(tokenEndpoint, { method: 'POST', credentials: 'include' });
    if (!res.ok) throw new Error(`token endpoint answered ${res.status}`);
    const { token } = (await res.json()) as { token: string };
    return token;
  }
  const realtime = createRealtime({ url: castUrl, token: fetchToken });
  // #endregion provider
  return realtime;
}
