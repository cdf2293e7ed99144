import { test } from 'vitest';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadConfig, ConfigError } from '../../src/config/load.js';
import { MINIMAL, tempDir, writeFile } from './helpers.js';

test('dev defaults: runnable without a file, state under cwd/data, the socket in the home folder', () => {
  const dir = tempDir();
  const home = tempDir();
  const { config, warnings, path } = loadConfig({ cwd: dir, env: {}, home });
  assert.equal(path, null);
  assert.deepEqual(warnings, []);
  assert.equal(config.server_url, 'http://127.0.0.1:8080');
  assert.equal(config.listen_addr, '127.0.0.1:8080');
  assert.equal(config.metrics_listen_addr, '127.0.0.1:9090');
  assert.equal(config.noise.private_key_path, join(dir, 'data/noise_private.key'));
  assert.equal(config.database.sqlite.path, join(dir, 'data/db.sqlite'));
  // Not under cwd: the CLI, run from any folder, finds it.
  assert.equal(config.unix_socket, join(home, '.switchboard/switchboard.sock'));
  assert.deepEqual(config.prefixes, { v4: '100.64.0.0/10', v6: 'fd7a:115c:a1e0::/48', allocation: 'sequential' });
  assert.equal(config.dns.magic_dns, true);
  assert.equal(config.dns.base_domain, 'switchboard.internal');
  assert.deepEqual(config.dns.nameservers.global.slice(0, 2), ['1.1.1.1', '1.0.0.1']);
  assert.equal(config.dns.nameservers.global.length, 4);
  assert.deepEqual(config.derp.urls, []);
  assert.deepEqual(config.derp.paths, []);
  assert.equal(config.derp.server.enabled, false);
  assert.equal(config.ephemeral_node_inactivity_timeout_ms, 30 * 60_000);
  assert.equal(config.unix_socket_permission, 0o770);
});

test('a headscale-style file: values read, relative paths against the file directory', () => {
  const dir = tempDir();
  const file = writeFile(dir, 'config.yaml', MINIMAL + 'unix_socket: run/hs.sock\n');
  const { config, warnings, path } = loadConfig({ path: file, cwd: '/', env: {} });
  assert.equal(path, file);
  assert.deepEqual(warnings, []);
  assert.equal(config.server_url, 'https://hs.example.org');
  assert.equal(config.noise.private_key_path, join(dir, 'noise.key'));
  assert.equal(config.database.type, 'sqlite');
  assert.equal(config.database.sqlite.path, join(dir, 'db.sqlite'));
  // unix_socket too (headscale: relative to cwd), so the CLI and the server agree from any folder.
  assert.equal(config.unix_socket, join(dir, 'run/hs.sock'));
  // headscale's own defaults apply to what the file leaves out.
  assert.equal(config.derp.update_frequency, '3h');
  assert.equal(config.derp.update_frequency_ms, 3 * 3_600_000);
  assert.equal(config.ephemeral_node_inactivity_timeout_ms, 120_000);
});

test('the file path can come from SWITCHBOARD_CONFIG or HEADSCALE_CONFIG', () => {
  const dir = tempDir();
  const file = writeFile(dir, 'hs.yaml', MINIMAL);
  assert.equal(loadConfig({ env: { HEADSCALE_CONFIG: file } }).path, file);
  assert.equal(loadConfig({ env: { SWITCHBOARD_CONFIG: 'hs.yaml' }, cwd: dir }).path, file);
});

test('a JSON config file loads too', () => {
  const dir = tempDir();
  const file = writeFile(
    dir,
    'config.json',
    JSON.stringify({
      server_url: 'http://10.0.0.1:8080',
      noise: { private_key_path: '/k' },
      prefixes: { v4: '100.64.0.0/24' },
      database: { sqlite: { path: '/db' } },
      dns: { magic_dns: false, override_local_dns: false },
    }),
  );
  const { config } = loadConfig({ path: file, env: {} });
  assert.equal(config.prefixes.v4, '100.64.0.0/24');
  assert.equal(config.prefixes.v6, null);
});

test('durations: Go syntax, milliseconds next to the text', () => {
  const dir = tempDir();
  const file = writeFile(
    dir,
    'c.yaml',
    MINIMAL + 'ephemeral_node_inactivity_timeout: 1h30m\nderp:\n  update_frequency: 90s\noidc:\n  expiry: 180d\nnode:\n  expiry: 0\n',
  );
  const { config } = loadConfig({ path: file, env: {} });
  assert.equal(config.ephemeral_node_inactivity_timeout, '1h30m');
  assert.equal(config.ephemeral_node_inactivity_timeout_ms, 90 * 60_000);
  assert.equal(config.derp.update_frequency_ms, 90_000);
  assert.equal(config.oidc.expiry_ms, 180 * 86_400_000);
  assert.equal(config.node.expiry_ms, 0);
});

test('unknown keys warn with their path and line, and are ignored', () => {
  const dir = tempDir();
  const file = writeFile(dir, 'c.yaml', MINIMAL + 'foo:\n  bar: 1\nlog:\n  colour: red\n');
  const { warnings } = loadConfig({ path: file, env: {} });
  assert.equal(warnings.length, 2, warnings.join('\n'));
  assert.match(warnings[0]!, /^unknown key foo \(ignored\)/);
  assert.match(warnings[1]!, /^unknown key log\.colour \(ignored\) at .*c\.yaml:\d+$/);
});

test('headscale keys without effect here warn instead of failing', () => {
  const dir = tempDir();
  const file = writeFile(
    dir,
    'c.yaml',
    MINIMAL + 'grpc_listen_addr: 127.0.0.1:50443\ntls_cert_path: cert.pem\ndatabase:\n  gorm:\n    prepare_stmt: true\n',
  );
  // The later `database:` key would be a YAML duplicate; use a separate file instead.
  assert.throws(() => loadConfig({ path: file, env: {} }), ConfigError);
  const file2 = writeFile(dir, 'c2.yaml', MINIMAL + 'grpc_listen_addr: 127.0.0.1:50443\ntls_cert_path: cert.pem\ntuning:\n  node_store_batch_size: 100\n');
  const { warnings } = loadConfig({ path: file2, env: {} });
  assert.ok(warnings.some((w) => w.startsWith('grpc_listen_addr:')), warnings.join('\n'));
  assert.ok(warnings.some((w) => w.startsWith('tls_cert_path: TLS is not served yet')), warnings.join('\n'));
  assert.ok(warnings.some((w) => w.startsWith('tuning.node_store_batch_size:')), warnings.join('\n'));
});

test('deprecated headscale keys are mapped with a warning naming the replacement', () => {
  const dir = tempDir();
  const file = writeFile(
    dir,
    'old.yaml',
    `
server_url: http://127.0.0.1:8080
listen_addr: 127.0.0.1:8080
noise: { private_key_path: /k }
ip_prefixes:
  - fd7a:115c:a1e0::/48
  - 100.64.0.0/10
db_type: sqlite3
db_path: /var/lib/headscale/db.sqlite
acl_policy_path: acl.hujson
dns_config:
  override_local_dns: true
  nameservers: [9.9.9.9]
  restricted_nameservers:
    corp.example.com: [10.0.0.53]
  domains: [example.org]
  magic_dns: true
  base_domain: old.example
`,
  );
  const { config, warnings } = loadConfig({ path: file, env: {} });
  assert.equal(config.prefixes.v4, '100.64.0.0/10');
  assert.equal(config.prefixes.v6, 'fd7a:115c:a1e0::/48');
  assert.equal(config.database.sqlite.path, '/var/lib/headscale/db.sqlite');
  assert.equal(config.policy.path, join(dir, 'acl.hujson'));
  assert.deepEqual(config.dns.nameservers.global, ['9.9.9.9']);
  assert.deepEqual(config.dns.nameservers.split, { 'corp.example.com': ['10.0.0.53'] });
  assert.deepEqual(config.dns.search_domains, ['example.org']);
  assert.equal(config.dns.base_domain, 'old.example');
  assert.ok(warnings.some((w) => w === 'dns_config.nameservers is deprecated; use dns.nameservers.global (value applied)'), warnings.join('\n'));
  assert.ok(warnings.some((w) => w.startsWith('acl_policy_path is deprecated; use policy.path')));
  assert.ok(warnings.some((w) => w.startsWith('ip_prefixes is deprecated')));
  assert.ok(!warnings.some((w) => w.startsWith('unknown key')), warnings.join('\n'));
});

test('the new key wins over its deprecated spelling', () => {
  const dir = tempDir();
  const file = writeFile(dir, 'c.yaml', MINIMAL + 'acl_policy_path: old.hujson\npolicy:\n  path: /new.hujson\n');
  const { config, warnings } = loadConfig({ path: file, env: {} });
  assert.equal(config.policy.path, '/new.hujson');
  assert.ok(warnings.includes('acl_policy_path is deprecated and ignored because policy.path is set'));
});

test("headscale's newer node.ephemeral.inactivity_timeout is read", () => {
  const dir = tempDir();
  const file = writeFile(dir, 'c.yaml', MINIMAL + 'node:\n  ephemeral:\n    inactivity_timeout: 10m\n');
  const { config, warnings } = loadConfig({ path: file, env: {} });
  assert.equal(config.ephemeral_node_inactivity_timeout_ms, 600_000);
  assert.deepEqual(warnings, []);
});

test('a missing config file is an error naming the file', () => {
  assert.throws(() => loadConfig({ path: '/nonexistent/switchboard.yaml', env: {} }), /^ConfigError: \/nonexistent\/switchboard\.yaml: config file not found$/);
});

test('YAML syntax errors name the file and line', () => {
  const dir = tempDir();
  const file = writeFile(dir, 'bad.yaml', 'server_url: http://x\nlisten_addr: [unclosed\n');
  assert.throws(() => loadConfig({ path: file, env: {} }), (e: Error) => e instanceof ConfigError && e.message.startsWith(file) && /line \d/.test(e.message));
});
