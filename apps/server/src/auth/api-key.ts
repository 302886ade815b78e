import type { KeyGrant } from '../config.js';
import { fail } from '../errors.js';
import type { HttpRequest } from '../request.js';
import { readBearer } from './bearer.js';

/**
 * Reads the API key of a request: `Authorization: Bearer <key>` or the
 * `apikey` header, else (only where `allowQuery`) the `apikey` query
 * parameter. A header always wins over the query parameter.
 */
export function readApiKey(req: HttpRequest, allowQuery = false): string | undefined {
  const bearer = readBearer(req);
  if (bearer) return bearer;
  const header = req.header('apikey')?.trim();
  if (header) return header;
  if (allowQuery) {
    const q = req.query('apikey')?.trim();
    if (q) return q;
  }
  return undefined;
}

/**
 * Authenticates a request by API key and checks its kind.
 *
 * @param keys - the key table
 * @param req - the request
 * @param need - `secret` for publishing and issuing tokens, `any` for subscribing
 * @returns the key's grant
 */
export function authenticate(
  keys: Map<string, KeyGrant>,
  req: HttpRequest,
  need: 'secret' | 'any',
  allowQuery = false,
): KeyGrant {
  const key = readApiKey(req, allowQuery);
  if (!key) fail('UNAUTHORIZED', 'Missing API key: send "Authorization: Bearer <secret key>".');
  const grant = keys.get(key);
  if (!grant) fail('INVALID_API_KEY', 'The API key is not valid.');
  if (need === 'secret' && grant.kind !== 'secret') {
    fail('FORBIDDEN', 'This key is read-only: it can subscribe but not publish or issue tokens.');
  }
  return grant;
}
