/**
 * The commands that live in their own files, `--version`, and the help of
 * every command (`cast <command> --help`, `cast help <command>`).
 */
import { parseArgs } from 'node:util';
import { version } from '../../package.json';
import { channelsCommand } from './channels.js';
import { type Command, GLOBAL_OPTIONS, SERVER_OPTIONS_HELP } from './command.js';
import { disconnectCommand } from './disconnect.js';
import type { CliIo } from './main.js';
import { presenceCommand } from './presence.js';
import { revokeCommand } from './revoke.js';
import { webhooksCommand } from './webhooks.js';

/** The commands dispatched here, by name. */
export const COMMANDS: ReadonlyMap<string, Command> = new Map(
  [presenceCommand, channelsCommand, revokeCommand, disconnectCommand, webhooksCommand].map((command) => [
    command.name,
    command,
  ]),
);

/** The lines of the top-level usage about the commands above. */
export const COMMANDS_USAGE = `  cast presence <channel>
      Print who is present on a channel, across all nodes.
  cast channels [--prefix p]
      Print the channels that have open streams, with their counts.
  cast revoke --user <id> | --token <id> | --issued-before <iso>
      Revoke tokens: their streams close, the tokens are refused afterwards.
  cast disconnect --user <id> | --session <id> [--channel c] [--reconnect]
      Close streams; the clients stop unless --reconnect asks them back.
  cast webhooks listen [--port p] [--secret s]
      Run a local webhook receiver that prints verified deliveries.`;

/** `cast <command> --help` of the commands handled in `main.ts`. */
const BUILT_IN_HELP: Record<string, string> = {
  token: `Usage: cast token --channels a,b [--user <id>] [--ttl <seconds>] [--presence] [--user-info <json>] [options]

Issue a stream token (POST /push/tokens) and print it: the bare token, so
that TOKEN=$(cast token --channels orders) works, or the whole answer with --json.

Options:
  --channels a,b   the channels the token may read (comma-separated)
  --user <id>      the user id of the token
  --ttl <seconds>  its lifetime (default: 3600)
  --presence       its stream also receives the presence events of its channels
  --user-info <json>  what other members see about the user, a JSON object (at most 1 KiB)
${SERVER_OPTIONS_HELP}`,
  publish: `Usage: cast publish <channel> <event> [json|-] [options]

Publish an event (POST /push/publish). The data is the JSON argument, read
from standard input with -, null when left out.

Options:
  --idempotency-key <key>   deliver once however often it is retried
${SERVER_OPTIONS_HELP}

Example:
  cast publish orders order.created '{"id":"a1"}'`,
  listen: `Usage: cast listen <channel...> [--user <id>] [--types a,b.*] [options]

Print the events of the channels as they arrive; resumes after drops with
Last-Event-ID and fetches a fresh token when the old one expires. Ctrl-C stops.

Options:
  --user <id>      the user id of the token
  --types a,b.*    only these event names (server-side filter)
${SERVER_OPTIONS_HELP}`,
};

/** The help text of a command, or undefined for an unknown one. */
function helpOf(name: string): string | undefined {
  return COMMANDS.get(name)?.help ?? BUILT_IN_HELP[name];
}

/**
 * The command name in `argv`: the first argument that is neither an option
 * nor the value of `--key` / `--url`.
 */
function commandName(argv: string[]): { name: string; index: number } | undefined {
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] as string;
    if (arg === '--') return undefined;
    if (arg === '--key' || arg === '--url') i += 1;
    else if (!arg.startsWith('-')) return { name: arg, index: i };
  }
  return undefined;
}

/**
 * Runs `--version`, the help of any command, and the commands of
 * {@link COMMANDS}; leaves the rest to `main`.
 *
 * @param argv - the arguments after the program name
 * @param io - standard streams, environment, signal
 * @returns the exit code, or undefined when `main` handles the command
 * @throws what the command throws (main reports it)
 */
export async function runCommand(argv: string[], io: CliIo): Promise<number | undefined> {
  const found = commandName(argv);
  if (argv.includes('--version') && (found === undefined || argv.indexOf('--version') < found.index)) {
    io.stdout(version);
    return 0;
  }
  if (found === undefined) return undefined;
  const wantsHelp = argv.includes('--help') || argv.includes('-h');
  if (found.name === 'help') {
    const topic = argv[found.index + 1];
    const help = topic === undefined ? undefined : helpOf(topic);
    if (help === undefined) return undefined;
    io.stdout(help);
    return 0;
  }
  if (wantsHelp && helpOf(found.name) !== undefined) {
    io.stdout(helpOf(found.name) as string);
    return 0;
  }
  const command = COMMANDS.get(found.name);
  if (command === undefined) return undefined;
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: { ...GLOBAL_OPTIONS, ...command.options },
  });
  return command.run({ values, args: positionals.slice(1), json: values.json === true, io });
}
