// `completion bash|zsh|fish|powershell`: cobra's command (headscale has it through cobra),
// printing a script that asks `switchboard __complete` for candidates.

import type { Command } from 'commander';
import { completionScript, SHELLS, type Shell } from '../completion-scripts.js';
import type { CliContext } from '../context.js';

const HOW: Record<Shell, string> = {
  bash: 'source <(switchboard completion bash)',
  zsh: 'source <(switchboard completion zsh)',
  fish: 'switchboard completion fish | source',
  powershell: 'switchboard completion powershell | Out-String | Invoke-Expression',
};

export function registerCompletion(program: Command, ctx: CliContext): void {
  const completion = program
    .command('completion')
    .description('Generate the autocompletion script for the specified shell');
  for (const shell of SHELLS) {
    completion
      .command(shell)
      .description(`Generate the autocompletion script for ${shell} (load it with: ${HOW[shell]})`)
      .option('--no-descriptions', 'disable completion descriptions')
      .action((opts: { descriptions: boolean }) => {
        ctx.io.stdout(completionScript(shell, program.name(), { descriptions: opts.descriptions }));
      });
  }
}
