// `preauthkeys`: create, list, expire, delete — headscale's names, aliases and flags, with the
// user given by name or id and keys picked by id or by the key text itself.

import { Command, Option } from 'commander';
import type { PreAuthKeyJson } from '../../api/shapes.js';
import { collectTags, parseExpiration, parseId, parseUserRef, type UserRef } from '../args.js';
import type { ApiClient } from '../client.js';
import type { CliContext } from '../context.js';
import { CliError } from '../errors.js';
import { renderTable, tableTime } from '../table.js';
import { findUser } from './users.js';
import { PreAuthKey } from '../goform.js';

async function listKeys(client: ApiClient, userId?: string): Promise<PreAuthKeyJson[]> {
  const { preAuthKeys } = await client.request<{ preAuthKeys: PreAuthKeyJson[] }>('GET', '/api/v1/preauthkey');
  return userId === undefined ? preAuthKeys : preAuthKeys.filter((k) => k.user?.id === userId);
}

/** The lookup prefix of a key in any form a user may paste (full key, listing form, bare prefix). */
export function keyPrefix(text: string): string | null {
  const m = /^hskey-auth-([A-Za-z0-9]{12})(?:-.*)?$/.exec(text.trim());
  if (m) return m[1]!;
  return /^[A-Za-z0-9]{12}$/.test(text.trim()) ? text.trim() : null;
}

async function pickKey(
  client: ApiClient,
  opts: { id?: number; user?: UserRef },
  keyArg: string | undefined,
): Promise<string> {
  if (opts.id !== undefined && keyArg !== undefined) throw new CliError('give either KEY or --id, not both');
  if (opts.id !== undefined) return String(opts.id);
  if (keyArg === undefined) throw new CliError('missing KEY argument or --id flag: which key?');
  const userId = opts.user ? (await findUser(client, opts.user)).id : undefined;
  const keys = await listKeys(client, userId);
  const prefix = keyPrefix(keyArg);
  const matches = keys.filter((k) => (prefix ? keyPrefix(k.key) === prefix : k.key === keyArg));
  if (matches.length === 0) {
    throw new CliError(`no pre-auth key matches ${JSON.stringify(keyArg)}${opts.user ? ' for that user' : ''}`);
  }
  if (matches.length > 1) throw new CliError('several keys match; pick one with --id');
  return matches[0]!.id;
}

function owner(k: PreAuthKeyJson): string {
  if (k.aclTags.length > 0) return k.aclTags.join('\n');
  return k.user?.name ?? '-';
}

export function registerPreAuthKeys(program: Command, ctx: CliContext): void {
  const keys = program
    .command('preauthkeys')
    .aliases(['preauthkey', 'authkey', 'pre'])
    .description('Handle the preauthkeys in Switchboard');

  keys
    .command('list')
    .aliases(['ls', 'show'])
    .description('List all preauthkeys (optionally only those of one user)')
    .option('-u, --user <user>', 'Only keys of this user (name or ID)', parseUserRef)
    .action(async (opts: { user?: UserRef }, cmd: Command) => {
      const client = await ctx.client(cmd);
      const userId = opts.user ? (await findUser(client, opts.user)).id : undefined;
      const list = await listKeys(client, userId);
      ctx.printMessages(cmd, list, PreAuthKey, () =>
        renderTable(
          ['ID', 'Key/Prefix', 'Reusable', 'Ephemeral', 'Used', 'Expiration', 'Created', 'Owner'],
          list.map((k) => [
            k.id,
            k.key,
            String(k.reusable),
            String(k.ephemeral),
            String(k.used),
            k.expiration ? tableTime(k.expiration) : '-',
            tableTime(k.createdAt),
            owner(k),
          ]),
        ),
      );
    });

  keys
    .command('create')
    .aliases(['c', 'new'])
    .description('Creates a new preauthkey; prints the key (shown only once)')
    .option('-u, --user <user>', 'Owner of the nodes it registers (name or ID); optional with --tags', parseUserRef)
    .option('--reusable', 'Make the preauthkey reusable', false)
    .option('--ephemeral', 'Preauthkey for ephemeral nodes', false)
    .addOption(
      new Option('-e, --expiration <duration>', 'Human-readable expiration of the key (e.g. 30m, 24h, 90d)')
        .default(3_600_000, '1h')
        .argParser(parseExpiration),
    )
    .option('--tags <tags>', 'Tags to automatically assign to node (comma-separated, e.g. tag:a,tag:b)', collectTags)
    .action(
      async (
        opts: { user?: UserRef; reusable: boolean; ephemeral: boolean; expiration: number; tags?: string[] },
        cmd: Command,
      ) => {
        if (!opts.user && !opts.tags?.length) {
          throw new CliError('--user is required (or --tags, for a key that registers tagged nodes)');
        }
        const client = await ctx.client(cmd);
        const user = opts.user ? await findUser(client, opts.user) : undefined;
        const { preAuthKey } = await client.request<{ preAuthKey: PreAuthKeyJson }>('POST', '/api/v1/preauthkey', {
          body: {
            user: user?.id ?? '0',
            reusable: opts.reusable,
            ephemeral: opts.ephemeral,
            expiration: new Date(Date.now() + opts.expiration).toISOString(),
            aclTags: opts.tags ?? [],
          },
        });
        ctx.printMessage(cmd, preAuthKey, PreAuthKey, preAuthKey.key);
      },
    );

  const pickOptions = (c: Command) =>
    c
      .argument('[KEY]', 'the key, its listed form (hskey-auth-<prefix>-***) or its prefix')
      .option('-i, --id <id>', 'Authkey ID', parseId)
      .option('-u, --user <user>', 'Look KEY up among this user’s keys (name or ID)', parseUserRef);

  pickOptions(
    keys.command('expire').aliases(['revoke', 'exp', 'e']).description('Expire a preauthkey (by KEY or --id)'),
  ).action(async (keyArg: string | undefined, opts: { id?: number; user?: UserRef }, cmd: Command) => {
    const client = await ctx.client(cmd);
    const id = await pickKey(client, opts, keyArg);
    const res = await client.request('POST', '/api/v1/preauthkey/expire', { body: { id } });
    ctx.print(cmd, res, 'Key expired');
  });

  pickOptions(
    keys.command('delete').aliases(['del', 'rm', 'd']).description('Delete a preauthkey (by KEY or --id)'),
  ).action(async (keyArg: string | undefined, opts: { id?: number; user?: UserRef }, cmd: Command) => {
    const client = await ctx.client(cmd);
    const id = await pickKey(client, opts, keyArg);
    const res = await client.request('DELETE', '/api/v1/preauthkey', { query: { id } });
    ctx.print(cmd, res, 'Key deleted');
  });
}
