/**
 * What every `cast` subcommand in its own file shares: its shape, the global
 * options, the usage error and the client built from `--key` / `--url`.
 */
import type { ParseArgsConfig } from 'node:util';
import { CastServer } from '../cast-server.js';
import { ENV_NAMES } from '../options.js';
import type { CliIo } from './main.js';

/** A mistake in the command line: reported with a pointer to `--help`, exit 2. */
export class UsageError extends Error {}

/** The options every command takes. */
export const GLOBAL_OPTIONS = {
  key: { type: 'string' },
  url: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies NonNullable<ParseArgsConfig['options']>;

/** What a command's `run` gets. */
export interface CommandInput {
  /** The parsed options (global ones included). */
  values: Record<string, string | boolean | undefined>;
  /** The arguments after the command name. */
  args: string[];
  /** `--json`: one JSON object per line. */
  json: boolean;
  io: CliIo;
}

/** One `cast` command. */
export interface Command {
  /** What follows `cast`. */
  name: string;
  /** The text of `cast <name> --help`. */
  help: string;
  /** Its own options, beyond {@link GLOBAL_OPTIONS}. */
  options: NonNullable<ParseArgsConfig['options']>;
  /** Runs it; resolves to the exit code. */
  run(input: CommandInput): Promise<number>;
}

/** The lines about `--key` and `--url`, for the help of commands that call the server. */
export const SERVER_OPTIONS_HELP = `  --key <key>     secret API key (default: $${ENV_NAMES.apiKey})
  --url <url>     Cast server URL (default: $${ENV_NAMES.baseUrl})
  --json          machine-readable output (one JSON object per line)`;

/**
 * The client for `--key` and `--url` (or the environment).
 *
 * @param input - the command's input
 * @returns the client
 * @throws UsageError when the key or URL is missing
 */
export function serverFrom({ values, io }: CommandInput): CastServer {
  const apiKey = (values.key as string | undefined) ?? io.env[ENV_NAMES.apiKey];
  const baseUrl = (values.url as string | undefined) ?? io.env[ENV_NAMES.baseUrl];
  if (!apiKey) throw new UsageError(`no API key: pass --key or set ${ENV_NAMES.apiKey}`);
  if (!baseUrl) throw new UsageError(`no server URL: pass --url or set ${ENV_NAMES.baseUrl}`);
  return new CastServer({ apiKey, baseUrl, ...(io.fetch ? { fetch: io.fetch } : {}) });
}

/**
 * "1 stream", "2 streams".
 *
 * @param count - how many
 * @param noun - the singular
 * @returns the phrase
 */
export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
