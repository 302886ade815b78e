import type { Context } from 'hono';
import { requestHeader } from '../node-request.js';

/**
 * Reads the credential of an `Authorization: Bearer <credential>` header
 * (the scheme case-insensitive, one credential without spaces). API keys and
 * stream tokens both arrive this way.
 *
 * @param c - the request context
 * @returns the credential, or undefined without a well-formed Bearer header
 * @example
 * ```ts
 * const token = c.req.query('token') || readBearer(c)
 * ```
 */
export function readBearer(c: Context): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(requestHeader(c, 'authorization') ?? '')?.[1];
}
