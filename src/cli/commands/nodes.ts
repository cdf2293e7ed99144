// `nodes`: list, list-routes, register, expire, rename, delete, tag, approve-routes, backfillips, move —
// headscale's names, aliases and flags.

import { Command, Option } from 'commander';
import type { NodeJson } from '../../api/shapes.js';
import { collectList, collectTags, parseId, parseRfc3339, parseUserRef, type UserRef } from '../args.js';
import type { CliContext } from '../context.js';
import { pickColumns } from '../columns.js';
import { CliError } from '../errors.js';
import { renderTable, shortKey, tableTime } from '../table.js';
import { printPending } from './auth.js';
import { findUser } from './users.js';
import { BackfillNodeIPsResponse, Node } from '../goform.js';

export function nodesTable(nodes: NodeJson[], now = new Date(), columns?: string): string {
  const { header, rows } = pickColumns(
    ['ID', 'Hostname', 'Name', 'MachineKey', 'NodeKey', 'User', 'Tags', 'IP addresses', 'Ephemeral', 'Last seen', 'Expiration', 'Connected', 'Expired'],
    nodes.map((n) => [
      n.id,
      n.name,
      n.givenName,
      shortKey(n.machineKey),
      shortKey(n.nodeKey),
      n.user?.name ?? '',
      n.tags.join('\n'),
      n.ipAddresses.join('\n'),
      String(n.preAuthKey?.ephemeral ?? false),
      tableTime(n.lastSeen),
      n.expiry ? tableTime(n.expiry) : 'N/A',
      n.online ? 'online' : 'offline',
      n.expiry && new Date(n.expiry).getTime() < now.getTime() ? 'yes' : 'no',
    ]),
    columns,
  );
  return renderTable(header, rows);
}

export function routesTable(nodes: NodeJson[]): string {
  return renderTable(
    ['ID', 'Hostname', 'Approved', 'Available', 'Serving (Primary)'],
    nodes.map((n) => [n.id, n.givenName, n.approvedRoutes.join('\n'), n.availableRoutes.join('\n'), n.subnetRoutes.join('\n')]),
  );
}

const identifier = () => new Option('-i, --identifier <id>', 'Node identifier (ID)').argParser(parseId).makeOptionMandatory();

export function registerNodes(program: Command, ctx: CliContext): void {
  const nodes = program.command('nodes').aliases(['node', 'machine', 'machines']).description('Manage the nodes of Switchboard');

  nodes
    .command('list')
    .aliases(['ls', 'show'])
    .description('List nodes')
    .option('-u, --user <user>', 'Filter by user (name)')
    .option('-t, --tags', 'Show tags (kept for older headscale scripts; the Tags column is always shown)')
    .option(
      '--columns <names>',
      'Table columns to show, in this order (comma-separated: id, hostname, name, machinekey, nodekey, user, tags, ip, ephemeral, lastseen, expiration, connected, expired)',
    )
    .option('--pending', 'List machines waiting for registration (web logins, debug create-node) instead, as `auth list` does')
    .action(async (opts: { user?: string; columns?: string; pending?: boolean }, cmd: Command) => {
      if (opts.pending) {
        if (opts.user !== undefined || opts.columns !== undefined) throw new CliError('--pending lists waiting registrations: it takes no --user or --columns');
        return printPending(ctx, cmd);
      }
      // Checked before asking the server, so a typo fails fast.
      if (opts.columns !== undefined) nodesTable([], new Date(), opts.columns);
      const client = await ctx.client(cmd);
      const { nodes: list } = await client.request<{ nodes: NodeJson[] }>('GET', '/api/v1/node', {
        query: { user: opts.user },
      });
      ctx.printMessages(cmd, list, Node, () => nodesTable(list, new Date(), opts.columns));
    });

  nodes
    .command('list-routes')
    .aliases(['lsr', 'routes'])
    .description('List routes available on nodes')
    .option('-i, --identifier <id>', 'Node identifier (ID)', parseId)
    .action(async (opts: { identifier?: number }, cmd: Command) => {
      const client = await ctx.client(cmd);
      const { nodes: all } = await client.request<{ nodes: NodeJson[] }>('GET', '/api/v1/node');
      const list = all
        .filter((n) => opts.identifier === undefined || n.id === String(opts.identifier))
        .filter((n) => n.approvedRoutes.length + n.availableRoutes.length + n.subnetRoutes.length > 0);
      // headscale filters with lo.Filter, which makes an empty list, not a nil one.
      ctx.printMessages(cmd, list, Node, () => routesTable(list), { emptyAsList: true });
    });

  nodes
    .command('register')
    .description('Registers a node waiting for approval (by the key shown on its login page) to a user (deprecated: use auth register)')
    .addOption(new Option('-u, --user <user>', 'User').makeOptionMandatory())
    .addOption(new Option('-k, --key <key>', 'Key').makeOptionMandatory())
    .action(async (opts: { user: string; key: string }, cmd: Command) => {
      // cobra's notice for headscale's deprecated command, on stderr so output stays parseable.
      ctx.io.stderr(`Command "register" is deprecated, use '${program.name()} auth register --auth-id <id> --user <user>' instead\n`);
      const client = await ctx.client(cmd);
      const { node } = await client.request<{ node: NodeJson }>('POST', '/api/v1/node/register', {
        query: { user: opts.user, key: opts.key },
      });
      ctx.printMessage(cmd, node, Node, `Node ${node.givenName} registered`);
    });

  nodes
    .command('expire')
    .aliases(['logout', 'exp', 'e'])
    .description('Expire (log out) a node in your network, forcing it to re-authenticate; --disable makes it never expire')
    .addOption(identifier())
    .option('-e, --expiry <time>', 'Set expiry to this RFC 3339 time (e.g. 2025-08-27T10:00:00Z); default now', parseRfc3339)
    .option('-d, --disable', 'Disable key expiry (node will never expire)')
    .action(async (opts: { identifier: number; expiry?: Date; disable?: boolean }, cmd: Command) => {
      if (opts.disable && opts.expiry) throw new CliError('give either --expiry or --disable, not both');
      const client = await ctx.client(cmd);
      const now = new Date();
      const { node } = await client.request<{ node: NodeJson }>('POST', `/api/v1/node/${opts.identifier}/expire`, {
        query: opts.disable ? { disableExpiry: true } : { expiry: (opts.expiry ?? now).toISOString() },
      });
      const human = opts.disable
        ? 'Node expiry disabled'
        : !opts.expiry || opts.expiry.getTime() <= now.getTime()
          ? 'Node expired'
          : 'Node expiration updated';
      ctx.printMessage(cmd, node, Node, human);
    });

  nodes
    .command('rename')
    .description('Renames a node in your network (its MagicDNS name)')
    .argument('<NEW_NAME>', 'new name for the node')
    .addOption(identifier())
    .action(async (newName: string, opts: { identifier: number }, cmd: Command) => {
      if (newName.trim() === '') throw new CliError('NEW_NAME must not be empty');
      const client = await ctx.client(cmd);
      const { node } = await client.request<{ node: NodeJson }>(
        'POST',
        `/api/v1/node/${opts.identifier}/rename/${encodeURIComponent(newName)}`,
      );
      ctx.printMessage(cmd, node, Node, 'Node renamed');
    });

  nodes
    .command('delete')
    .aliases(['del'])
    .description('Delete a node; asks first unless --force')
    .addOption(identifier())
    .action(async (opts: { identifier: number }, cmd: Command) => {
      const client = await ctx.client(cmd);
      const { node } = await client.request<{ node: NodeJson }>('GET', `/api/v1/node/${opts.identifier}`);
      const ok = await ctx.confirm(cmd, `Do you want to remove the node ${node.name}?`, `delete node ${node.name}`);
      if (!ok) {
        ctx.print(cmd, { Result: 'Node not deleted' }, 'Node not deleted');
        return;
      }
      await client.request('DELETE', `/api/v1/node/${opts.identifier}`);
      ctx.print(cmd, { Result: 'Node deleted' }, 'Node deleted');
    });

  nodes
    .command('tag')
    .aliases(['tags', 't'])
    .description('Set the tags of a node (replaces its tags; a tagged node is owned by its tags)')
    .addOption(identifier())
    .addOption(
      new Option('-t, --tags <tags>', 'List of tags to set on the node (comma-separated, e.g. tag:web,tag:prod)')
        .argParser(collectTags)
        .makeOptionMandatory(),
    )
    .action(async (opts: { identifier: number; tags: string[] }, cmd: Command) => {
      const client = await ctx.client(cmd);
      const { node } = await client.request<{ node: NodeJson }>('POST', `/api/v1/node/${opts.identifier}/tags`, {
        body: { tags: opts.tags },
      });
      ctx.printMessage(cmd, node, Node, 'Node updated');
    });

  nodes
    .command('approve-routes')
    .description('Set the approved routes of a node (replaces them; --routes "" removes all)')
    .addOption(identifier())
    .addOption(
      new Option(
        '-r, --routes <routes>',
        'Routes to approve, comma-separated (e.g. "10.0.0.0/8,192.168.0.0/24"; empty string removes all)',
      )
        .argParser(collectList)
        .makeOptionMandatory(),
    )
    .action(async (opts: { identifier: number; routes: string[] }, cmd: Command) => {
      for (const r of opts.routes) {
        if (!/^[0-9a-fA-F.:]+\/\d{1,3}$/.test(r)) {
          throw new CliError(`--routes: ${JSON.stringify(r)} is not a CIDR prefix like 10.0.0.0/8`);
        }
      }
      const client = await ctx.client(cmd);
      const { node } = await client.request<{ node: NodeJson }>(
        'POST',
        `/api/v1/node/${opts.identifier}/approve_routes`,
        { body: { routes: opts.routes } },
      );
      ctx.printMessage(cmd, node, Node, 'Node updated');
    });

  nodes
    .command('move')
    .aliases(['mv'])
    .description('Move node to another user')
    .addOption(identifier())
    .addOption(new Option('-u, --user <user>', 'New owner (name or ID)').argParser(parseUserRef).makeOptionMandatory())
    .action(async (opts: { identifier: number; user: UserRef }, cmd: Command) => {
      const client = await ctx.client(cmd);
      const user = await findUser(client, opts.user);
      const { node } = await client.request<{ node: NodeJson }>('POST', `/api/v1/node/${opts.identifier}/user`, {
        body: { user: user.id },
      });
      ctx.printMessage(cmd, node, Node, 'Node moved to another user');
    });

  nodes
    .command('backfillips')
    .description(
      'Backfill IPs missing from nodes: assign an address of every configured prefix to nodes lacking one, ' +
        'and remove addresses of prefixes no longer configured; asks first unless --force',
    )
    .action(async (_opts: unknown, cmd: Command) => {
      const ok = await ctx.confirm(cmd, 'Are you sure that you want to assign/remove IPs to/from nodes?', 'backfill node IPs');
      if (!ok) return;
      const client = await ctx.client(cmd);
      const { changes } = await client.request<{ changes: string[] }>('POST', '/api/v1/node/backfillips', {
        query: { confirmed: true },
      });
      ctx.printMessage(cmd, { changes }, BackfillNodeIPsResponse, changes.length ? changes.join('\n') : 'No changes');
    });
}
