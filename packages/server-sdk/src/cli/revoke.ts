/** `cast revoke`: revoke tokens by user, token id or issue time. */
import type { RevokeRequest } from '../types.js';
import { type Command, SERVER_OPTIONS_HELP, UsageError, plural, serverFrom } from './command.js';

export const revokeCommand: Command = {
  name: 'revoke',
  help: `Usage: cast revoke --user <id> | --token <id> | --issued-before <iso> [--user <id>] [options]

Revoke tokens (POST /push/revoke): every matching open stream, on every node,
gets a final "revoked" event and closes; the tokens are refused afterwards.
Tokens issued after the revocation work.

Options:
  --user <id>            every token of this user (with --issued-before: only theirs)
  --token <id>           one token, by the tokenId it was issued with
  --issued-before <iso>  every token issued before this time, e.g. 2026-01-01T12:00:00Z
${SERVER_OPTIONS_HELP}

Examples:
  cast revoke --user user_123
  cast revoke --issued-before "$(date -u +%FT%TZ)"`,
  options: {
    user: { type: 'string' },
    token: { type: 'string' },
    'issued-before': { type: 'string' },
  },
  async run(input) {
    if (input.args.length > 0) throw new UsageError(`revoke takes no arguments (got "${input.args.join(' ')}")`);
    const userId = input.values.user as string | undefined;
    const tokenId = input.values.token as string | undefined;
    const issuedBefore = input.values['issued-before'] as string | undefined;
    let request: RevokeRequest;
    if (issuedBefore !== undefined) {
      if (tokenId !== undefined)
        throw new UsageError('give --issued-before (optionally with --user) or --token, not both');
      if (Number.isNaN(Date.parse(issuedBefore))) {
        throw new UsageError(
          `--issued-before must be an ISO 8601 time such as 2026-01-01T12:00:00Z, not "${issuedBefore}"`,
        );
      }
      request = userId === undefined ? { issuedBefore } : { issuedBefore, userId };
    } else if (userId !== undefined && tokenId !== undefined) {
      throw new UsageError('give --user or --token, not both');
    } else if (userId !== undefined) {
      request = { userId };
    } else if (tokenId !== undefined) {
      request = { tokenId };
    } else {
      throw new UsageError('revoke needs --user <id>, --token <id> or --issued-before <iso>');
    }
    const answer = await serverFrom(input).tokens.revoke(request);
    input.io.stdout(input.json ? JSON.stringify(answer) : `revoked: closed ${plural(answer.revoked, 'stream')}`);
    return 0;
  },
};
