import { createRealtime, createXhrFetch } from '@cast/realtime-client';

/** React Native: stream over XMLHttpRequest. */
export function connectOnReactNative(castUrl: string, fetchToken: () => Promise<string>) {
  // #region react-native
  // React Native's fetch cannot stream a body; XMLHttpRequest can.
  const realtime = createRealtime({ url: castUrl, token: fetchToken, fetch: createXhrFetch() });
  // #endregion react-native
  return realtime;
}
