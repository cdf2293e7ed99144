// The `switchboard` command line: headscale's admin commands against a running server, plus
// `serve` (registered by the server module). main() never throws; it returns the exit code
// and sets process.exitCode.

import { Command, CommanderError, Option } from 'commander';
import { registerApiKeys } from './commands/apikeys.js';
import { registerAudit } from './commands/audit.js';
import { registerAuth } from './commands/auth.js';
import { registerCompletion } from './commands/completion.js';
import { registerConfigTest } from './commands/configtest.js';
import { registerDebug } from './commands/debug.js';
import { registerGenerate } from './commands/generate.js';
import { registerHealth } from './commands/health.js';
import { registerImport } from './commands/import.js';
import { registerNodes } from './commands/nodes.js';
import { registerPolicy } from './commands/policy.js';
import { registerPreAuthKeys } from './commands/preauthkeys.js';
import { registerUsers } from './commands/users.js';
import { registerVersion } from './commands/version.js';
import { complete, COMPLETE_COMMAND, completionWords, formatCompletion } from './complete.js';
import { CliContext, type CliIO } from './context.js';
import { CliError, ExitWithCode } from './errors.js';
import { formatError, OUTPUT_FORMATS, type OutputFormat } from './output.js';

/** Lets other parts of the program add commands (e.g. `serve`). */
export type CommandRegistrar = (program: Command) => void;

export function buildProgram(ctx: CliContext, extra: CommandRegistrar[] = []): Command {
  const program = new Command('switchboard')
    .description(
      'switchboard - a self-hosted control server for Tailscale clients, compatible with headscale\'s CLI and API',
    )
    .option(
      '-c, --config <path>',
      'config file (default: $SWITCHBOARD_CONFIG, $HEADSCALE_CONFIG, else config.yaml in ., ~/.switchboard, ~/.headscale, /etc/switchboard, /etc/headscale; ' +
        'else built-in defaults with the socket at ~/.switchboard/switchboard.sock)',
    )
    .addOption(
      new Option('-o, --output <format>', "Output format. Empty for human-readable, 'json', 'json-line' or 'yaml'").choices(
        OUTPUT_FORMATS,
      ),
    )
    .option('--force', 'Disable prompts and force the execution', false)
    .option('--address <url>', 'Remote server: https://host:port, or http:// on loopback (default: $SWITCHBOARD_CLI_ADDRESS, then cli.address, else the unix socket)')
    .option('--api-key <key>', 'API key for --address (default: $SWITCHBOARD_CLI_API_KEY, then cli.api_key)')
    .showHelpAfterError('(add --help for usage)')
    .configureHelp({ showGlobalOptions: true, sortSubcommands: true })
    .configureOutput({ writeOut: ctx.io.stdout, writeErr: ctx.io.stderr })
    .exitOverride();
  registerUsers(program, ctx);
  registerPreAuthKeys(program, ctx);
  registerNodes(program, ctx);
  registerApiKeys(program, ctx);
  registerPolicy(program, ctx);
  registerAuth(program, ctx);
  registerDebug(program, ctx);
  registerConfigTest(program, ctx);
  registerGenerate(program, ctx);
  registerVersion(program, ctx);
  registerHealth(program, ctx);
  registerAudit(program, ctx);
  registerImport(program, ctx);
  registerCompletion(program, ctx);
  for (const add of extra) add(program);
  return program;
}

/** The server module adds `serve`; if it is not part of this build, say so when asked for. */
async function serveRegistrar(): Promise<CommandRegistrar> {
  try {
    const mod = (await import('../server/cli-serve.js')) as { registerServe: CommandRegistrar };
    return mod.registerServe;
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return (program) =>
      program
        .command('serve')
        .description('Launches the Switchboard server (unavailable in this build)')
        .allowUnknownOption()
        .allowExcessArguments()
        .action(() => {
          throw new CliError(`the server is not available in this build: ${reason}`);
        });
  }
}

function outputFormatIn(argv: string[]): OutputFormat | undefined {
  // Errors must honour -o even when parsing failed before commander stored it.
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = a === '-o' || a === '--output' ? argv[i + 1] : a.startsWith('--output=') ? a.slice(9) : undefined;
    if (v && (OUTPUT_FORMATS as readonly string[]).includes(v)) return v as OutputFormat;
  }
  return undefined;
}

/** The first argument that is not a global option or its value: the subcommand's name. */
function firstOperand(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (['-c', '--config', '-o', '--output', '--address', '--api-key'].includes(a)) i++;
    else if (!a.startsWith('-')) return a;
  }
  return undefined;
}

/** `argv` as in process.argv (node, script, ...args). */
export async function main(argv: string[], extra: CommandRegistrar[] = [], io?: CliIO): Promise<number> {
  const cliIO: CliIO = io ?? {
    stdout: (s) => void process.stdout.write(s),
    stderr: (s) => void process.stderr.write(s),
    stdin: process.stdin,
    env: process.env,
  };
  const ctx = new CliContext(cliIO);
  const code = await run(ctx, argv, extra);
  if (!io) process.exitCode = code;
  return code;
}

async function run(ctx: CliContext, argv: string[], extra: CommandRegistrar[]): Promise<number> {
  try {
    // The server module is heavy; admin commands should start fast, so load it only when
    // `serve` may run or the top-level help lists it.
    const sub = firstOperand(argv.slice(2));
    const completing = argv[2] === COMPLETE_COMMAND;
    const serve = sub === undefined || sub === 'serve' || sub === 'help' || completing ? [await serveRegistrar()] : [];
    const program = buildProgram(ctx, [...serve, ...extra]);
    if (completing) {
      // The shell scripts' call: answered from the command tree, before commander parses
      // anything, so half-typed words (e.g. "-o js") are never refused.
      ctx.io.stdout(formatCompletion(complete(program, completionWords(argv.slice(3)))));
      return 0;
    }
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander has already printed its message (or the help it was asked for).
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? 0 : err.exitCode || 1;
    }
    if (err instanceof ExitWithCode) return err.exitCode;
    const message =
      err instanceof CliError ? err.message : `unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
    ctx.io.stderr(`${formatError(message, outputFormatIn(argv))}\n`);
    return 1;
  }
}
