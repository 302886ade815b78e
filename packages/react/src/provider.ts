import { createRealtime } from '@cast/realtime-client';
import type { Realtime, RealtimeOptions } from '@cast/realtime-client';
import { createContext, createElement, useContext, useEffect, useRef, useState } from 'react';
import type { ReactNode } from 'react';
import type { RegisteredEvents } from './register.js';

/** What the provider hands to the hooks: its client, null (on the server, before the first effect), undefined without a provider. */
const RealtimeContext = createContext<Realtime<RegisteredEvents> | null | undefined>(undefined);

/**
 * Props of {@link RealtimeProvider}: an existing `client`, or the `options` to
 * create one with (and optionally the function that creates it).
 *
 * @example
 * ```tsx
 * const props: RealtimeProviderProps = { options: { url: 'https://push.example.com', token: fetchToken }, children: <App /> }
 * ```
 */
export type RealtimeProviderProps = {
  /** The components that use the hooks. */
  children?: ReactNode;
} & (
  | {
      /** A client you created and own: the provider neither connects nor destroys it. */
      client: Realtime<RegisteredEvents>;
      /** Not with `client`. */
      options?: never;
      /** Not with `client`. */
      create?: never;
    }
  | {
      /** Not with `options`. */
      client?: never;
      /**
       * The options of the client the provider creates after mounting (never on
       * the server) and destroys on unmount. Read once: to change them, remount
       * the provider (a React `key`).
       */
      options: RealtimeOptions;
      /**
       * Creates the client from `options`. @defaultValue `createRealtime`; pass
       * `createSharedRealtime` from `@cast/realtime-client/shared` to share one
       * stream among tabs.
       */
      create?: (options: RealtimeOptions) => Realtime<RegisteredEvents>;
    }
);

/** How long an unmounted provider waits before destroying its client: a remount in this time reuses it. */
const DESTROY_DELAY_MS = 0;

/**
 * Gives its children a realtime client: `client` as it is, or one created from
 * `options` once mounted and destroyed once unmounted. StrictMode's double
 * effects reuse one client (the destroy waits a tick and a remount cancels
 * it), so they never open a second stream; on the server no client is created
 * and the hooks return their empty values.
 *
 * @param props - `client`, or `options` (and `create`), and `children`
 * @returns the provider element
 * @example
 * ```tsx
 * <RealtimeProvider options={{ url: 'https://push.example.com', token: fetchToken }}>
 *   <Orders />
 * </RealtimeProvider>
 * ```
 */
export function RealtimeProvider(props: RealtimeProviderProps) {
  const { client: given, options, create = createRealtime<RegisteredEvents>, children } = props;
  const [created, setCreated] = useState<Realtime<RegisteredEvents> | null>(null);
  const owned = useRef<{ client: Realtime<RegisteredEvents>; timer: ReturnType<typeof setTimeout> | undefined } | null>(
    null,
  );
  const settings = useRef({ options, create });

  useEffect(() => {
    if (given) return;
    let entry = owned.current;
    if (entry && entry.timer !== undefined) {
      clearTimeout(entry.timer);
      entry.timer = undefined;
    } else {
      entry = { client: settings.current.create(settings.current.options as RealtimeOptions), timer: undefined };
      owned.current = entry;
    }
    setCreated(entry.client);
    const mine = entry;
    return () => {
      mine.timer = setTimeout(() => {
        mine.client.destroy();
        if (owned.current === mine) owned.current = null;
      }, DESTROY_DELAY_MS);
    };
  }, [given]);

  return createElement(RealtimeContext.Provider, { value: given ?? created }, children);
}

/**
 * The client of the nearest {@link RealtimeProvider}, or null before it exists
 * (on the server, and during the first render in the browser).
 *
 * @returns the client or null
 * @throws Error when no provider is above the component
 * @example
 * ```tsx
 * const realtime = useRealtime()
 * const connect = () => realtime?.connect()
 * ```
 */
export function useRealtime(): Realtime<RegisteredEvents> | null {
  const client = useContext(RealtimeContext);
  if (client === undefined)
    throw new Error('useRealtime and the Cast hooks need a <RealtimeProvider> above the component.');
  return client;
}
