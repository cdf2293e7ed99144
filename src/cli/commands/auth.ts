// `auth`: decide web logins waiting for an administrator — headscale's register, approve
// and reject (with its flags), plus `list` to see what is waiting.

import { Command, Option } from 'commander';
import type { NodeJson } from '../../api/shapes.js';
import type { CliContext } from '../context.js';
import { renderTable, shortKey, tableTime } from '../table.js';
import { Node } from '../goform.js';

interface PendingJson {
  authId: string;
  machineKey: string;
  nodeKey: string;
  hostname: string;
  knownNode: string;
  createdAt: string;
  expiresAt: string;
}

const authIdOption = () => new Option('--auth-id <id>', 'Auth ID (from the link `tailscale up` printed)').makeOptionMandatory();

export function registerAuth(program: Command, ctx: CliContext): void {
  const auth = program.command('auth').description('Manage node authentication and approval (web login)');

  auth
    .command('register')
    .description('Register the machine of a pending web login to a user')
    .addOption(new Option('-u, --user <user>', 'User (name or ID)').makeOptionMandatory())
    .addOption(authIdOption())
    .action(async (opts: { user: string; authId: string }, cmd: Command) => {
      const client = await ctx.client(cmd);
      const { node } = await client.request<{ node: NodeJson }>('POST', '/api/v1/auth/register', {
        body: { user: opts.user, authId: opts.authId },
      });
      ctx.printMessage(cmd, node, Node, `Node ${node.givenName} registered`);
    });

  auth
    .command('approve')
    .description('Approve a pending web login of a machine already on the tailnet (it keeps its owner)')
    .addOption(authIdOption())
    .action(async (opts: { authId: string }, cmd: Command) => {
      const client = await ctx.client(cmd);
      const reply = await client.request<Record<string, never>>('POST', '/api/v1/auth/approve', { body: { authId: opts.authId } });
      ctx.print(cmd, reply, 'Auth request approved');
    });

  auth
    .command('reject')
    .description('Reject a pending web login')
    .addOption(authIdOption())
    .action(async (opts: { authId: string }, cmd: Command) => {
      const client = await ctx.client(cmd);
      const reply = await client.request<Record<string, never>>('POST', '/api/v1/auth/reject', { body: { authId: opts.authId } });
      ctx.print(cmd, reply, 'Auth request rejected');
    });

  auth
    .command('list')
    .aliases(['ls', 'pending'])
    .description('List web logins waiting for a decision')
    .action(async (_opts: unknown, cmd: Command) => printPending(ctx, cmd));
}

/** `auth list`, and `nodes list --pending`. */
export async function printPending(ctx: CliContext, cmd: Command): Promise<void> {
  const client = await ctx.client(cmd);
  const { registrations } = await client.request<{ registrations: PendingJson[] }>('GET', '/api/v1/auth/pending');
  ctx.printList(cmd, registrations, () =>
    renderTable(
      ['Auth ID', 'Hostname', 'Machine key', 'Known as', 'Created', 'Expires'],
      registrations.map((r) => [r.authId, r.hostname, shortKey(r.machineKey), r.knownNode, tableTime(r.createdAt), tableTime(r.expiresAt)]),
    ),
  );
}
