// `health`: asks the server whether it reaches its database; exit 0 only when it does.

import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { HealthResponse } from '../goform.js';

export function registerHealth(program: Command, ctx: CliContext): void {
  program
    .command('health')
    .description('Check the health of the Switchboard server (exit code 0 when healthy, 1 when not)')
    .action(async (_opts: unknown, cmd: Command) => {
      const client = await ctx.client(cmd);
      const reply = await client.request<{ databaseConnectivity: boolean }>('GET', '/api/v1/health');
      ctx.printMessage(cmd, reply, HealthResponse, `database connectivity: ${reply.databaseConnectivity}`);
    });
}
