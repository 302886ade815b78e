import type { CliIo } from './main.js';

/**
 * A `CliIo` for tests: the printed lines, the requests the command made, and
 * `answer` standing in for the server. Test support only; not part of the build.
 *
 * @param answer - the response to each request
 * @param extra - overrides (environment, standard input, signal…)
 * @returns the io and what it recorded
 * @example
 * ```ts
 * const t = fakeIo(() => Response.json({ token: 't' }));
 * await main(['token', 'orders'], t.io);
 * t.out // the printed lines
 * ```
 */
export function fakeIo(
  answer: (url: URL, init: RequestInit | undefined) => Response = () => Response.json({}),
  extra: Partial<CliIo> = {},
) {
  const out: string[] = [];
  const err: string[] = [];
  const requests: Array<{ url: URL; init: RequestInit | undefined }> = [];
  const io: CliIo = {
    stdout: (line) => out.push(line),
    stderr: (line) => err.push(line),
    readStdin: async () => '',
    env: { CAST_API_KEY: 'sk_env', CAST_URL: 'http://cast.test' },
    fetch: async (input, init) => {
      const url = new URL(input);
      requests.push({ url, init });
      return answer(url, init);
    },
    ...extra,
  };
  return { io, out, err, requests };
}

/** The JSON body a request sent. */
export const bodyOf = (init: RequestInit | undefined): unknown => JSON.parse(String(init?.body));
