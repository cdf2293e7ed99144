// `switchboard serve`: load the configuration, start the server, stop cleanly on
// SIGINT/SIGTERM. The first start of an empty database bootstraps a default user only when
// no config file is in use (zero-setup) or with --bootstrap; see printBootstrap for where
// the key goes.

import type { Command } from 'commander';
import { loadConfig, ConfigError } from '../config/load.js';
import { createLogger } from '../util/log.js';
import { MAKE_KEY_COMMAND, redactKey, type BootstrapResult } from './bootstrap.js';
import { SwitchboardServer } from './server.js';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('Start the Switchboard control server (config from -c/--config or the folders `switchboard --help` lists; without one, built-in defaults with state under ./data)')
    .addHelpText(
      'after',
      '\nEnvironment variables override config keys: SWITCHBOARD_LISTEN_ADDR, SWITCHBOARD_DATABASE_SQLITE_PATH, … (HEADSCALE_… works too).\n' +
        'Signals: SIGINT/SIGTERM stop the server gracefully; SIGHUP reloads the policy file (policy.mode: file) and dns.extra_records_path.',
    )
    .option('--bootstrap', 'on an empty database, create a user "default" (and, on a terminal, a join key) even with a config file')
    .action(async (opts: { bootstrap?: boolean }, cmd: Command) => {
      const globals = cmd.optsWithGlobals() as { config?: string };
      let loaded;
      try {
        loaded = loadConfig({ path: globals.config, search: true });
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
      log.info(path ? `configuration from ${path}` : 'no configuration file found: using built-in defaults (state under ./data)');
      let server: SwitchboardServer;
      try {
        server = await SwitchboardServer.start({
          config,
          log,
          // A terminal gets the key once; anything else (a service manager, a file) gets none.
          bootstrap: opts.bootstrap || !path ? (process.stdout.isTTY ? 'user-and-key' : 'user') : 'off',
          onBootstrap: (b) => printBootstrap(b, log),
        });
      } catch (err) {
        log.error(`could not start: ${(err as Error).message}`);
        process.exit(1);
      }
      if (server.tailnet.listUsers().length === 0) {
        log.info('no users yet: create one with `switchboard users create NAME`, then a key with `switchboard preauthkeys create --user NAME`');
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

/**
 * The join key is never part of a log line (logs end up in files and journals): the log
 * names only its prefix. The full command goes to stdout once, and only when stdout is a
 * terminal (the server then made a key at all).
 */
function printBootstrap(b: BootstrapResult, log: ReturnType<typeof createLogger>): void {
  if (b.key === null) {
    log.info(`first start: created user "${b.user}"; make a key to join machines with: ${MAKE_KEY_COMMAND}`);
    return;
  }
  log.info(`first start: created user "${b.user}" and reusable pre-auth key ${redactKey(b.key)} (valid until ${b.expiration.toISOString()}); the join command is on the terminal`);
  process.stdout.write(
    `\nFirst start: created user "${b.user}" and a reusable pre-auth key (valid until ${b.expiration.toISOString()}).\n` +
      `Join a machine with (shown once, not logged):\n\n  ${b.command}\n\n`,
  );
}
