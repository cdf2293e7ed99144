import { test } from 'vitest';
import assert from 'node:assert/strict';
import { loadConfig, ConfigError } from '../../src/config/load.js';
import { leaves } from '../../src/config/schema.js';
import { envNamesFor } from '../../src/config/load.js';
import { MINIMAL, tempDir, writeFile } from './helpers.js';

const cwd = tempDir();

test('SWITCHBOARD_* overrides defaults, typed by the key', () => {
  const { config, warnings } = loadConfig({
    cwd,
    env: {
      SWITCHBOARD_LISTEN_ADDR: '0.0.0.0:9999',
      SWITCHBOARD_DATABASE_SQLITE_PATH: '/srv/db.sqlite',
      SWITCHBOARD_DNS_BASE_DOMAIN: 'tail.example',
      SWITCHBOARD_DNS_MAGIC_DNS: 'false',
      SWITCHBOARD_DERP_SERVER_REGION_ID: '900',
      SWITCHBOARD_DERP_SERVER_PRIVATE_KEY_PATH: '/srv/derp.key',
      SWITCHBOARD_DNS_NAMESERVERS_GLOBAL: '9.9.9.9, 149.112.112.112',
      SWITCHBOARD_DNS_NAMESERVERS_SPLIT: '{"corp.example.com":["10.0.0.53"]}',
      SWITCHBOARD_DERP_UPDATE_FREQUENCY: '1h',
    },
  });
  assert.deepEqual(warnings, []);
  assert.equal(config.listen_addr, '0.0.0.0:9999');
  assert.equal(config.database.sqlite.path, '/srv/db.sqlite');
  assert.equal(config.dns.base_domain, 'tail.example');
  assert.equal(config.dns.magic_dns, false);
  assert.equal(config.derp.server.region_id, 900);
  assert.equal(config.derp.server.private_key_path, '/srv/derp.key');
  assert.deepEqual(config.dns.nameservers.global, ['9.9.9.9', '149.112.112.112']);
  assert.deepEqual(config.dns.nameservers.split, { 'corp.example.com': ['10.0.0.53'] });
  assert.equal(config.derp.update_frequency_ms, 3_600_000);
});

test('HEADSCALE_* works too; SWITCHBOARD_* wins when both are set; env beats the file', () => {
  const file = writeFile(cwd, 'c.yaml', MINIMAL);
  const { config } = loadConfig({
    path: file,
    env: { HEADSCALE_LISTEN_ADDR: '127.0.0.2:1', HEADSCALE_SERVER_URL: 'http://a.example', SWITCHBOARD_SERVER_URL: 'http://b.example' },
  });
  assert.equal(config.listen_addr, '127.0.0.2:1');
  assert.equal(config.server_url, 'http://b.example');
});

test('an empty list variable clears the list', () => {
  const { config } = loadConfig({ cwd, env: { SWITCHBOARD_DNS_NAMESERVERS_GLOBAL: '', SWITCHBOARD_DNS_OVERRIDE_LOCAL_DNS: 'false' } });
  assert.deepEqual(config.dns.nameservers.global, []);
});

test('errors from the environment name the variable', () => {
  assert.throws(
    () => loadConfig({ cwd, env: { SWITCHBOARD_RANDOMIZE_CLIENT_PORT: 'yes please' } }),
    (e: unknown) => e instanceof ConfigError && e.message.startsWith('randomize_client_port: ') && e.message.includes('SWITCHBOARD_RANDOMIZE_CLIENT_PORT'),
  );
  assert.throws(
    () => loadConfig({ cwd, env: { HEADSCALE_PREFIXES_V4: '10.0.0.0/8' } }),
    (e: unknown) => e instanceof ConfigError && /^prefixes\.v4: .*outside.*HEADSCALE_PREFIXES_V4/.test(e.message),
  );
  assert.throws(
    () => loadConfig({ cwd, env: { SWITCHBOARD_DNS_NAMESERVERS_SPLIT: '{not json' } }),
    (e: unknown) => e instanceof ConfigError && e.message.startsWith('SWITCHBOARD_DNS_NAMESERVERS_SPLIT: not valid JSON'),
  );
});

test('misspelt SWITCHBOARD_ variables of a known section warn; unrelated ones do not', () => {
  const { warnings } = loadConfig({ cwd, env: { SWITCHBOARD_DNS_BASEDOMAIN: 'x', SWITCHBOARD_TEST_PG_URL: 'y', SWITCHBOARD_CLI_ADDRESS: 'a', HEADSCALE_DEBUG_FOO: 'z' } });
  assert.deepEqual(warnings, ['unknown environment variable SWITCHBOARD_DNS_BASEDOMAIN (ignored)']);
});

test('every known key has its own environment variable name', () => {
  const seen = new Map<string, string>();
  for (const { path } of leaves()) {
    const name = envNamesFor(path)[0]!;
    assert.ok(!seen.has(name), `${name} maps to both ${seen.get(name)} and ${path.join('.')}`);
    seen.set(name, path.join('.'));
  }
});
