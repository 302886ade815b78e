/** `cast presence <channel>`: who is on a channel, across all nodes. */
import { type Command, SERVER_OPTIONS_HELP, UsageError, plural, serverFrom } from './command.js';

export const presenceCommand: Command = {
  name: 'presence',
  help: `Usage: cast presence <channel> [options]

Print the members of a channel across all nodes: each user with open streams
on it, how many, and their userInfo (GET /push/presence).

Options:
${SERVER_OPTIONS_HELP}

Example:
  cast presence room:1`,
  options: {},
  async run(input) {
    const [channel, ...extra] = input.args;
    if (channel === undefined) throw new UsageError('presence needs <channel>');
    if (extra.length > 0) throw new UsageError(`presence takes one channel (got "${extra.join(' ')}")`);
    const answer = await serverFrom(input).presence.get(channel);
    if (input.json) {
      input.io.stdout(JSON.stringify(answer));
      return 0;
    }
    input.io.stdout(
      `${answer.channel}: ${plural(answer.members.length, 'member')}, ${plural(answer.connections, 'connection')}`,
    );
    for (const member of answer.members) {
      const info = member.userInfo === null ? '' : `  ${JSON.stringify(member.userInfo)}`;
      input.io.stdout(`  ${member.userId}  ${plural(member.connections, 'connection')}${info}`);
    }
    return 0;
  },
};
