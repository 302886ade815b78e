/** `cast channels`: the channels that have open streams (occupancy). */
import { type Command, SERVER_OPTIONS_HELP, UsageError, plural, serverFrom } from './command.js';

export const channelsCommand: Command = {
  name: 'channels',
  help: `Usage: cast channels [--prefix <p>] [options]

Print every channel of your tenant that has at least one open stream, with
its connection and user counts, across all nodes (GET /push/channels, every page).

Options:
  --prefix <p>    only the channels whose name starts with this
${SERVER_OPTIONS_HELP}

Example:
  cast channels --prefix order:`,
  options: { prefix: { type: 'string' } },
  async run(input) {
    if (input.args.length > 0) throw new UsageError(`channels takes no arguments (got "${input.args.join(' ')}")`);
    const prefix = input.values.prefix as string | undefined;
    for await (const info of serverFrom(input).channels.all(prefix === undefined ? {} : { prefix })) {
      input.io.stdout(
        input.json
          ? JSON.stringify(info)
          : `${info.channel}  ${plural(info.connections, 'connection')}, ${plural(info.users, 'user')}`,
      );
    }
    return 0;
  },
};
