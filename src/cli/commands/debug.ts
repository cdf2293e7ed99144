// `debug create-node`: a node waiting for registration, for testing `nodes register` /
// `auth register` without a real client.

import { Command, Option } from 'commander';
import type { NodeJson } from '../../api/shapes.js';
import { collectList } from '../args.js';
import type { CliContext } from '../context.js';

export function registerDebug(program: Command, ctx: CliContext): void {
  const debug = program.command('debug').description('debug and testing commands');
  debug
    .command('create-node')
    .description('Create a node that can be registered with the `auth register` command')
    .addOption(new Option('--name <name>', 'Name').makeOptionMandatory())
    .addOption(new Option('-u, --user <user>', 'User').makeOptionMandatory())
    .addOption(new Option('-k, --key <key>', 'Key').makeOptionMandatory())
    .option('-r, --route <routes>', 'List (or repeated flags) of routes to advertise', collectList)
    .action(async (opts: { name: string; user: string; key: string; route?: string[] }, cmd: Command) => {
      const client = await ctx.client(cmd);
      const { node } = await client.request<{ node: NodeJson }>('POST', '/api/v1/debug/node', {
        body: { user: opts.user, key: opts.key, name: opts.name, routes: opts.route ?? [] },
      });
      ctx.print(cmd, node, 'Node created');
    });
}
