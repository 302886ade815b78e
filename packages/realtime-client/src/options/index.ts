import { CastError, isValidPattern } from '@cast/protocol';
import type { RealtimeOptions, StreamFetch } from '../types.js';

/** {@link RealtimeOptions} checked and completed with their defaults. */
export interface ResolvedOptions {
  streamUrl: string;
  token: RealtimeOptions['token'];
  types: readonly string[];
  fetch: StreamFetch;
  autoConnect: boolean;
  backoffFloorMs: number;
  backoffCapMs: number;
  stallTimeoutMs: number;
  lastEventId: string | undefined;
}

/**
 * Checks options once, at construction, and fills in the defaults.
 *
 * @param options - what the app passed
 * @returns the options to run with
 * @throws CastError `INVALID_OPTIONS` naming the first bad option
 * @example
 * ```ts
 * resolveOptions({ url: 'http://localhost:3000', token: 't' }).stallTimeoutMs // 35000
 * ```
 */
export function resolveOptions(options: RealtimeOptions): ResolvedOptions {
  const { url, token, types = [], autoConnect = true, lastEventId } = options ?? invalid('options', 'an object');
  let base: URL | undefined;
  try {
    base = new URL(url, (globalThis as { location?: { href?: string } }).location?.href);
  } catch {
    // reported below
  }
  if (!base || !/^https?:$/.test(base.protocol)) invalid('url', 'an http(s) URL');
  if (!(token && typeof token === 'string') && typeof token !== 'function') invalid('token', 'a string or a function');
  if (!Array.isArray(types) || !types.every(isValidPattern)) invalid('types', 'event names, "prefix.*" or "*"');
  const fetchFn = options.fetch ?? (globalThis.fetch as StreamFetch | undefined);
  if (typeof fetchFn !== 'function') invalid('fetch', 'a function (no global fetch here)');
  if (typeof autoConnect !== 'boolean') invalid('autoConnect', 'a boolean');
  if (lastEventId !== undefined && (typeof lastEventId !== 'string' || /[\r\n\0]/.test(lastEventId))) {
    invalid('lastEventId', 'an event id');
  }
  const backoffFloorMs = duration(options.backoffFloorMs, 1000, 'backoffFloorMs');
  const backoffCapMs = duration(options.backoffCapMs, 30_000, 'backoffCapMs');
  if (backoffCapMs < backoffFloorMs) invalid('backoffCapMs', 'at least backoffFloorMs');
  base.pathname = `${base.pathname.replace(/\/+$/, '')}/push/stream`;
  return {
    streamUrl: base.href,
    token,
    types,
    // A global fetch called detached from globalThis throws "Illegal invocation" in browsers.
    fetch: options.fetch ?? ((input, init) => fetchFn(input, init)),
    autoConnect,
    backoffFloorMs,
    backoffCapMs,
    stallTimeoutMs: duration(options.stallTimeoutMs, 35_000, 'stallTimeoutMs'),
    lastEventId: lastEventId || undefined,
  };
}

function duration(value: unknown, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value > 0) || value === Infinity) invalid(name, 'a positive number of ms');
  return value;
}

function invalid(name: string, expected: string): never {
  throw new CastError('INVALID_OPTIONS', `Option ${name} must be ${expected}.`);
}
