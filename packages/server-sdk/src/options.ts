import { CastError } from '@cast/protocol';
import { checkTimeout } from './http.js';
import type { CastServerOptions, FetchLike } from './types.js';

/**
 * The environment variables `CastServer` reads for the options left out.
 *
 * @example
 * ```ts
 * process.env[ENV_NAMES.apiKey] // the value of CAST_API_KEY
 * ```
 */
export const ENV_NAMES = {
  /** The secret API key, for `apiKey`. */
  apiKey: 'CAST_API_KEY',
  /** The server's base URL, for `baseUrl`. */
  baseUrl: 'CAST_URL',
  /** The signing secret for local token signing, for `signingSecret`. */
  signingSecret: 'CAST_SIGNING_SECRET',
  /** The tenant id for local token signing, for `tenant`. */
  tenant: 'CAST_TENANT',
} as const;

/** Options after defaults and the environment were applied. */
export interface ResolvedOptions {
  apiKey: string;
  baseUrl: string;
  signingSecret: string | undefined;
  tenant: string | undefined;
  fetch: FetchLike;
  timeoutMs: number;
  retries: number;
}

/**
 * The runtime's environment variables, or an empty object where there are
 * none (browsers, Workers without Node compatibility). Reached through
 * `globalThis` so that the package imports no Node API.
 */
function environment(): Record<string, string | undefined> {
  const runtime = globalThis as { process?: { env?: Record<string, string | undefined> } };
  return runtime.process?.env ?? {};
}

function pick(given: string | undefined, envName: string, env: Record<string, string | undefined>): string | undefined {
  if (given !== undefined) return given;
  const value = env[envName];
  return value === undefined || value === '' ? undefined : value;
}

/**
 * Applies the environment and the defaults to {@link CastServerOptions} and
 * checks the result.
 *
 * @param options - what the caller gave
 * @returns complete options
 * @throws CastError `INVALID_OPTIONS` when the API key or base URL is missing or malformed
 * @example
 * ```ts
 * resolveOptions({ apiKey: 'sk', baseUrl: 'http://localhost:8080' })
 * ```
 */
export function resolveOptions(options: CastServerOptions): ResolvedOptions {
  const env = environment();
  const apiKey = pick(options.apiKey, ENV_NAMES.apiKey, env);
  const baseUrl = pick(options.baseUrl, ENV_NAMES.baseUrl, env);
  if (apiKey === undefined || typeof apiKey !== 'string' || apiKey.length === 0) {
    throw new CastError('INVALID_OPTIONS', `No API key: pass { apiKey } or set ${ENV_NAMES.apiKey}.`);
  }
  if (baseUrl === undefined || typeof baseUrl !== 'string' || baseUrl.length === 0) {
    throw new CastError('INVALID_OPTIONS', `No server URL: pass { baseUrl } or set ${ENV_NAMES.baseUrl}.`);
  }
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch (error) {
    throw new CastError('INVALID_OPTIONS', `baseUrl is not a URL: ${JSON.stringify(baseUrl)}.`, { cause: error });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CastError('INVALID_OPTIONS', `baseUrl must be an http or https URL, not ${url.protocol}.`);
  }
  if (url.search !== '' || url.hash !== '') {
    throw new CastError('INVALID_OPTIONS', 'baseUrl must not carry a query or a fragment.');
  }

  const retries = options.retries ?? 2;
  if (!Number.isInteger(retries) || retries < 0) {
    throw new CastError('INVALID_OPTIONS', 'retries must be a whole number, 0 or more.');
  }
  const timeoutMs = checkTimeout(options.timeoutMs ?? 10_000, 'timeoutMs');
  if (options.fetch !== undefined && typeof options.fetch !== 'function') {
    throw new CastError('INVALID_OPTIONS', 'fetch must be a function.');
  }
  const signingSecret = pick(options.signingSecret, ENV_NAMES.signingSecret, env);
  const tenant = pick(options.tenant, ENV_NAMES.tenant, env);

  return {
    apiKey,
    baseUrl: url.toString().replace(/\/+$/, ''),
    signingSecret: signingSecret === '' ? undefined : signingSecret,
    tenant: tenant === '' ? undefined : tenant,
    // Looked up on every call, so that a fetch patched after construction (tests, tracing) is used.
    fetch: options.fetch ?? ((input, init) => globalThis.fetch(input, init)),
    timeoutMs,
    retries,
  };
}
