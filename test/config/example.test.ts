import { test } from 'vitest';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { leaves } from '../../src/config/schema.js';

// dist/test/config → repository root
const EXAMPLE = fileURLToPath(new URL('../../../config.example.yaml', import.meta.url));

test('config.example.yaml loads without errors or warnings', () => {
  const { config, warnings, path } = loadConfig({ path: EXAMPLE, env: {} });
  assert.equal(path, EXAMPLE);
  assert.deepEqual(warnings, []);
  assert.equal(config.prefixes.v4, '100.64.0.0/10');
  assert.equal(config.dns.base_domain, 'example.com');
  assert.equal(config.unix_socket_permission, 0o770);
});

test('config.example.yaml mentions every key (set or commented out)', () => {
  const text = readFileSync(EXAMPLE, 'utf8');
  const active = parse(text) as Record<string, unknown>;
  assert.equal(typeof active, 'object');
  for (const { path } of leaves()) {
    const last = path[path.length - 1]!;
    assert.match(text, new RegExp(`^\\s*#?\\s*${last}:`, 'm'), `config.example.yaml does not mention ${path.join('.')}`);
  }
});
