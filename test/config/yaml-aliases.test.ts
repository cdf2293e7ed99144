// YAML alias mistakes and alias bombs in a config file are config errors naming the file
// and the line, never a stack trace or a hang; aliases used as intended still work.

import { test } from 'vitest';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { MINIMAL, tempDir, writeFile } from './helpers.js';

function refused(yaml: string, line: number, pattern: RegExp): void {
  const file = writeFile(tempDir(), 'config.yaml', yaml);
  assert.throws(
    () => loadConfig({ path: file, env: {} }),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
      assert.equal(e.key, file);
      assert.ok(e.message.endsWith(`(line ${line})`), e.message);
      assert.match(e.message, pattern);
      assert.ok(!e.message.includes('\n'), 'one line, no stack');
      return true;
    },
  );
}

test('an alias with no anchor before it (also as a merge key, also defined only later)', () => {
  refused(MINIMAL + 'log:\n  level: *lvl\n', MINIMAL.split('\n').length + 1, /alias \*lvl has no anchor &lvl before it/);
  refused('<<: *base\n' + MINIMAL, 1, /alias \*base has no anchor/);
  refused('a: *later\nb: &later 1\n', 1, /alias \*later has no anchor/);
});

test('an anchor defined twice', () => {
  refused('a: &x 1\nb: &x 2\nc: *x\n', 2, /anchor &x is defined a second time \(first at line 1\)/);
});

test('an alias inside the node it names (an endless value), at the top and inside a known section', () => {
  refused('a: &a\n  b: *a\n', 2, /alias \*a is inside the node &a it names/);
  refused('derp: &d\n  server: *d\n', 2, /alias \*d is inside the node &d/);
});

test('a billion-laughs document is refused quickly, before it is expanded', () => {
  const levels = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i < 9; i++) {
    const prev = String.fromCharCode(96 + i);
    const name = String.fromCharCode(97 + i);
    levels.push(`${name}: &${name} [${Array(10).fill(`*${prev}`).join(', ')}]`);
  }
  const started = Date.now();
  // Level e (line 5) is the first to pass 100,000 values.
  refused(levels.join('\n') + '\n', 5, /expand to more than 100000/);
  // 10^9 values if expanded; refusing must not try (a generous bound, not a benchmark).
  assert.ok(Date.now() - started < 5000);
});

test('aliases used as intended load', () => {
  const yaml = MINIMAL.replace('global: [1.1.1.1]', 'global: &ns [1.1.1.1, 1.0.0.1]') + 'policy:\n  path: &p /etc/switchboard/policy.hujson\n';
  const { config } = loadConfig({ path: writeFile(tempDir(), 'config.yaml', yaml), env: {} });
  assert.deepEqual(config.dns.nameservers.global, ['1.1.1.1', '1.0.0.1']);
  assert.equal(config.policy.path, '/etc/switchboard/policy.hujson');
});
