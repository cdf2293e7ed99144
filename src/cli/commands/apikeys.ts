// `apikeys`: create, list, expire, delete — headscale's names, aliases and flags.

import { Command, Option } from 'commander';
import type { ApiKeyJson } from '../../api/shapes.js';
import { parseExpiration, parseId } from '../args.js';
import type { ApiClient } from '../client.js';
import type { CliContext } from '../context.js';
import { CliError } from '../errors.js';
import { renderTable, tableTime } from '../table.js';
import { ApiKey } from '../goform.js';

/** The bare 12-character prefix from a listing form ("hskey-api-<prefix>-***"), a full key or the prefix itself. */
export function apiKeyPrefix(text: string): string | null {
  const t = text.trim();
  const m = /^hskey-api-([A-Za-z0-9]{12})(?:-.*)?$/.exec(t);
  if (m) return m[1]!;
  return /^[A-Za-z0-9]{12}$/.test(t) ? t : null;
}

async function pick(client: ApiClient, opts: { id?: number; prefix?: string }): Promise<{ id?: string; prefix?: string }> {
  if (opts.id !== undefined && opts.prefix !== undefined) throw new CliError('give either --id or --prefix, not both');
  if (opts.prefix !== undefined) {
    const prefix = apiKeyPrefix(opts.prefix);
    if (!prefix) throw new CliError(`--prefix ${JSON.stringify(opts.prefix)} is not an API key prefix (see \`apikeys list\`)`);
    return { prefix };
  }
  if (opts.id === undefined) throw new CliError('either --id or --prefix must be provided');
  // The delete endpoint takes a prefix in its path, so look the id up.
  const { apiKeys } = await client.request<{ apiKeys: ApiKeyJson[] }>('GET', '/api/v1/apikey');
  const key = apiKeys.find((k) => k.id === String(opts.id));
  if (!key) throw new CliError(`API key with id ${opts.id} not found`);
  return { id: key.id, prefix: apiKeyPrefix(key.prefix) ?? undefined };
}

export function registerApiKeys(program: Command, ctx: CliContext): void {
  const keys = program.command('apikeys').aliases(['apikey', 'api']).description('Handle the API keys of Switchboard');

  keys
    .command('list')
    .aliases(['ls', 'show'])
    .description('List the API keys')
    .action(async (_opts: unknown, cmd: Command) => {
      const client = await ctx.client(cmd);
      const { apiKeys } = await client.request<{ apiKeys: ApiKeyJson[] }>('GET', '/api/v1/apikey');
      ctx.printMessages(cmd, apiKeys, ApiKey, () =>
        renderTable(
          ['ID', 'Prefix', 'Expiration', 'Created', 'Last seen'],
          apiKeys.map((k) => [k.id, k.prefix, k.expiration ? tableTime(k.expiration) : '-', tableTime(k.createdAt), tableTime(k.lastSeen)]),
        ),
      );
    });

  keys
    .command('create')
    .aliases(['c', 'new'])
    .description(
      'Creates a new API key. The key is only shown now and cannot be retrieved again;\n' +
        'if you lose it, create a new one and expire the old one.',
    )
    .addOption(
      new Option('-e, --expiration <duration>', 'Human-readable expiration of the key (e.g. 30m, 24h, 90d)')
        .default(90 * 86_400_000, '90d')
        .argParser(parseExpiration),
    )
    .action(async (opts: { expiration: number }, cmd: Command) => {
      const client = await ctx.client(cmd);
      const { apiKey } = await client.request<{ apiKey: string }>('POST', '/api/v1/apikey', {
        body: { expiration: new Date(Date.now() + opts.expiration).toISOString() },
      });
      ctx.print(cmd, apiKey, apiKey);
    });

  const pickOptions = (c: Command) =>
    c.option('-p, --prefix <prefix>', 'ApiKey prefix (as listed, or the 12 characters after hskey-api-)').option('-i, --id <id>', 'ApiKey ID', parseId);

  pickOptions(keys.command('expire').aliases(['revoke', 'exp', 'e']).description('Expire an API key (by --prefix or --id)')).action(
    async (opts: { prefix?: string; id?: number }, cmd: Command) => {
      const client = await ctx.client(cmd);
      const ref = await pick(client, opts);
      const res = await client.request('POST', '/api/v1/apikey/expire', { body: ref.prefix ? { prefix: ref.prefix } : { id: ref.id } });
      ctx.print(cmd, res, 'Key expired');
    },
  );

  pickOptions(keys.command('delete').aliases(['remove', 'del']).description('Delete an API key (by --prefix or --id)')).action(
    async (opts: { prefix?: string; id?: number }, cmd: Command) => {
      const client = await ctx.client(cmd);
      const ref = await pick(client, opts);
      const res = ref.prefix
        ? await client.request('DELETE', `/api/v1/apikey/${encodeURIComponent(ref.prefix)}`)
        : await client.request('DELETE', '/api/v1/apikey/-', { query: { id: ref.id } });
      ctx.print(cmd, res, 'Key deleted');
    },
  );
}
