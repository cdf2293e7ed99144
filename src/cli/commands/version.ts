// `version`: the program's version, in headscale's shape ({version, commit, buildTime,
// dirty} plus the runtime instead of Go's).

import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { CliContext } from '../context.js';

export interface VersionInfo {
  version: string;
  commit: string;
  buildTime: string;
  node: { version: string; os: string; arch: string };
  dirty: boolean;
}

export function versionInfo(): VersionInfo {
  // package.json sits three levels above dist/src/cli/commands.
  const pkg = JSON.parse(readFileSync(new URL('../../../../package.json', import.meta.url), 'utf8')) as { version?: string };
  return {
    version: pkg.version ?? 'unknown',
    commit: process.env['SWITCHBOARD_BUILD_COMMIT'] ?? '',
    buildTime: process.env['SWITCHBOARD_BUILD_TIME'] ?? '',
    node: { version: process.version, os: process.platform, arch: process.arch },
    dirty: false,
  };
}

export function registerVersion(program: Command, ctx: CliContext): void {
  program
    .command('version')
    .description('Print the version.')
    .action((_opts: unknown, cmd: Command) => {
      const v = versionInfo();
      const human = [`switchboard version ${v.version}`, ...(v.commit ? [`commit: ${v.commit}`] : []), `node: ${v.node.version} ${v.node.os}/${v.node.arch}`].join('\n');
      ctx.print(cmd, v, human);
    });
}
