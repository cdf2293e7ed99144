// `audit list`: the server's record of admin changes (Switchboard's own; headscale has none).

import type { Command } from 'commander';
import { parseId, parseRfc3339 } from '../args.js';
import type { CliContext } from '../context.js';
import { renderTable, tableTime } from '../table.js';

interface AuditEventJson {
  id: string;
  createdAt: string | null;
  actor: string;
  action: string;
  target: string;
  detail: Record<string, unknown>;
}

export function auditTable(events: AuditEventJson[]): string {
  return renderTable(
    ['ID', 'Time', 'Actor', 'Action', 'Target', 'Detail'],
    events.map((e) => [e.id, tableTime(e.createdAt), e.actor, e.action, e.target, Object.keys(e.detail).length ? JSON.stringify(e.detail) : '']),
  );
}

export function registerAudit(program: Command, ctx: CliContext): void {
  const audit = program.command('audit').description('Show the audit log of admin changes');
  audit
    .command('list')
    .aliases(['ls', 'show'])
    .description('List admin changes, newest first: who (API key prefix or local socket), what, when')
    .option('-n, --limit <n>', 'At most this many events (1-1000)', parseId, 100)
    .option('--before <id>', 'Only events older than this event id (to page back)', parseId)
    .option('--since <time>', 'Only events at or after this RFC 3339 time', parseRfc3339)
    .action(async (opts: { limit: number; before?: number; since?: Date }, cmd: Command) => {
      const client = await ctx.client(cmd);
      const { events } = await client.request<{ events: AuditEventJson[] }>('GET', '/api/v1/audit', {
        query: { limit: opts.limit, before: opts.before, since: opts.since?.toISOString() },
      });
      ctx.printList(cmd, events, () => auditTable(events));
    });
}
