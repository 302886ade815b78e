import type { HttpRequest } from '../request.js';

/**
 * Reads the credential of an `Authorization: Bearer <credential>` header
 * (the scheme case-insensitive, one credential without spaces). API keys and
 * stream tokens both arrive this way.
 *
 * @param req - the request
 * @returns the credential, or undefined without a well-formed Bearer header
 * @example
 * ```ts
 * const token = req.query('token') || readBearer(req)
 * ```
 */
export function readBearer(req: HttpRequest): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(req.header('authorization') ?? '')?.[1];
}
