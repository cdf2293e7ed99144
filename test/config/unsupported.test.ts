// No key is accepted in silence: headscale v0.29.2's own example config loads with one
// warning per key switchboard ignores; keys that would change behaviour but are not
// implemented stop start-up saying so; inert ones (as in headscale) pass quietly.

import { test } from 'vitest';
import assert from 'node:assert/strict';
import path from 'node:path';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { CAPTURES_1_80_3 } from '../helpers/captures.js';
import { MINIMAL, tempDir, writeFile } from './helpers.js';

const HEADSCALE_EXAMPLE = path.join(path.dirname(CAPTURES_1_80_3), 'headscale-0.29.2', 'config-example.yaml');

test("headscale v0.29.2's example config: loads, and warns once for each key it ignores", () => {
  const { config, warnings } = loadConfig({ path: HEADSCALE_EXAMPLE, env: {} });
  const keys = warnings.map((w) => w.split(':')[0]).sort();
  assert.deepEqual(keys, ['auto_update', 'database.gorm', 'disable_check_updates', 'grpc_listen_addr', 'node.routes'], warnings.join('\n'));
  assert.deepEqual(config.trusted_proxies, [], 'trusted_proxies is applied (limits), not ignored');
  assert.ok(warnings.every((w) => w.endsWith('(ignored)')), warnings.join('\n'));
  // What the file asks for and switchboard does act on.
  assert.equal(config.taildrop.enabled, true);
  assert.equal(config.database.sqlite.write_ahead_log, true);
  assert.equal(config.database.sqlite.wal_autocheckpoint, 1000);
  assert.equal(config.ephemeral_node_inactivity_timeout_ms, 30 * 60_000);
});

function load(yaml: string) {
  return loadConfig({ path: writeFile(tempDir(), 'config.yaml', yaml), env: {} });
}

function refused(yaml: string, key: string, pattern: RegExp) {
  assert.throws(() => load(yaml), (e: unknown) => e instanceof ConfigError && e.key === key && pattern.test(e.message));
}

test('randomize_client_port: true is refused pointing at the policy (as headscale 0.29 does); false warns', () => {
  refused(MINIMAL + 'randomize_client_port: true\n', 'randomize_client_port', /"randomizeClientPort": true at the top level of the policy/);
  const { warnings } = load(MINIMAL + 'randomize_client_port: false\n');
  assert.deepEqual(warnings, ['randomize_client_port: moved to the policy file ("randomizeClientPort") in headscale 0.29 (ignored)']);
});

test('keys that would change behaviour warn: database.debug, grpc_allow_insecure, postgres max_idle_conns, ACME with a hostname', () => {
  const w = (yaml: string) => load(MINIMAL + yaml).warnings;
  // MINIMAL's own database section, replaced.
  const noDb = MINIMAL.replace(/^database:\n(  .*\n)+/m, '');
  const wDb = (yaml: string) => load(noDb + yaml).warnings;
  assert.match(wDb('database:\n  type: sqlite\n  sqlite: {path: db.sqlite}\n  debug: true\n').join('\n'), /^database\.debug: .*\(ignored\)$/m);
  assert.match(w('grpc_allow_insecure: true\n').join('\n'), /^grpc_allow_insecure: .*\(ignored\)$/m);
  const pg = 'database:\n  type: postgres\n  postgres: {host: db, name: hs, user: hs, pass: x, max_idle_conns: 5}\n';
  assert.match(wDb(pg).join('\n'), /^database\.postgres\.max_idle_conns: .*\(ignored\)$/m);
  const acme = w('tls_letsencrypt_hostname: hs.example.org\nacme_email: a@example.org\n');
  assert.ok(acme.some((x) => x.startsWith('acme_email: ')), acme.join('\n'));
});

test('inert keys pass quietly, as in headscale: ACME without a hostname, postgres keys with sqlite, OIDC without an issuer', () => {
  const { warnings } = load(
    MINIMAL +
      'acme_email: a@example.org\ntls_letsencrypt_challenge_type: TLS-ALPN-01\n' +
      'oidc:\n  only_start_if_oidc_is_available: true\n  client_id: x\n' +
      'grpc_allow_insecure: false\ndisable_check_updates: true\n',
  );
  assert.deepEqual(warnings, []);
});
