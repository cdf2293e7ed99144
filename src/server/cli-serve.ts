// `switchboard serve`: load the configuration, start the server, stop cleanly on
// SIGINT/SIGTERM. The first start of an empty database prints the join command.

import type { Command } from 'commander';
import { loadConfig, ConfigError } from '../config/load.js';
import { createLogger } from '../util/log.js';
import { SwitchboardServer } from './server.js';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('Start the Switchboard control server (config from -c/--config, or built-in defaults with state under ./data)')
    .addHelpText(
      'after',
      '\nEnvironment variables override config keys: SWITCHBOARD_LISTEN_ADDR, SWITCHBOARD_DATABASE_SQLITE_PATH, … (HEADSCALE_… works too).\n' +
        'Signals: SIGINT/SIGTERM stop the server gracefully; SIGHUP reloads the policy file (policy.mode: file) and dns.extra_records_path.',
    )
    .action(async (_opts: unknown, cmd: Command) => {
      const globals = cmd.optsWithGlobals() as { config?: string };
      let loaded;
      try {
        loaded = loadConfig({ path: globals.config });
      } catch (err) {
        if (err instanceof ConfigError) {
          process.stderr.write(`switchboard: configuration error: ${err.message}\n`);
          process.exit(1);
        }
        throw err;
      }
      const { config, warnings, path } = loaded;
      const log = createLogger(config.log.level, config.log.format);
      for (const w of warnings) log.warn(`config: ${w}`);
      log.info(path ? `configuration from ${path}` : 'no configuration file: using built-in defaults (state under ./data)');
      let server: SwitchboardServer;
      try {
        server = await SwitchboardServer.start({
          config,
          log,
          onBootstrap: (b) => {
            // The join command goes to stdout once, for the admin who just started the server.
            process.stdout.write(
              `\nFirst start: created user "${b.user}" and a reusable pre-auth key (valid until ${b.expiration.toISOString()}).\n` +
                `Join a machine with:\n\n  ${b.command}\n\n`,
            );
          },
        });
      } catch (err) {
        log.error(`could not start: ${(err as Error).message}`);
        process.exit(1);
      }
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        log.info(`${signal}: shutting down`);
        server.close().then(
          () => process.exit(0),
          (err: Error) => {
            log.error(`shutdown: ${err.message}`);
            process.exit(1);
          },
        );
      };
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGHUP', () => {
        if (config.dns.extra_records_path) server.reloadExtraRecords();
        if (config.policy.mode !== 'file') return log.info('SIGHUP: policy.mode is database; nothing to reload');
        log.info('SIGHUP: reloading the policy file');
        server.reloadPolicy();
      });
    });
}
