/** `cast disconnect`: close a user's streams or one session. */
import type { DisconnectRequest } from '../types.js';
import { type Command, SERVER_OPTIONS_HELP, UsageError, plural, serverFrom } from './command.js';

export const disconnectCommand: Command = {
  name: 'disconnect',
  help: `Usage: cast disconnect --user <id> | --session <id> [--channel <c>] [--reconnect] [options]

Close streams (POST /push/disconnect) with a final "disconnected" event,
counted across all nodes. The clients stop, as with the API's default,
unless --reconnect tells them to come back (picking up new grants).

Options:
  --user <id>       every stream of this user
  --session <id>    one stream (an id from GET /push/sessions)
  --channel <c>     only the streams that receive this channel
  --reconnect       tell the clients to reconnect at once
  --no-reconnect    tell the clients not to reconnect (the default)
${SERVER_OPTIONS_HELP}

Examples:
  cast disconnect --user user_123
  cast disconnect --session 0b6f… --reconnect`,
  options: {
    user: { type: 'string' },
    session: { type: 'string' },
    channel: { type: 'string' },
    reconnect: { type: 'boolean', default: false },
    // Kept so that scripts written when reconnecting was the default still parse; it now
    // says what the default already does.
    'no-reconnect': { type: 'boolean', default: false },
  },
  async run(input) {
    if (input.args.length > 0) throw new UsageError(`disconnect takes no arguments (got "${input.args.join(' ')}")`);
    const userId = input.values.user as string | undefined;
    const sessionId = input.values.session as string | undefined;
    const channel = input.values.channel as string | undefined;
    const reconnect = input.values.reconnect === true;
    if (reconnect && input.values['no-reconnect'] === true) {
      throw new UsageError('disconnect takes --reconnect or --no-reconnect, not both');
    }
    if ((userId === undefined) === (sessionId === undefined)) {
      throw new UsageError('disconnect needs one of --user <id> or --session <id>');
    }
    const selector: DisconnectRequest = userId !== undefined ? { userId } : { sessionId: sessionId as string };
    const answer = await serverFrom(input).connections.disconnect({
      ...selector,
      ...(channel === undefined ? {} : { channel }),
      reconnect,
    });
    input.io.stdout(
      input.json
        ? JSON.stringify(answer)
        : `disconnected ${plural(answer.disconnected, 'stream')}` +
            (reconnect ? ' (the clients will reconnect)' : ' (the clients were told not to reconnect)'),
    );
    return 0;
  },
};
