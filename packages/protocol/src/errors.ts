/**
 * The one table of Cast error codes: each code's HTTP status and whether a
 * client may retry the same request later. The server answers every error as
 * `{"error":{"code","message"}}` with the status from this table; the SDKs
 * raise {@link CastError} with the same fields. Each status's general code
 * comes first: {@link codeForStatus} maps a status without a Cast body to it.
 *
 * @example
 * ```ts
 * ERROR_CODES.RATE_LIMITED // { status: 429, retryable: true }
 * ```
 */
export const ERROR_CODES = {
  /** The request body or a parameter is missing, mistyped or malformed. */
  BAD_REQUEST: { status: 400, retryable: false },
  /** The request body is not valid JSON. */
  INVALID_JSON: { status: 400, retryable: false },
  /** A channel name is outside the channel grammar. */
  INVALID_CHANNEL: { status: 400, retryable: false },
  /** An event name is outside the event-name grammar. */
  INVALID_EVENT_NAME: { status: 400, retryable: false },
  /** The event name is one the server sends itself (`connected`, `expired`, `revoked`, `presence.join`, …). */
  RESERVED_EVENT_NAME: { status: 400, retryable: false },
  /** A token asks for more channels than the server allows. */
  TOO_MANY_CHANNELS: { status: 400, retryable: false },
  /** A `types` filter entry is outside the filter grammar. */
  INVALID_FILTER: { status: 400, retryable: false },
  /** No longer sent: a `Last-Event-ID` the server cannot read opens the stream with `recovered: false` (kept for clients of older servers). */
  INVALID_EVENT_ID: { status: 400, retryable: false },
  /** A batch holds more events than the server allows. */
  BATCH_TOO_LARGE: { status: 400, retryable: false },
  /** A token's `userInfo` is not a JSON object or is larger than the server allows. */
  INVALID_USER_INFO: { status: 400, retryable: false },
  /** The token would be larger than a stream request may carry (too many or too long channels). */
  TOKEN_TOO_LARGE: { status: 400, retryable: false },
  /** No credentials were given. */
  UNAUTHORIZED: { status: 401, retryable: false },
  /** The API key is not one the server knows. */
  INVALID_API_KEY: { status: 401, retryable: false },
  /** The token is malformed, tampered with, signed with another key or unsigned. */
  INVALID_TOKEN: { status: 401, retryable: false },
  /** The token's lifetime is over; ask your backend for a fresh one. */
  TOKEN_EXPIRED: { status: 401, retryable: false },
  /** The token was revoked (`POST /push/revoke`); a token issued after the revocation works. */
  TOKEN_REVOKED: { status: 401, retryable: false },
  /** A webhook's `Cast-Signature` does not match its body under the secret. */
  INVALID_SIGNATURE: { status: 401, retryable: false },
  /** A webhook's signature timestamp is older than the tolerance (a replayed delivery). */
  WEBHOOK_TOO_OLD: { status: 401, retryable: false },
  /** The credentials are valid but not allowed to do this (a read-only key publishing). */
  FORBIDDEN: { status: 403, retryable: false },
  /** No such route or resource. */
  NOT_FOUND: { status: 404, retryable: false },
  /** The route exists but not for this method. */
  METHOD_NOT_ALLOWED: { status: 405, retryable: false },
  /** The request took too long (client-side timeout or server 408). */
  TIMEOUT: { status: 408, retryable: true },
  /** The idempotency key was used before for a different request (another channel, event or data). */
  IDEMPOTENCY_KEY_REUSED: { status: 409, retryable: false },
  /** The payload is larger than the server allows. */
  PAYLOAD_TOO_LARGE: { status: 413, retryable: false },
  /** The request URL is longer than the server accepts. */
  URI_TOO_LONG: { status: 414, retryable: false },
  /** The body is not `application/json`. */
  UNSUPPORTED_MEDIA_TYPE: { status: 415, retryable: false },
  /** Too many requests; wait for `Retry-After`. */
  RATE_LIMITED: { status: 429, retryable: true },
  /** The request headers are larger than the server accepts. */
  HEADERS_TOO_LARGE: { status: 431, retryable: false },
  /** The server failed; the request may be retried. */
  INTERNAL: { status: 500, retryable: true },
  /** A dependency (the broker, the database) is down; retry later. */
  UNAVAILABLE: { status: 503, retryable: true },
  /** The connection failed before an HTTP answer (DNS, refused, reset). */
  NETWORK_ERROR: { status: 0, retryable: true },
  /** The server answered with something that is not what the protocol says (wrong content type). */
  BAD_RESPONSE: { status: 0, retryable: false },
  /** The stream ended or stalled (no heartbeat) while it should stay open. */
  STREAM_INTERRUPTED: { status: 0, retryable: true },
  /** The caller aborted the operation with its `AbortSignal`. */
  ABORTED: { status: 0, retryable: false },
  /** The server closed the stream with `disconnected` and `reconnect: false` (`POST /push/disconnect`). */
  DISCONNECTED: { status: 0, retryable: false },
  /** The token provider given to the client threw or returned no token. */
  TOKEN_PROVIDER_FAILED: { status: 0, retryable: true },
  /** The options given to an SDK are invalid (thrown at construction or call time). */
  INVALID_OPTIONS: { status: 0, retryable: false },
} as const satisfies Record<string, { status: number; retryable: boolean }>;

/**
 * A stable error code string that callers can switch on.
 *
 * @example
 * ```ts
 * function explain(code: CastErrorCode): string {
 *   return code === 'TOKEN_EXPIRED' ? 'Sign in again.' : 'Try again later.'
 * }
 * ```
 */
export type CastErrorCode = keyof typeof ERROR_CODES;

/**
 * The JSON body of every error answer of the Cast server.
 *
 * @example
 * ```ts
 * const body: ErrorBody = { error: { code: 'TOKEN_EXPIRED', message: 'The token expired.' } }
 * ```
 */
export interface ErrorBody {
  /** The error: its code and a human-readable message. */
  error: {
    /** A code from {@link ERROR_CODES}, or one this version does not know yet. */
    code: CastErrorCode | (string & {});
    /** What went wrong, for people; do not parse it. */
    message: string;
  };
}

/**
 * Options of {@link CastError} beyond its code and message.
 *
 * @example
 * ```ts
 * throw new CastError('RATE_LIMITED', 'Slow down.', { retryAfter: 5, cause: err })
 * ```
 */
export interface CastErrorOptions {
  /** Overrides the HTTP status from the error table (for example, the actual status received). */
  status?: number;
  /** Overrides the retryable flag from the error table. */
  retryable?: boolean;
  /** The underlying error. */
  cause?: unknown;
  /** Seconds to wait before retrying, from a `Retry-After` header. */
  retryAfter?: number;
}

/**
 * The one error type of Cast: a stable `code`, the HTTP `status` it maps to
 * (0 when no HTTP answer was involved) and whether retrying may succeed.
 *
 * @example
 * ```ts
 * try { await cast.publish(event) } catch (err) {
 *   if (err instanceof CastError && err.code === 'PAYLOAD_TOO_LARGE') shrink(event)
 * }
 * ```
 */
export class CastError extends Error {
  /** A stable code from {@link ERROR_CODES}. */
  readonly code: CastErrorCode;
  /** The HTTP status, or 0 when the error did not come from an HTTP answer. */
  readonly status: number;
  /** Whether the same operation may succeed if tried again later. */
  readonly retryable: boolean;
  /** Seconds the server asked to wait (`Retry-After`), when it did. */
  readonly retryAfter: number | undefined;

  constructor(code: CastErrorCode, message: string, options: CastErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CastError';
    const entry = ERROR_CODES[code] ?? ERROR_CODES.INTERNAL;
    this.code = code;
    this.status = options.status ?? entry.status;
    this.retryable = options.retryable ?? entry.retryable;
    this.retryAfter = options.retryAfter;
  }

  /** The `{"error":{"code","message"}}` body the server sends for this error. */
  toJSON(): ErrorBody {
    return { error: { code: this.code, message: this.message } };
  }
}

/**
 * Whether a value is a {@link CastError}, also across copies of the package
 * (two bundles each holding their own class).
 *
 * @param value - anything caught
 * @returns true when it carries a Cast error code
 * @example
 * ```ts
 * if (isCastError(err) && err.retryable) retryLater()
 * ```
 */
export function isCastError(value: unknown): value is CastError {
  return (
    value instanceof CastError ||
    (typeof value === 'object' &&
      value !== null &&
      (value as { name?: unknown }).name === 'CastError' &&
      isErrorCode((value as { code?: unknown }).code))
  );
}

/**
 * Whether a string is a known error code.
 *
 * @param code - a code read from the wire
 * @returns true when it is in {@link ERROR_CODES}
 * @example
 * ```ts
 * isErrorCode('TOKEN_EXPIRED') // true
 * ```
 */
export function isErrorCode(code: unknown): code is CastErrorCode {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(ERROR_CODES, code);
}

/**
 * The error code to use for an HTTP status that came without a Cast error body
 * (a proxy's 502, a bare 404): the first code of that status in
 * {@link ERROR_CODES} (the table lists each status's general code first), a
 * gateway's 502 or 504 as `UNAVAILABLE`, else `INTERNAL` for 5xx and
 * `BAD_REQUEST` for the rest (0 included).
 *
 * @param status - the HTTP status received
 * @returns the closest code in the table
 * @example
 * ```ts
 * codeForStatus(503) // 'UNAVAILABLE'
 * codeForStatus(414) // 'URI_TOO_LONG'
 * ```
 */
export function codeForStatus(status: number): CastErrorCode {
  if (status === 502 || status === 504) return 'UNAVAILABLE';
  let code: CastErrorCode;
  // Status 0 stands for "no HTTP answer": its codes are not answers to map to.
  if (status > 0) for (code in ERROR_CODES) if (ERROR_CODES[code].status === status) return code;
  return status >= 500 ? 'INTERNAL' : 'BAD_REQUEST';
}

/**
 * Builds a {@link CastError} from an HTTP error answer: the body's code and
 * message when it is a Cast error body, else one derived from the status.
 * The status received always wins over the table's, and 408/429/5xx are
 * retryable whatever the code.
 *
 * @param status - the HTTP status
 * @param body - the parsed JSON body, or undefined
 * @param retryAfter - seconds from a `Retry-After` header
 * @returns the error to raise
 * @example
 * ```ts
 * const err = errorFromResponse(res.status, await res.json().catch(() => undefined))
 * ```
 */
export function errorFromResponse(status: number, body: unknown, retryAfter?: number): CastError {
  const inner = (body as Partial<ErrorBody> | undefined)?.error;
  const code = isErrorCode(inner?.code) ? inner.code : codeForStatus(status);
  const message =
    typeof inner?.message === 'string' && inner.message.length > 0
      ? inner.message
      : `The server answered HTTP ${status}.`;
  const retryable = status === 408 || status === 429 || status >= 500;
  return new CastError(code, message, { status, retryable, retryAfter });
}
