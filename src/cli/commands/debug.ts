// `debug create-node`: a made-up machine waiting for registration under the auth id given
// with --key, for testing `auth register` / `nodes register` without a real client.

import { Command, Option } from 'commander';
import type { NodeJson } from '../../api/shapes.js';
import { authIdProblem, newAuthId } from '../../auth/pending.js';
import { collectList } from '../args.js';
import { CliError } from '../errors.js';
import type { CliContext } from '../context.js';
import { Node } from '../goform.js';

export function registerDebug(program: Command, ctx: CliContext): void {
  const debug = program.command('debug').description('debug and testing commands');
  debug
    .command('create-node')
    .description('Create a node that can be registered with the `auth register --auth-id <key>` command')
    .addOption(new Option('--name <name>', 'Name').makeOptionMandatory())
    .addOption(new Option('-u, --user <user>', 'User').makeOptionMandatory())
    .addOption(new Option('-k, --key <key>', 'Key: the auth id to register it by (hskey-authreq- and 24 characters)').makeOptionMandatory())
    .option('-r, --route <routes>', 'List (or repeated flags) of routes to advertise', collectList)
    .action(async (opts: { name: string; user: string; key: string; route?: string[] }, cmd: Command) => {
      // Checked here too, as headscale's CLI does, so a malformed key never reaches the server.
      const problem = authIdProblem(opts.key);
      if (problem) throw new CliError(`--key: ${problem} (e.g. ${newAuthId()})`);
      const client = await ctx.client(cmd);
      const { node } = await client.request<{ node: NodeJson }>('POST', '/api/v1/debug/node', {
        body: { user: opts.user, key: opts.key, name: opts.name, routes: opts.route ?? [] },
      });
      ctx.printMessage(cmd, node, Node, 'Node created');
    });
}
