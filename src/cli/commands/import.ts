// `import headscale`: moves a headscale tailnet into the configured database (src/import).
// Runs locally against the database, not through a server: stop Switchboard (and headscale)
// first.

import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { CliError, ExitWithCode } from '../errors.js';

interface ImportFlags {
  db: string;
  noiseKey?: string;
  dryRun?: boolean;
  replace?: boolean;
}

export function registerImport(program: Command, ctx: CliContext): void {
  const imp = program.command('import').description('Import a tailnet from another control server');
  imp
    .command('headscale')
    .description(
      "Import headscale's database (users, nodes, keys, API keys, policy) into the configured database, in one transaction",
    )
    .requiredOption('--db <path|url>', "headscale's SQLite file, or postgresql://user:pass@host:port/db")
    .option('--noise-key <path>', "headscale's noise.private_key_path: copied to noise.private_key_path, so clients keep trusting the server")
    .option('--dry-run', 'print what would be imported and every problem; change nothing')
    .option('--replace', 'overwrite the tailnet already in the target database (and its noise key)')
    .action(async (flags: ImportFlags, cmd: Command) => {
      const { loadConfig } = await import('../../config/load.js');
      const { storeOptions } = await import('../../server/server.js');
      const { importHeadscale } = await import('../../import/run.js');
      let loaded;
      try {
        loaded = loadConfig({ path: ctx.globals(cmd).config, env: ctx.io.env, search: true });
      } catch (err) {
        throw new CliError(`loading configuration: ${err instanceof Error ? err.message : String(err)}`);
      }
      for (const w of loaded.warnings) ctx.io.stderr(`config: ${w}\n`);
      ctx.io.stderr(loaded.path ? `configuration from ${loaded.path}\n` : 'no configuration file found: importing into the built-in default database (./data)\n');
      let outcome;
      try {
        outcome = await importHeadscale({
          db: flags.db,
          noiseKey: flags.noiseKey,
          dryRun: flags.dryRun === true,
          replace: flags.replace === true,
          config: loaded.config,
          target: storeOptions(loaded.config),
          out: (l) => ctx.io.stdout(`${l}\n`),
          progress: (l) => ctx.io.stderr(`import: ${l}\n`),
        });
      } catch (err) {
        throw new CliError(`import headscale: ${err instanceof Error ? err.message : String(err)}`);
      }
      if (outcome.problems.length > 0) throw new ExitWithCode(1);
    });
}
