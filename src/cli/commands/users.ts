// `users`: create, list, rename, destroy — headscale's names, aliases and flags.

import { Command, Option } from 'commander';
import type { UserJson } from '../../api/shapes.js';
import { parseId, type UserRef } from '../args.js';
import type { ApiClient } from '../client.js';
import type { CliContext } from '../context.js';
import { CliError } from '../errors.js';
import { renderTable, tableTime } from '../table.js';
import { User } from '../goform.js';

/** Finds exactly one user by id or name, as rename/destroy/preauthkeys need. */
export async function findUser(client: ApiClient, ref: UserRef): Promise<UserJson> {
  const query = 'id' in ref ? { id: ref.id } : { name: ref.name };
  const { users } = await client.request<{ users: UserJson[] }>('GET', '/api/v1/user', { query });
  // Filter again locally: a server may ignore an unknown filter and return everyone.
  const matches = users.filter((u) => ('id' in ref ? u.id === String(ref.id) : u.name === ref.name));
  const label = 'id' in ref ? `with id ${ref.id}` : JSON.stringify(ref.name);
  if (matches.length === 0) throw new CliError(`user ${label} not found`);
  if (matches.length > 1) throw new CliError(`multiple users match ${label}; pick one with --identifier`);
  return matches[0]!;
}

function refFromFlags(opts: { identifier?: number; name?: string }): UserRef {
  if (opts.identifier !== undefined && opts.name !== undefined) {
    throw new CliError('give either --identifier or --name, not both');
  }
  if (opts.identifier !== undefined) return { id: opts.identifier };
  if (opts.name !== undefined) return { name: opts.name };
  throw new CliError('--identifier or --name is required to pick the user');
}

function identifierOptions(cmd: Command): Command {
  return cmd
    .option('-i, --identifier <id>', 'User identifier (ID)', parseId)
    .option('-n, --name <name>', 'Username');
}

export function registerUsers(program: Command, ctx: CliContext): void {
  const users = program
    .command('users')
    .aliases(['user'])
    .description('Manage the users of Switchboard');

  users
    .command('create')
    .aliases(['c', 'new'])
    .description('Creates a new user')
    .argument('<NAME>', 'login name of the new user, e.g. alice or alice@example.com')
    .option('-d, --display-name <name>', 'Display name')
    .option('-e, --email <email>', 'Email')
    .option('-p, --picture-url <url>', 'Profile picture URL')
    .action(async (name: string, opts: { displayName?: string; email?: string; pictureUrl?: string }, cmd: Command) => {
      if (opts.pictureUrl !== undefined && !URL.canParse(opts.pictureUrl)) {
        throw new CliError(`--picture-url ${JSON.stringify(opts.pictureUrl)} is not an absolute URL`);
      }
      const client = await ctx.client(cmd);
      const { user } = await client.request<{ user: UserJson }>('POST', '/api/v1/user', {
        body: { name, displayName: opts.displayName, email: opts.email, pictureUrl: opts.pictureUrl },
      });
      ctx.printMessage(cmd, user, User, 'User created');
    });

  identifierOptions(
    users
      .command('list')
      .aliases(['ls', 'show'])
      .description('List all the users (filter by one of --identifier, --name or --email)'),
  )
    .option('-e, --email <email>', 'Email')
    .action(async (opts: { identifier?: number; name?: string; email?: string }, cmd: Command) => {
      const client = await ctx.client(cmd);
      // Like headscale, filter by one field at most.
      const query = opts.identifier
        ? { id: opts.identifier }
        : opts.name
          ? { name: opts.name }
          : opts.email
            ? { email: opts.email }
            : {};
      const { users: list } = await client.request<{ users: UserJson[] }>('GET', '/api/v1/user', { query });
      ctx.printMessages(cmd, list, User, () =>
        renderTable(
          ['ID', 'Name', 'Username', 'Email', 'Created'],
          list.map((u) => [u.id, u.displayName, u.name, u.email, tableTime(u.createdAt)]),
        ),
      );
    });

  identifierOptions(
    users.command('rename').aliases(['mv']).description('Renames a user (pick it with --identifier or --name)'),
  )
    .addOption(new Option('-r, --new-name <name>', 'New username').makeOptionMandatory())
    .action(async (opts: { identifier?: number; name?: string; newName: string }, cmd: Command) => {
      const ref = refFromFlags(opts);
      if (opts.newName.trim() === '') throw new CliError('--new-name must not be empty');
      const client = await ctx.client(cmd);
      const current = await findUser(client, ref);
      const { user } = await client.request<{ user: UserJson }>(
        'POST',
        `/api/v1/user/${current.id}/rename/${encodeURIComponent(opts.newName)}`,
      );
      ctx.printMessage(cmd, user, User, 'User renamed');
    });

  identifierOptions(
    users
      .command('destroy')
      .aliases(['delete'])
      .description('Destroys a user (pick it with --identifier or --name); asks first unless --force'),
  ).action(async (opts: { identifier?: number; name?: string }, cmd: Command) => {
    const ref = refFromFlags(opts);
    const client = await ctx.client(cmd);
    const user = await findUser(client, ref);
    const ok = await ctx.confirm(
      cmd,
      `Do you want to remove the user ${JSON.stringify(user.name)} (${user.id}) and any associated preauthkeys?`,
      `destroy user ${JSON.stringify(user.name)}`,
    );
    if (!ok) {
      ctx.print(cmd, { Result: 'User not destroyed' }, 'User not destroyed');
      return;
    }
    await client.request('DELETE', `/api/v1/user/${user.id}`);
    ctx.print(cmd, {}, 'User destroyed');
  });
}
