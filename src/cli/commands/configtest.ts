// `configtest`: loads the configuration as `serve` would and reports the first problem;
// exit 0 means `serve` will accept it.

import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { CliError } from '../errors.js';

export function registerConfigTest(program: Command, ctx: CliContext): void {
  program
    .command('configtest')
    .description('Test the configuration.')
    .action(async (_opts: unknown, cmd: Command) => {
      const { config } = ctx.globals(cmd);
      const { loadConfig } = await import('../../config/load.js');
      let loaded: Awaited<ReturnType<typeof loadConfig>>;
      try {
        loaded = await loadConfig({ path: config, env: ctx.io.env });
      } catch (err) {
        throw new CliError(`configuration error: ${err instanceof Error ? err.message : String(err)}`);
      }
      for (const w of loaded.warnings ?? []) ctx.io.stderr(`warning: ${typeof w === 'string' ? w : JSON.stringify(w)}\n`);
      const where = loaded.path ?? 'built-in defaults';
      ctx.print(cmd, { valid: true, path: loaded.path ?? null, warnings: loaded.warnings ?? [] }, `Configuration is valid (${where})`);
    });
}
