/**
 * Test helper (not exported): an msw server for the unit tests of the HTTP
 * contract, and a recorder of the requests it saw.
 */
import { setupServer } from 'msw/node';

export const BASE_URL = 'http://cast.test';

/** Creates the msw server with unhandled requests failing the test. */
export function createMockServer(): ReturnType<typeof setupServer> {
  return setupServer();
}

/** One request as the mock server saw it. */
export interface SeenRequest {
  method: string;
  url: URL;
  headers: Headers;
  body: unknown;
}

/**
 * Reads what a test needs from a request (its body parsed as JSON).
 *
 * @param request - the intercepted request
 * @returns method, URL, headers and body
 */
export async function record(request: Request): Promise<SeenRequest> {
  const text = await request.clone().text();
  return {
    method: request.method,
    url: new URL(request.url),
    headers: request.headers,
    body: text === '' ? undefined : (JSON.parse(text) as unknown),
  };
}
