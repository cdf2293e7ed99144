// Which config file serve and the CLI use when none is named: -c, then $SWITCHBOARD_CONFIG,
// $HEADSCALE_CONFIG, then config.yaml in the working directory, ~/.switchboard, ~/.headscale,
// /etc/switchboard, /etc/headscale (replaced by temp folders here), else none.

import { test } from 'vitest';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { findConfigFile } from '../../src/config/find.js';
import { loadConfig } from '../../src/config/load.js';
import { MINIMAL, tempDir, writeFile } from './helpers.js';

function layout() {
  const root = tempDir();
  const dirs = {
    cwd: join(root, 'work'),
    home: join(root, 'home'),
    etcSwitchboard: join(root, 'etc/switchboard'),
    etcHeadscale: join(root, 'etc/headscale'),
  };
  for (const d of [dirs.cwd, join(dirs.home, '.switchboard'), join(dirs.home, '.headscale'), dirs.etcSwitchboard, dirs.etcHeadscale]) {
    mkdirSync(d, { recursive: true });
  }
  const find = (env: NodeJS.ProcessEnv = {}, explicit?: string) =>
    findConfigFile({ explicit, env, cwd: dirs.cwd, home: dirs.home, systemDirs: [dirs.etcSwitchboard, dirs.etcHeadscale] });
  return { root, dirs, find };
}

test('search order: each folder wins over the ones after it; none found means built-in defaults', () => {
  const { dirs, find } = layout();
  assert.equal(find(), null);
  // Last in the search first: each file added is found in place of the ones before it.
  const order = [dirs.etcHeadscale, dirs.etcSwitchboard, join(dirs.home, '.headscale'), join(dirs.home, '.switchboard'), dirs.cwd];
  for (const d of order) {
    const f = writeFile(d, 'config.yaml', MINIMAL);
    assert.equal(find(), f);
  }
});

test('a named file wins over the search: -c, then SWITCHBOARD_CONFIG, then HEADSCALE_CONFIG, relative to cwd', () => {
  const { dirs, find } = layout();
  writeFile(dirs.cwd, 'config.yaml', MINIMAL);
  const a = writeFile(dirs.cwd, 'a.yaml', MINIMAL);
  const b = writeFile(dirs.cwd, 'b.yaml', MINIMAL);
  const c = writeFile(dirs.cwd, 'c.yaml', MINIMAL);
  assert.equal(find({ SWITCHBOARD_CONFIG: 'b.yaml', HEADSCALE_CONFIG: 'c.yaml' }, 'a.yaml'), a);
  assert.equal(find({ SWITCHBOARD_CONFIG: 'b.yaml', HEADSCALE_CONFIG: 'c.yaml' }), b);
  assert.equal(find({ HEADSCALE_CONFIG: 'c.yaml' }), c);
  // A named file that does not exist is not silently replaced by a found one.
  assert.equal(find({ HEADSCALE_CONFIG: 'missing.yaml' }), join(dirs.cwd, 'missing.yaml'));
});

test('config.json in a searched folder is found too (headscale reads either)', () => {
  const { dirs, find } = layout();
  const f = writeFile(join(dirs.home, '.headscale'), 'config.json', '{}');
  assert.equal(find(), f);
});

test('loadConfig with search: the found file is used and its relative unix_socket resolves against its folder', () => {
  const { dirs } = layout();
  const file = writeFile(dirs.etcHeadscale, 'config.yaml', MINIMAL + 'unix_socket: ./run/hs.sock\n');
  const loaded = loadConfig({ search: true, env: {}, cwd: dirs.cwd, home: dirs.home, systemDirs: [dirs.etcSwitchboard, dirs.etcHeadscale] });
  assert.equal(loaded.path, file);
  assert.equal(loaded.config.unix_socket, join(dirs.etcHeadscale, 'run/hs.sock'));
  const none = loadConfig({ search: true, env: {}, cwd: dirs.cwd, home: dirs.home, systemDirs: [] });
  assert.equal(none.path, null);
});
