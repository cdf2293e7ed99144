// `switchboard completion <shell>` and the `__complete` protocol its scripts use: candidates
// come from the live command tree, and the bash script, run in a real bash with COMP_WORDS
// set as readline would, completes subcommands, flags and flag values. zsh and fish run
// their scripts too (scripts/shells-setup.sh installs them).

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { complete, completionWords, formatCompletion } from '../../src/cli/complete.js';
import { buildProgram } from '../../src/cli/main.js';
import { CliContext } from '../../src/cli/context.js';
import { completionScript } from '../../src/cli/completion-scripts.js';

const BIN = fileURLToPath(new URL('../../../bin/switchboard.js', import.meta.url));

function program(): Command {
  const out: string[] = [];
  return buildProgram(new CliContext({ stdout: (s) => out.push(s), stderr: (s) => out.push(s), stdin: process.stdin, env: {} }));
}

const names = (words: string[]) => complete(program(), words).candidates.map((c) => c.name);

const has = (shell: string) => spawnSync('sh', ['-c', `command -v ${shell}`]).status === 0;
// zsh and fish are Debian packages the project's script installs as root; without root they
// are skipped, except under CI=true, where a missing shell fails its test.
const SHELLS_SETUP = fileURLToPath(new URL('../../../scripts/shells-setup.sh', import.meta.url));
if ((!has('zsh') || !has('fish')) && process.getuid?.() === 0) {
  const r = spawnSync('bash', [SHELLS_SETUP], { encoding: 'utf8' });
  if (r.status !== 0) process.stderr.write(r.stderr);
}
const shellRequired = process.env.CI === 'true';
const needShell = (shell: string) => assert.ok(has(shell), `${shell} is missing: scripts/shells-setup.sh installs it as root`);

describe('__complete: candidates from the command tree', () => {
  test('subcommands by prefix, aliases descend, hidden ones stay hidden', () => {
    assert.deepEqual(names(['nodes', 'l']), ['list', 'list-routes']);
    assert.deepEqual(names(['machine', 'ren']), ['rename'], 'an alias of nodes descends too');
    assert.ok(names(['']).includes('completion'));
    assert.ok(!names(['']).includes('__complete'));
    for (const shell of ['bash', 'zsh', 'fish', 'powershell']) assert.ok(names(['completion', '']).includes(shell), shell);
  });

  test('every command of the tree is offered under its parent', () => {
    const walk = (cmd: Command, path: string[]) => {
      const offered = names([...path, '']);
      for (const sub of cmd.commands) {
        assert.ok(offered.includes(sub.name()), `${[...path, sub.name()].join(' ')} is not offered`);
        walk(sub, [...path, sub.name()]);
      }
    };
    walk(program(), []);
  });

  test('flags of the command and its parents; values of a flag', () => {
    const flags = names(['nodes', 'list', '--']);
    for (const f of ['--user', '--columns', '--output', '--config', '--force', '--help']) assert.ok(flags.includes(f), f);
    assert.ok(!flags.includes('-u'), '"--" offers long forms only');
    assert.ok(names(['nodes', 'list', '-']).includes('-u'));
    assert.deepEqual(names(['preauthkeys', 'create', '--reu']), ['--reusable']);
    assert.deepEqual(names(['-o', '']), ['json', 'json-line', 'yaml']);
    assert.deepEqual(names(['-o', 'json', 'nod']), ['nodes'], 'a flag value is no subcommand');
    assert.deepEqual(names(['nodes', '--output=j']), ['--output=json', '--output=json-line']);
    // bash's COMP_WORDBREAKS splits at "=".
    assert.deepEqual(names(['nodes', 'list', '--output', '=', 'y']), ['yaml']);
    assert.deepEqual(names(['nodes', 'list', '--output', '=', 'yaml', 'x']), []);
  });

  test('file names only where a flag takes a file; the wire form', () => {
    assert.equal(complete(program(), ['-c', '']).directive, 0);
    assert.equal(complete(program(), ['policy', 'set', '-f', '']).directive, 0);
    assert.equal(complete(program(), ['nodes', 'list', '--user', '']).directive, 4);
    assert.equal(complete(program(), ['nodes', 'rename', '']).directive, 4);
    assert.equal(formatCompletion({ candidates: [{ name: 'a', description: 'x\ty\nz' }, { name: 'b', description: '' }], directive: 4 }), 'a\tx y z\nb\n:4\n');
    assert.deepEqual(completionWords([]), ['']);
    assert.deepEqual(completionWords(['--empty-current', 'nodes']), ['nodes', '']);
  });
});

describe('completion scripts in real shells', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const script = (shell: 'bash' | 'zsh' | 'fish' | 'powershell', extra: string[] = []) =>
    execFileSync(process.execPath, [BIN, 'completion', shell, ...extra], { encoding: 'utf8' });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchboard-completion-'));
    // The scripts run "$0 __complete …", i.e. whatever `switchboard` is on PATH.
    await writeFile(join(dir, 'switchboard'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`);
    await chmod(join(dir, 'switchboard'), 0o755);
    await writeFile(join(dir, 'policy.hujson'), '{}');
    env = { ...process.env, PATH: `${dir}:${process.env['PATH']}` };
    for (const shell of ['bash', 'zsh', 'fish', 'powershell'] as const) await writeFile(join(dir, `completion.${shell}`), script(shell));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  test('the program prints the same script as the generator, one per shell', () => {
    assert.equal(script('bash'), completionScript('bash', 'switchboard'));
    assert.equal(script('zsh', ['--no-descriptions']), completionScript('zsh', 'switchboard', { descriptions: false }));
    assert.notEqual(script('zsh', ['--no-descriptions']), script('zsh'));
    const ps = script('powershell');
    assert.match(ps, /Register-ArgumentCompleter -CommandName 'switchboard' -Native/);
    assert.match(ps, /__complete --empty-current @rest/);
  });

  test('bash: the script parses, registers itself, and completes from COMP_WORDS', () => {
    const file = join(dir, 'completion.bash');
    execFileSync('bash', ['-n', file]);
    const run = (words: string[], cword = words.length - 1) =>
      execFileSync(
        'bash',
        [
          '-c',
          `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=${cword}; __switchboard_complete; printf '%s\\n' "\${COMPREPLY[@]}"`,
          'bash',
          file,
          ...words,
        ],
        { env, encoding: 'utf8', cwd: dir },
      )
        .split('\n')
        .filter(Boolean);
    assert.match(execFileSync('bash', ['-c', `source "$1"; complete -p switchboard`, 'bash', file], { encoding: 'utf8' }), /complete -F __switchboard_complete switchboard/);
    assert.deepEqual(run(['switchboard', 'nodes', 'l']), ['list', 'list-routes']);
    assert.deepEqual(run(['switchboard', 'preauth']), ['preauthkeys']);
    assert.deepEqual(run(['switchboard', 'apikeys', 'create', '--exp']), ['--expiration']);
    assert.deepEqual(run(['switchboard', 'nodes', 'list', '--output', '=', 'json']), ['json', 'json-line']);
    assert.deepEqual(run(['switchboard', '-o', '']), ['json', 'json-line', 'yaml']);
    // A file-taking flag falls back to file names; others offer nothing.
    assert.deepEqual(run(['switchboard', 'policy', 'set', '-f', 'pol']), ['policy.hujson']);
    assert.deepEqual(run(['switchboard', 'nodes', 'list', '--user', 'pol']), []);
    // The cursor in the middle: only the words before it count.
    assert.deepEqual(run(['switchboard', 'us', 'list'], 1), ['users']);
  });

  test.skipIf(!has('zsh') && !shellRequired)('zsh: the script parses and feeds _describe (stubbed) from words/CURRENT', () => {
    needShell('zsh');
    const file = join(dir, 'completion.zsh');
    execFileSync('zsh', ['-n', file]);
    const out = execFileSync(
      'zsh',
      [
        '-c',
        `compdef() { print -r -- "compdef $*" }; _describe() { print -rl -- "\${(@P)4}" }; _files() { print -r -- FILES }
source "$1"; shift; words=("$@"); CURRENT=$#; _switchboard`,
        'zsh',
        file,
        'switchboard',
        'nodes',
        'l',
      ],
      { env, encoding: 'utf8' },
    );
    assert.deepEqual(out.trim().split('\n'), ['compdef _switchboard switchboard', 'list:List nodes', 'list-routes:List routes available on nodes']);
    const files = execFileSync('zsh', ['-c', `compdef() {}; _describe() { print DESCRIBE }; _files() { print -r -- FILES }; source "$1"; words=(switchboard -c ''); CURRENT=3; _switchboard`, 'zsh', file], { env, encoding: 'utf8' });
    assert.equal(files.trim(), 'FILES');
  });

  test.skipIf(!has('fish') && !shellRequired)('fish: the script parses and `complete -C` offers its candidates', () => {
    needShell('fish');
    const file = join(dir, 'completion.fish');
    execFileSync('fish', ['-n', file]);
    const run = (line: string) => execFileSync('fish', ['-c', `source $argv[1]; complete -C $argv[2]`, file, line], { env, encoding: 'utf8', cwd: dir });
    assert.equal(run('switchboard nodes l'), 'list\tList nodes\nlist-routes\tList routes available on nodes\n');
    assert.equal(run('switchboard -o '), 'json\njson-line\nyaml\n');
    assert.equal(run('switchboard policy check -f pol'), 'policy.hujson\n');
  });
});
