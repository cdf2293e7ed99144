// Yes/no prompts for destructive commands. Without a terminal to ask on, refuse instead of
// guessing, so a script that forgot --force fails loudly rather than deleting silently.

import readline from 'node:readline';
import { CliError } from './errors.js';

export interface PromptIO {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  stderr: (s: string) => void;
}

export async function confirm(io: PromptIO, question: string, what: string): Promise<boolean> {
  if (!io.stdin.isTTY) {
    throw new CliError(`refusing to ${what} without confirmation: stdin is not a terminal; pass --force to proceed`);
  }
  const rl = readline.createInterface({ input: io.stdin, terminal: false });
  try {
    io.stderr(`${question} [y/N] `);
    const answer = await new Promise<string>((resolve) => {
      rl.once('line', resolve);
      rl.once('close', () => resolve(''));
    });
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}
