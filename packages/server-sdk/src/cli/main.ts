/**
 * The `cast` command: `token`, `publish` and `listen` against a Cast server.
 * Everything it touches comes in through {@link CliIo}, so it runs in tests
 * without a process of its own.
 */
import { parseArgs } from 'node:util';
import { CastError, isCastError } from '@cast/protocol';
import { CastServer } from '../cast-server.js';
import { ENV_NAMES } from '../options.js';
import type { FetchLike } from '../types.js';
import { UsageError } from './command.js';
import { COMMANDS_USAGE, runCommand } from './commands.js';
import { listen } from './listen.js';

/** What the command reads and writes. */
export interface CliIo {
  /** Writes one line to standard output. */
  stdout: (line: string) => void;
  /** Writes one line to standard error. */
  stderr: (line: string) => void;
  /** Reads all of standard input. */
  readStdin: () => Promise<string>;
  /** The environment. */
  env: Record<string, string | undefined>;
  /** Ends `cast listen` (Ctrl-C). */
  signal?: AbortSignal;
  /** The fetch to use. @defaultValue the global fetch */
  fetch?: FetchLike;
}

/** Exit codes. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export const USAGE = `Usage: cast <command> [options]

Commands:
  cast token --channels a,b [--user u] [--ttl seconds] [--presence] [--user-info json]
      Issue a stream token and print it.
  cast publish <channel> <event> [json|-]
      Publish an event; data is the JSON argument, - for standard input, null when left out.
  cast listen <channel...> [--user u] [--types a,b.*]
      Print the events of the channels as they arrive; resumes after drops. Ctrl-C stops.
${COMMANDS_USAGE}

Options:
  --key <key>     secret API key (default: $${ENV_NAMES.apiKey})
  --url <url>     Cast server URL (default: $${ENV_NAMES.baseUrl})
  --json          machine-readable output (one JSON object per line)
  --idempotency-key <key>   (publish) deliver once however often it is retried
  -h, --help      show this help; cast <command> --help shows the command's
  --version       print the version

Exit codes: 0 success, 1 the call failed, 2 wrong usage.`;

/** `--user-info`: a JSON object (the server refuses anything else with INVALID_USER_INFO; this says so first). */
function parseUserInfo(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new UsageError(`--user-info is not valid JSON: ${text.length > 60 ? `${text.slice(0, 60)}…` : text}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new UsageError('--user-info must be a JSON object, such as \'{"name":"Ada"}\'');
  }
  return value as Record<string, unknown>;
}

function splitList(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.length > 0);
}

/**
 * Runs the `cast` command.
 *
 * @param argv - the arguments after the program name
 * @param io - standard streams, environment, signal
 * @returns the exit code
 * @example
 * ```ts
 * process.exitCode = await main(process.argv.slice(2), io)
 * ```
 */
export async function main(argv: string[], io: CliIo): Promise<number> {
  let json = argv.includes('--json');
  try {
    const handled = await runCommand(argv, io);
    if (handled !== undefined) return handled;
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        key: { type: 'string' },
        url: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
        channels: { type: 'string' },
        user: { type: 'string' },
        ttl: { type: 'string' },
        presence: { type: 'boolean', default: false },
        'user-info': { type: 'string' },
        types: { type: 'string' },
        'idempotency-key': { type: 'string' },
      },
    });
    json = values.json === true;
    const [command, ...rest] = positionals;
    if (values.help || command === 'help') {
      io.stdout(USAGE);
      return EXIT.ok;
    }
    if (command === undefined) throw new UsageError('no command given');
    if (!['token', 'publish', 'listen'].includes(command)) throw new UsageError(`unknown command "${command}"`);

    const apiKey = values.key ?? io.env[ENV_NAMES.apiKey];
    const baseUrl = values.url ?? io.env[ENV_NAMES.baseUrl];
    if (!apiKey) throw new UsageError(`no API key: pass --key or set ${ENV_NAMES.apiKey}`);
    if (!baseUrl) throw new UsageError(`no server URL: pass --url or set ${ENV_NAMES.baseUrl}`);
    const cast = new CastServer({ apiKey, baseUrl, ...(io.fetch ? { fetch: io.fetch } : {}) });
    const user = values.user;

    if (command === 'token') {
      if (rest.length > 0) throw new UsageError(`token takes no arguments (got "${rest.join(' ')}")`);
      const channels = splitList(values.channels);
      if (channels.length === 0) throw new UsageError('token needs --channels a,b');
      let ttlSeconds: number | undefined;
      if (values.ttl !== undefined) {
        if (!/^\d+$/.test(values.ttl))
          throw new UsageError(`--ttl must be a whole number of seconds, not "${values.ttl}"`);
        ttlSeconds = Number(values.ttl);
      }
      const userInfo = values['user-info'] === undefined ? undefined : parseUserInfo(values['user-info']);
      const issued = await cast.tokens.create({
        channels,
        ...(user === undefined ? {} : { userId: user }),
        ...(ttlSeconds === undefined ? {} : { ttlSeconds }),
        ...(values.presence ? { presence: true } : {}),
        ...(userInfo === undefined ? {} : { userInfo }),
      });
      io.stdout(json ? JSON.stringify(issued) : issued.token);
      return EXIT.ok;
    }

    if (command === 'publish') {
      const [channel, event, raw, ...extra] = rest;
      if (channel === undefined || event === undefined)
        throw new UsageError('publish needs <channel> <event> [json|-]');
      if (extra.length > 0) throw new UsageError(`publish takes at most three arguments (got "${extra.join(' ')}")`);
      const text = raw === '-' ? await io.readStdin() : raw;
      let data: unknown = null;
      if (text !== undefined) {
        try {
          data = JSON.parse(text);
        } catch {
          throw new UsageError(`the data is not valid JSON: ${text.length > 60 ? `${text.slice(0, 60)}…` : text}`);
        }
      }
      const key = values['idempotency-key'];
      const result = await cast.publish({
        channel,
        event,
        data,
        ...(key === undefined ? {} : { idempotencyKey: key }),
      });
      io.stdout(
        json
          ? JSON.stringify(result)
          : `published ${event} to ${channel}: delivered to ${result.delivered} connection${result.delivered === 1 ? '' : 's'}` +
              ` (message ${result.messageId}, id ${result.eventId}${result.duplicate ? ', duplicate' : ''})`,
      );
      return EXIT.ok;
    }

    // listen
    if (rest.length === 0) throw new UsageError('listen needs at least one channel');
    const signal = io.signal ?? new AbortController().signal;
    await listen({
      cast,
      baseUrl: new URL(baseUrl).toString().replace(/\/+$/, ''),
      fetch: io.fetch ?? ((input, init) => globalThis.fetch(input, init)),
      channels: rest,
      ...(user === undefined ? {} : { userId: user }),
      ...(values.types === undefined ? {} : { types: values.types }),
      signal,
      onEvent: (event) =>
        io.stdout(
          json
            ? JSON.stringify(event)
            : `${event.event} ${event.channel ?? '-'} ${typeof event.data === 'string' ? event.data : JSON.stringify(event.data)}`,
        ),
      onStatus: (message) => io.stderr(`cast: ${message}`),
    });
    return EXIT.ok;
  } catch (error) {
    if (error instanceof UsageError || (error instanceof TypeError && 'code' in error)) {
      // parseArgs throws TypeErrors with an ERR_PARSE_ARGS_* code for unknown or malformed flags.
      io.stderr(`cast: ${error.message} (see cast --help)`);
      return EXIT.usage;
    }
    const failure = isCastError(error)
      ? error
      : new CastError('INTERNAL', error instanceof Error ? error.message : String(error), { cause: error });
    if (json) io.stderr(JSON.stringify(failure.toJSON()));
    else io.stderr(`cast: ${failure.message} (${failure.code})`);
    return failure.code === 'INVALID_OPTIONS' ? EXIT.usage : EXIT.failed;
  }
}
