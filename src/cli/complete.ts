// Shell completion candidates, computed from the live command tree so they never drift from
// the commands that exist. The shell scripts (completion.ts) call `switchboard __complete
// WORD... CURRENT` on every TAB, as cobra's do, and read back one candidate a line
// ("name<TAB>description") and a last line ":<directive>" with cobra's directive bits.

import type { Command, Help, Option } from 'commander';

/** The hidden command the scripts call. */
export const COMPLETE_COMMAND = '__complete';
/** PowerShell cannot portably pass an empty argument, so it says "the current word is empty" with this. */
export const EMPTY_CURRENT_FLAG = '--empty-current';

/** cobra's ShellCompDirective bits that the scripts understand. */
export const Directive = { default: 0, error: 1, noSpace: 2, noFileComp: 4 } as const;

export interface Completion {
  candidates: { name: string; description: string }[];
  directive: number;
}

/** A value naming a file (`<path>`, `<file>`) lets the shell complete file names. */
const takesFile = (o: Option): boolean => /<(path|file)[^>]*>|\[(path|file)[^\]]*\]/.test(o.flags);
const takesValue = (o: Option): boolean => o.required || o.optional;
const firstLine = (s: string): string => s.split('\n')[0] ?? '';

function visibleOptions(help: Help, cmd: Command): Option[] {
  // The command's own flags first, then those inherited from its parents (-c, -o, --force, …).
  return [...help.visibleOptions(cmd), ...help.visibleGlobalOptions(cmd)];
}

function findOption(help: Help, cmd: Command, word: string): Option | undefined {
  return visibleOptions(help, cmd).find((o) => o.long === word || o.short === word);
}

function findSubcommand(help: Help, cmd: Command, word: string): Command | undefined {
  return help.visibleCommands(cmd).find((c) => c.name() === word || c.aliases().includes(word));
}

/**
 * Candidates for the last of `words` (the word under the cursor, possibly ""), given the
 * words before it (without the program's name).
 */
export function complete(program: Command, words: string[]): Completion {
  const help = program.createHelp();
  const before = words.slice(0, -1);
  const current = words[words.length - 1] ?? '';
  let cmd = program;
  let pendingValue: Option | undefined;
  let positionalOnly = false;
  for (const w of before) {
    if (pendingValue) {
      // bash splits "--output=json" into "--output", "=", "json" (COMP_WORDBREAKS).
      if (w !== '=') pendingValue = undefined;
      continue;
    }
    if (!positionalOnly && w === '--') {
      positionalOnly = true;
      continue;
    }
    if (!positionalOnly && w.startsWith('-') && w !== '-') {
      if (w.includes('=')) continue;
      const opt = findOption(help, cmd, w);
      // A required value is the next word. (No command here has an optional value.)
      if (opt && opt.required) pendingValue = opt;
      continue;
    }
    const sub = findSubcommand(help, cmd, w);
    if (sub) cmd = sub;
  }

  if (pendingValue) return valuesOf(pendingValue, current === '=' ? '' : current, '');

  const eq = /^(--[^=]+)=(.*)$/.exec(current);
  if (eq && !positionalOnly) {
    const opt = findOption(help, cmd, eq[1]!);
    if (opt && takesValue(opt)) return valuesOf(opt, eq[2]!, `${eq[1]}=`);
    return { candidates: [], directive: Directive.noFileComp };
  }

  if (current.startsWith('-') && !positionalOnly) {
    const candidates: Completion['candidates'] = [];
    for (const o of visibleOptions(help, cmd)) {
      for (const flag of [o.long, o.short]) {
        // Like cobra: "-" offers short and long forms, "--" long ones only.
        if (flag && flag.startsWith(current) && !candidates.some((c) => c.name === flag)) {
          candidates.push({ name: flag, description: firstLine(o.description) });
        }
      }
    }
    return { candidates, directive: Directive.noFileComp };
  }

  const candidates = help
    .visibleCommands(cmd)
    .filter((c) => c.name().startsWith(current))
    .map((c) => ({ name: c.name(), description: firstLine(c.description()) }));
  return { candidates, directive: Directive.noFileComp };
}

function valuesOf(opt: Option, current: string, prefix: string): Completion {
  if (opt.argChoices) {
    return {
      candidates: opt.argChoices.filter((c) => c.startsWith(current)).map((c) => ({ name: prefix + c, description: '' })),
      directive: Directive.noFileComp,
    };
  }
  // A file name, or nothing we can list (a user, an id): then the shell offers nothing
  // rather than unrelated file names.
  return { candidates: [], directive: takesFile(opt) ? Directive.default : Directive.noFileComp };
}

/** The wire form the scripts parse. Tabs and newlines inside a description become spaces. */
export function formatCompletion(c: Completion): string {
  const clean = (s: string) => s.replace(/[\t\r\n]+/g, ' ');
  const lines = c.candidates.map((x) => (x.description ? `${clean(x.name)}\t${clean(x.description)}` : clean(x.name)));
  return `${[...lines, `:${c.directive}`].join('\n')}\n`;
}

/** Raw arguments after `__complete`, as the scripts send them. */
export function completionWords(args: string[]): string[] {
  if (args[0] === EMPTY_CURRENT_FLAG) return [...args.slice(1), ''];
  return args.length === 0 ? [''] : args;
}
