// The CLI as a real subprocess (`node bin/switchboard.js …`), for tests that drive it the way
// an admin's shell does. The test runner's own SWITCHBOARD_*/HEADSCALE_* variables are left
// out, so a command sees only the environment the test gives it.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI_BIN = fileURLToPath(new URL('../../../bin/switchboard.js', import.meta.url));

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** Variables added to the cleaned environment (HOME, SWITCHBOARD_CONFIG, …). */
  env?: Record<string, string>;
  cwd?: string;
  /** Written to the command's stdin, which is then closed. */
  input?: string;
}

/** The environment without the runner's SWITCHBOARD_* and HEADSCALE_* variables. */
export function cleanCliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('SWITCHBOARD_') && !k.startsWith('HEADSCALE_')) env[k] = v;
  }
  return { ...env, ...extra };
}

/** Runs `file args` to its end, collecting stdout and stderr; `env` is used as given. */
export function runProcess(
  file: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string } = {},
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: opts.env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.on('error', () => {}); // EPIPE when the command exits without reading stdin
    child.stdin.end(opts.input ?? '');
  });
}

export function runCli(args: string[], opts: CliOptions = {}): Promise<CliRun> {
  return runProcess(process.execPath, [CLI_BIN, ...args], { env: cleanCliEnv(opts.env), cwd: opts.cwd, input: opts.input });
}
