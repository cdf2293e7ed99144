// What every command needs: the global flags (-c, -o, --force), a lazily created API client,
// and printing in the requested format. One instance per CLI run; nothing global.

import type { Command } from 'commander';
import { ApiClient } from './client.js';
import { confirm } from './confirm.js';
import { resolveEndpoint } from './endpoint.js';
import { toGo, toGoList, type GoFormat, type ProtoMessage } from './goform.js';
import { formatMachine, type OutputFormat } from './output.js';

const goFormat = (o: OutputFormat): GoFormat => (o === 'yaml' ? 'yaml' : 'json');

export interface CliIO {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

export interface GlobalOptions {
  config?: string;
  output?: OutputFormat;
  force: boolean;
}

export class CliContext {
  private clientPromise: Promise<ApiClient> | null = null;

  constructor(readonly io: CliIO) {}

  globals(cmd: Command): GlobalOptions {
    const o = cmd.optsWithGlobals<{ config?: string; output?: OutputFormat; force?: boolean }>();
    return { config: o.config, output: o.output, force: o.force === true };
  }

  client(cmd: Command): Promise<ApiClient> {
    const { config } = this.globals(cmd);
    // --address / --api-key win over the environment, which wins over the config file.
    const flags = cmd.optsWithGlobals<{ address?: string; apiKey?: string }>();
    const env = { ...this.io.env };
    if (flags.address) env['SWITCHBOARD_CLI_ADDRESS'] = flags.address;
    if (flags.apiKey) env['SWITCHBOARD_CLI_API_KEY'] = flags.apiKey;
    this.clientPromise ??= resolveEndpoint({
      env,
      configPath: config,
      warn: (msg) => this.io.stderr(`${msg}\n`),
    }).then((ep) => new ApiClient(ep, ep.kind === 'remote' ? ep.timeoutMs : undefined));
    return this.clientPromise;
  }

  /** Prints `value` in the machine format asked for, or `human` by default. */
  print(cmd: Command, value: unknown, human: string): void {
    const { output } = this.globals(cmd);
    this.io.stdout(`${output ? formatMachine(value, output) : human}\n`);
  }

  /** Like print, but the human form is a table built only when needed. */
  printList(cmd: Command, value: unknown, table: () => string): void {
    const { output } = this.globals(cmd);
    this.io.stdout(`${output ? formatMachine(value, output) : table()}\n`);
  }

  /**
   * A proto message (the API's protojson reply) printed as headscale's CLI prints it:
   * Go's encoding/json or yaml.v3 of the struct (goform.ts), or `human` by default.
   */
  printMessage(cmd: Command, value: object, m: ProtoMessage, human: string): void {
    const { output } = this.globals(cmd);
    this.io.stdout(`${output ? formatMachine(toGo(value as Record<string, unknown>, m, goFormat(output)), output) : human}\n`);
  }

  /** A list of proto messages, likewise; an empty one is JSON null unless `emptyAsList`. */
  printMessages(cmd: Command, values: readonly object[], m: ProtoMessage, table: () => string, opts: { emptyAsList?: boolean } = {}): void {
    const { output } = this.globals(cmd);
    this.io.stdout(
      `${output ? formatMachine(toGoList(values as Record<string, unknown>[], m, goFormat(output), opts.emptyAsList), output) : table()}\n`,
    );
  }

  /** True when --force is given or the user says yes. */
  async confirm(cmd: Command, question: string, what: string): Promise<boolean> {
    if (this.globals(cmd).force) return true;
    return confirm({ stdin: this.io.stdin, stderr: this.io.stderr }, question, what);
  }
}
