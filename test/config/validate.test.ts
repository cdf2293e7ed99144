import { test } from 'vitest';
import assert from 'node:assert/strict';
import { loadConfig, ConfigError } from '../../src/config/load.js';
import { MINIMAL, tempDir, writeFile } from './helpers.js';

const dir = tempDir();
let n = 0;

/** Loads MINIMAL with `extra` appended (later keys of a section replace MINIMAL's via a merged file). */
function load(yaml: string) {
  return loadConfig({ path: writeFile(dir, `c${n++}.yaml`, yaml), env: {} });
}

/** MINIMAL with one top-level section replaced. */
function withSection(section: string, body: string): string {
  const lines = MINIMAL.split('\n');
  const out: string[] = [];
  let skipping = false;
  for (const line of lines) {
    if (/^\S/.test(line)) skipping = line.startsWith(`${section}:`);
    if (!skipping) out.push(line);
  }
  return out.join('\n') + '\n' + body + '\n';
}

function rejects(yaml: string, key: string, pattern?: RegExp) {
  assert.throws(
    () => load(yaml),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
      assert.ok(e.message.startsWith(`${key}: `), `message should start with "${key}: ", got: ${e.message}`);
      assert.equal(e.key, key);
      if (pattern) assert.match(e.message, pattern);
      return true;
    },
  );
}

test('MINIMAL itself loads', () => {
  assert.deepEqual(load(MINIMAL).warnings, []);
});

test('wrong types name the key path and the file line', () => {
  rejects(MINIMAL + 'randomize_client_port: maybe\n', 'randomize_client_port', /expected true or false.*c\d+\.yaml:\d+/);
  rejects(withSection('database', 'database:\n  sqlite:\n    path: [a, b]\n'), 'database.sqlite.path', /expected a string/);
  rejects(withSection('database', 'database:\n  postgres:\n    port: five\n'), 'database.postgres.port', /expected an integer/);
  rejects(MINIMAL + 'derp: [1, 2]\n', 'derp', /expected a mapping/);
  rejects(MINIMAL + 'derp:\n  urls: https://x.example\n', 'derp.urls', /expected a list/);
  rejects(MINIMAL + 'oidc:\n  scope: [openid, {a: 1}]\n', 'oidc.scope[1]', /expected a string/);
  rejects(MINIMAL + 'oidc:\n  extra_params:\n    hint: [x]\n', 'oidc.extra_params.hint');
});

test('prefixes outside the Tailscale ranges, of the wrong family, or both missing', () => {
  rejects(withSection('prefixes', 'prefixes:\n  v4: 10.0.0.0/8\n'), 'prefixes.v4', /^prefixes\.v4: 10\.0\.0\.0\/8 is outside 100\.64\.0\.0\/10/);
  rejects(withSection('prefixes', 'prefixes:\n  v6: fd00::/8\n'), 'prefixes.v6', /outside fd7a:115c:a1e0::\/48/);
  rejects(withSection('prefixes', 'prefixes:\n  v4: fd7a:115c:a1e0::/48\n'), 'prefixes.v4', /not an IPv4 prefix/);
  rejects(withSection('prefixes', 'prefixes:\n  v4: 100.64.0.0\n'), 'prefixes.v4', /not an IP prefix/);
  rejects(withSection('prefixes', 'prefixes:\n  v4: ""\n  v6: ""\n'), 'prefixes');
  rejects(withSection('prefixes', 'prefixes:\n  v4: 100.64.0.0/10\n  allocation: round-robin\n'), 'prefixes.allocation', /not one of sequential, random/);
});

test('a prefix with host bits is masked, with a warning', () => {
  const { config, warnings } = load(withSection('prefixes', 'prefixes:\n  v4: 100.64.1.7/24\n'));
  assert.equal(config.prefixes.v4, '100.64.1.0/24');
  assert.ok(warnings.includes('prefixes.v4: 100.64.1.7/24 read as 100.64.1.0/24'));
});

test('bad listen addresses', () => {
  rejects(MINIMAL + 'metrics_listen_addr: localhost\n', 'metrics_listen_addr', /not a host:port/);
  rejects(withSection('listen_addr', 'listen_addr: 0.0.0.0:99999\n'), 'listen_addr');
  rejects(withSection('listen_addr', 'listen_addr: ::1:8080\n'), 'listen_addr');
  // The accepted shapes.
  for (const ok of ['[::]:8080', ':8080', 'localhost:8080', '0.0.0.0:443']) {
    assert.equal(load(withSection('listen_addr', `listen_addr: "${ok}"\n`)).config.listen_addr, ok);
  }
  // Empty metrics address disables that listener.
  assert.equal(load(MINIMAL + 'metrics_listen_addr: ""\n').config.metrics_listen_addr, '');
});

test('server_url must be http(s)', () => {
  rejects(withSection('server_url', 'server_url: hs.example.org\n'), 'server_url', /http:\/\/ or https:\/\//);
});

test('base_domain must differ from and not contain the host of server_url', () => {
  rejects(withSection('dns', 'dns:\n  base_domain: hs.example.org\n  nameservers:\n    global: [1.1.1.1]\n'), 'dns.base_domain', /must differ/);
  rejects(withSection('dns', 'dns:\n  base_domain: example.org\n  nameservers:\n    global: [1.1.1.1]\n'), 'dns.base_domain', /must not contain/);
  // A sibling domain is fine.
  assert.equal(load(withSection('dns', 'dns:\n  base_domain: ts.example.org\n  nameservers:\n    global: [1.1.1.1]\n')).config.dns.base_domain, 'ts.example.org');
});

test('DNS rules', () => {
  rejects(withSection('dns', 'dns:\n  magic_dns: true\n  nameservers:\n    global: [1.1.1.1]\n'), 'dns.base_domain', /required when dns\.magic_dns/);
  rejects(withSection('dns', 'dns:\n  base_domain: a.example\n'), 'dns.nameservers.global', /override_local_dns/);
  rejects(withSection('dns', 'dns:\n  base_domain: a.example\n  nameservers:\n    global: [1.1.1.1, not-an-ip]\n'), 'dns.nameservers.global[1]');
  rejects(
    withSection('dns', 'dns:\n  base_domain: a.example\n  nameservers:\n    global: [1.1.1.1]\n  extra_records:\n    - {name: x.a.example, type: A, value: "fd7a::1"}\n'),
    'dns.extra_records[0].value',
    /not an IPv4 address/,
  );
  rejects(
    withSection('dns', 'dns:\n  base_domain: a.example\n  nameservers:\n    global: [1.1.1.1]\n  extra_records:\n    - {name: x.a.example, type: CNAME, value: y}\n'),
    'dns.extra_records[0].type',
  );
  const { config } = load(
    withSection(
      'dns',
      'dns:\n  base_domain: A.Example.\n  override_local_dns: false\n  nameservers:\n    global: ["https://dns.nextdns.io/abc123", "9.9.9.9"]\n    split:\n      corp.example.com: [10.0.0.53]\n',
    ),
  );
  assert.equal(config.dns.base_domain, 'a.example');
  assert.deepEqual(config.dns.nameservers.global, ['https://dns.nextdns.io/abc123', '9.9.9.9']);
});

test('derp.paths must exist; derp.urls must be URLs', () => {
  rejects(MINIMAL + 'derp:\n  paths: [/nonexistent/derp.yaml]\n', 'derp.paths[0]', /does not exist/);
  rejects(MINIMAL + 'derp:\n  urls: [ftp://x.example/map]\n', 'derp.urls[0]');
  const map = writeFile(dir, 'derp.yaml', 'regions: {}\n');
  assert.deepEqual(load(MINIMAL + `derp:\n  paths: [${map}]\n`).config.derp.paths, [map]);
});

test('embedded DERP needs a STUN address; disabling auto-add needs derp.paths', () => {
  rejects(MINIMAL + 'derp:\n  server:\n    enabled: true\n', 'derp.server.stun_listen_addr', /required/);
  rejects(
    MINIMAL + 'derp:\n  server:\n    enabled: true\n    stun_listen_addr: 0.0.0.0:3478\n    private_key_path: d.key\n    automatically_add_embedded_derp_region: false\n',
    'derp.server.automatically_add_embedded_derp_region',
  );
  rejects(MINIMAL + 'derp:\n  server:\n    ipv4: 2001:db8::1\n', 'derp.server.ipv4');
});

test('derp.server.mesh_with needs a mesh key and http(s) URLs; the key path is resolved next to the config', () => {
  rejects(MINIMAL + 'derp:\n  server:\n    mesh_with: [https://derp2.example.com]\n', 'derp.server.mesh_with', /requires derp.server.mesh_key_path/);
  rejects(MINIMAL + 'derp:\n  server:\n    mesh_key_path: mesh.key\n    mesh_with: [derp2.example.com]\n', 'derp.server.mesh_with[0]', /http:\/\/ or https:\/\//);
  const c = load(MINIMAL + 'derp:\n  server:\n    mesh_key_path: mesh.key\n    mesh_with: [https://derp2.example.com]\n').config.derp.server;
  assert.equal(c.mesh_key_path, `${dir}/mesh.key`);
  assert.deepEqual(c.mesh_with, ['https://derp2.example.com']);
  assert.equal(load(MINIMAL).config.derp.server.mesh_key_path, '', 'no mesh unless configured');
});

test('bad durations, bad log levels, too short ephemeral timeout', () => {
  rejects(MINIMAL + 'ephemeral_node_inactivity_timeout: 30 minutes\n', 'ephemeral_node_inactivity_timeout', /not a duration/);
  rejects(MINIMAL + 'ephemeral_node_inactivity_timeout: 30\n', 'ephemeral_node_inactivity_timeout');
  rejects(MINIMAL + 'ephemeral_node_inactivity_timeout: 60s\n', 'ephemeral_node_inactivity_timeout', /too low/);
  rejects(MINIMAL + 'derp:\n  update_frequency: soon\n', 'derp.update_frequency');
  rejects(MINIMAL + 'log:\n  level: verbose\n', 'log.level', /not one of panic, fatal, error, warn, info, debug, trace/);
  rejects(MINIMAL + 'log:\n  format: xml\n', 'log.format');
});

test('database rules', () => {
  rejects(withSection('database', 'database:\n  type: mysql\n'), 'database.type');
  rejects(withSection('database', 'database:\n  type: postgres\n'), 'database.postgres.host');
  const { config } = load(withSection('database', 'database:\n  type: postgres\n  postgres:\n    host: /run/postgresql\n    port: ""\n    name: hs\n    ssl: verify-full\n'));
  assert.equal(config.database.postgres.port, null);
  assert.equal(config.database.postgres.ssl, 'verify-full');
});

test('OIDC: types and headscale start-up rules', () => {
  rejects(MINIMAL + 'oidc:\n  issuer: https://sso.example\n', 'oidc.client_id');
  rejects(MINIMAL + 'oidc:\n  client_secret: a\n  client_secret_path: /b\n', 'oidc.client_secret_path', /mutually exclusive/);
  rejects(MINIMAL + 'oidc:\n  pkce:\n    method: S512\n', 'oidc.pkce.method');
  rejects(MINIMAL + 'oidc:\n  use_expiry_from_token: 2\n', 'oidc.use_expiry_from_token');
  rejects(MINIMAL + 'oidc:\n  groups:\n    claim: ""\n', 'oidc.groups.claim');
  rejects(MINIMAL + 'oidc:\n  groups:\n    prefix: "oidc:"\n', 'oidc.groups.prefix', /whitespace or ":"/);
  rejects(MINIMAL + 'oidc:\n  groups:\n    map:\n      /eng: eng\n', 'oidc.groups.map./eng', /policy group name/);
  const grouped = load(MINIMAL + 'oidc:\n  groups:\n    claim: roles\n    map:\n      /eng: group:eng\n');
  assert.deepEqual(grouped.config.oidc.groups, { enabled: true, claim: 'roles', prefix: '', map: { '/eng': 'group:eng' } });
  // A complete OIDC configuration loads (discovery happens at start, not in validation).
  const full = load(MINIMAL + 'oidc:\n  issuer: https://sso.example\n  client_id: sb\n  client_secret: s\n  allowed_groups: [/admins]\n');
  assert.equal(full.config.oidc.issuer, 'https://sso.example');
  assert.deepEqual(full.warnings, []);
  // Without an issuer the other keys are inert, in headscale too: read, no warning.
  const { config, warnings } = load(MINIMAL + 'oidc:\n  client_id: sb\n  allowed_groups: [/admins]\n');
  assert.deepEqual(config.oidc.scope, ['openid', 'profile', 'email']);
  assert.deepEqual(config.oidc.allowed_groups, ['/admins']);
  assert.deepEqual(warnings, []);
});

test('unix_socket_permission: octal as headscale writes it', () => {
  assert.equal(load(MINIMAL + 'unix_socket_permission: "0770"\n').config.unix_socket_permission, 0o770);
  // Unquoted, YAML 1.2 would read 0770 as decimal; the text as written is used.
  assert.equal(load(MINIMAL + 'unix_socket_permission: 0770\n').config.unix_socket_permission, 0o770);
  assert.equal(load(MINIMAL + 'unix_socket_permission: 0o700\n').config.unix_socket_permission, 0o700);
  rejects(MINIMAL + 'unix_socket_permission: "0999"\n', 'unix_socket_permission');
});
