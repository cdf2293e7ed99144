// The commands added for headscale parity, run as the real CLI subprocess: version,
// generate private-key, configtest, health, nodes backfillips, nodes expire --disable,
// debug create-node, audit list, and remote use through --address/--api-key and
// cli.address/cli.api_key.

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll as after, beforeAll as before, describe, test } from 'vitest';
import YAML from 'yaml';
import { addNode, startStack, type Stack } from '../api/harness.js';
import { runCli } from '../helpers/cli.js';

describe('switchboard CLI: headscale parity commands', () => {
  let s: Stack;
  let config: string;
  const baseConfig = () => ({
    server_url: 'http://127.0.0.1:8080',
    unix_socket: s.socketPath,
    noise: { private_key_path: './noise.key' },
    prefixes: { v4: '100.64.0.0/10' },
    database: { type: 'sqlite', sqlite: { path: './unused.sqlite' } },
    dns: { base_domain: 'example.test', override_local_dns: false },
  });
  const cli = (...args: string[]) => runCli(['-c', config, ...args], { cwd: s.dir });
  const ok = async (...args: string[]) => {
    const r = await cli(...args);
    assert.equal(r.code, 0, `${args.join(' ')}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r.stdout;
  };

  before(async () => {
    s = await startStack({ webLogin: true });
    config = join(s.dir, 'config.yaml');
    await writeFile(config, YAML.stringify(baseConfig()));
  });
  after(async () => s.close());

  test('version prints headscale-shaped JSON and a human line', async () => {
    const v = JSON.parse(await ok('version', '-o', 'json'));
    assert.deepEqual(Object.keys(v).sort(), ['buildTime', 'commit', 'dirty', 'node', 'version']);
    assert.match(v.version, /^\d+\.\d+\.\d+/);
    assert.match(await ok('version'), new RegExp(`^switchboard version ${v.version.replace(/\./g, '\\.')}\n`));
  });

  test('generate private-key (and gen) prints a fresh privkey the server accepts', async () => {
    const a = (await ok('generate', 'private-key')).trim();
    const b = (await ok('gen', 'private-key')).trim();
    assert.match(a, /^privkey:[0-9a-f]{64}$/);
    assert.notEqual(a, b);
    const j = JSON.parse(await ok('generate', 'private-key', '-o', 'json'));
    assert.deepEqual(Object.keys(j), ['private_key']);
    assert.match(j.private_key, /^privkey:[0-9a-f]{64}$/);
  });

  test('configtest: 0 for a valid file, 1 naming the bad key otherwise', async () => {
    assert.match(await ok('configtest'), /Configuration is valid \(.*config\.yaml\)/);
    const bad = join(s.dir, 'bad.yaml');
    await writeFile(bad, YAML.stringify({ ...baseConfig(), prefixes: { v4: 'not-a-prefix' } }));
    const r = await runCli(['-c', bad, 'configtest'], { cwd: s.dir });
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /prefixes\.v4/);
  });

  test('health: 0 with the database reachable, 1 when the server is not', async () => {
    assert.deepEqual(JSON.parse(await ok('health', '-o', 'json')), { database_connectivity: true });
    const gone = join(s.dir, 'nosock.yaml');
    await writeFile(gone, YAML.stringify({ ...baseConfig(), unix_socket: join(s.dir, 'missing.sock') }));
    const r = await runCli(['-c', gone, 'health'], { cwd: s.dir });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot reach/);
  });

  test('nodes backfillips asks first, then reports changes', async () => {
    const refused = await cli('nodes', 'backfillips');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /--force/);
    const j = JSON.parse(await ok('nodes', 'backfillips', '--force', '-o', 'json'));
    assert.deepEqual(j, {}, 'BackfillNodeIPsResponse with no changes: omitempty leaves nothing');
    assert.equal((await ok('nodes', 'backfillips', '--force')).trim(), 'No changes');
  });

  test('nodes expire --disable clears the expiry', async () => {
    const n = await addNode(s, null, 'cli-noexpire');
    await ok('nodes', 'expire', '-i', String(n.id));
    assert.notEqual(s.tailnet.getNode(n.id).expiry, null);
    assert.equal((await ok('nodes', 'expire', '-i', String(n.id), '--disable')).trim(), 'Node expiry disabled');
    assert.equal(s.tailnet.getNode(n.id).expiry, null);
  });

  test('debug create-node → nodes list --pending → auth register: a made-up machine joins', async () => {
    const missing = await cli('debug', 'create-node', '--name', 'x', '-u', 'u');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /--key/);
    const badKey = await cli('debug', 'create-node', '--name', 'x', '-u', 'u', '-k', 'abc');
    assert.equal(badKey.code, 1);
    assert.match(badKey.stderr, /--key: auth id must start with "hskey-authreq-"/);
    const owner = await s.tailnet.createUser({ name: 'debugger' });
    // headscale's ids are URL-safe base64; ours are hex: both are accepted.
    const authId = 'hskey-authreq-Debug_node-0123456789abc';
    const created = JSON.parse(await ok('debug', 'create-node', '--name', 'fake-host', '-u', 'debugger', '-k', authId, '-r', '10.9.0.0/16', '-o', 'json'));
    assert.equal(created.id, undefined, 'id 0: omitted, as Go omits zero values');
    assert.equal(created.name, 'fake-host');
    assert.equal(created.user.name, 'debugger');
    assert.deepEqual(created.available_routes, ['10.9.0.0/16']);
    assert.match(created.machine_key, /^mkey:[0-9a-f]{64}$/);
    const again = await cli('debug', 'create-node', '--name', 'other', '-u', 'debugger', '-k', authId);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already waiting/);

    const pending = JSON.parse(await ok('nodes', 'list', '--pending', '-o', 'json'));
    assert.deepEqual(pending.map((p: { authId: string }) => p.authId), [authId]);
    assert.equal(pending[0].hostname, 'fake-host');
    assert.equal(pending[0].machineKey, created.machine_key);
    assert.match(await ok('nodes', 'list', '--pending'), new RegExp(`${authId} \\| fake-host`));
    assert.deepEqual(JSON.parse(await ok('auth', 'list', '-o', 'json')), pending);

    const registered = JSON.parse(await ok('auth', 'register', '--user', 'debugger', '--auth-id', authId, '-o', 'json'));
    assert.ok(registered.id > 0);
    assert.equal(registered.machine_key, created.machine_key);
    assert.equal(registered.user.id, owner.id);
    assert.deepEqual(registered.available_routes, ['10.9.0.0/16']);
    assert.equal(registered.ip_addresses.length, 2, 'an address of each family');
    assert.deepEqual(JSON.parse(await ok('nodes', 'list', '--pending', '-o', 'json')), []);
    const listed = JSON.parse(await ok('nodes', 'list', '-u', 'debugger', '-o', 'json'));
    assert.deepEqual(listed.map((n: { name: string }) => n.name), ['fake-host']);

    // The older route: nodes register --key <auth id>.
    const second = `hskey-authreq-${'a'.repeat(24)}`;
    await ok('debug', 'create-node', '--name', 'second-fake', '-u', 'debugger', '-k', second);
    const older = await cli('nodes', 'register', '-u', 'debugger', '-k', second);
    assert.equal(older.code, 0, older.stderr);
    assert.equal(older.stdout, 'Node second-fake registered\n');
    assert.match(older.stderr, /Command "register" is deprecated, use 'switchboard auth register --auth-id <id> --user <user>' instead/);
  });

  test('remote: --address/--api-key, and cli.address/cli.api_key in the config file', async () => {
    const { key } = await s.apiKeys.create(null);
    // No socket configured at all: only the remote settings can reach the server.
    const nowhere = join(s.dir, 'remote.yaml');
    await writeFile(nowhere, YAML.stringify({ ...baseConfig(), unix_socket: join(s.dir, 'missing.sock') }));
    const viaFlags = await runCli(['-c', nowhere, '--address', s.tcpUrl, '--api-key', key, 'health', '-o', 'json'], { cwd: s.dir });
    assert.equal(viaFlags.code, 0, viaFlags.stderr);
    assert.equal(JSON.parse(viaFlags.stdout).database_connectivity, true);

    const wrongKey = await runCli(['-c', nowhere, '--address', s.tcpUrl, '--api-key', 'hskey-api-nope', 'health'], { cwd: s.dir });
    assert.equal(wrongKey.code, 1);
    assert.match(wrongKey.stderr, /refused the API key/);

    const fromFile = join(s.dir, 'cli.yaml');
    await writeFile(fromFile, YAML.stringify({ ...baseConfig(), unix_socket: join(s.dir, 'missing.sock'), cli: { address: s.tcpUrl, api_key: key } }));
    const viaConfig = await runCli(['-c', fromFile, 'users', 'list', '-o', 'json'], { cwd: s.dir });
    assert.equal(viaConfig.code, 0, viaConfig.stderr);
    assert.ok(Array.isArray(JSON.parse(viaConfig.stdout)));
    const cleartext = await runCli(['-c', nowhere, '--address', 'http://192.0.2.1:8080', '--api-key', key, 'health'], { cwd: s.dir });
    assert.equal(cleartext.code, 1);
    assert.match(cleartext.stderr, /not loopback/);
    // --api-key overrides cli.api_key.
    const override = await runCli(['-c', fromFile, '--api-key', 'hskey-api-nope', 'users', 'list'], { cwd: s.dir });
    assert.equal(override.code, 1);
    assert.match(override.stderr, /refused the API key/);
  });

  test('audit list shows the changes the CLI made, newest first, in every format', async () => {
    await ok('users', 'create', 'audit-cli');
    const events = JSON.parse(await ok('audit', 'list', '-o', 'json', '--limit', '1'));
    assert.equal(events.length, 1);
    assert.equal(events[0].action, 'CreateUser');
    assert.equal(events[0].actor, 'local socket');
    assert.deepEqual(events[0].detail, { name: 'audit-cli' });
    const table = await ok('audit', 'ls');
    assert.match(table.split('\n')[0]!, /ID\s+\|?\s*Time\s+\|?\s*Actor/);
    assert.match(table, /CreateUser.*POST \/api\/v1\/user/);
    const yaml = YAML.parse(await ok('audit', 'list', '-o', 'yaml'));
    assert.ok(Array.isArray(yaml) && yaml.length >= 1);
    const bad = await cli('audit', 'list', '--since', 'yesterday');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--since/);
  });

  test('nodes list --columns picks and orders table columns; -o json is untouched', async () => {
    const n = await addNode(s, null, 'columned', { tags: ['tag:col'] });
    const table = await ok('nodes', 'list', '--columns', 'hostname,id,ip');
    const [head, ...rows] = table.trim().split('\n');
    const cells = (line: string) => line.split('|').map((c) => c.trim()).filter(Boolean);
    assert.deepEqual(cells(head!), ['Hostname', 'ID', 'IP addresses']);
    const row = rows.map(cells).find((r) => r[0] === 'columned');
    assert.ok(row, table);
    assert.equal(row![1], String(n.id));
    assert.ok(!table.includes('MachineKey'));
    const bad = await cli('nodes', 'list', '--columns', 'id,colour');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /unknown column "colour"; choose from id, hostname/);
    const j = JSON.parse(await ok('nodes', 'list', '--columns', 'id', '-o', 'json'));
    assert.ok('machine_key' in j[0]);
  });

  test('cli.timeout bounds a request to a server that never answers', async () => {
    const silent = net.createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const port = (silent.address() as net.AddressInfo).port;
      const file = join(s.dir, 'slow.yaml');
      await writeFile(file, YAML.stringify({ ...baseConfig(), cli: { address: `http://127.0.0.1:${port}`, api_key: 'hskey-api-x', timeout: '1s' } }));
      const started = Date.now();
      const r = await runCli(['-c', file, 'users', 'list'], { cwd: s.dir });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /no answer within 1s/);
      assert.ok(Date.now() - started < 8000, 'the 1s timeout was not applied');
      // The environment's address takes HEADSCALE_CLI_TIMEOUT (or SWITCHBOARD_CLI_TIMEOUT) with it.
      const env = { HEADSCALE_CLI_ADDRESS: `http://127.0.0.1:${port}`, HEADSCALE_CLI_API_KEY: 'hskey-api-x', HEADSCALE_CLI_TIMEOUT: '1s' };
      const viaEnv = await runCli(['users', 'list'], { cwd: s.dir, env });
      assert.match(viaEnv.stderr, /no answer within 1s/);
      const badTimeout = await runCli(['users', 'list'], { cwd: s.dir, env: { ...env, HEADSCALE_CLI_TIMEOUT: 'soon' } });
      assert.equal(badTimeout.code, 1);
      assert.match(badTimeout.stderr, /CLI_TIMEOUT "soon" is not a duration/);
    } finally {
      silent.close();
    }
  });

  test('policy get/set with --bypass-grpc-and-access-database-directly: no server, audited', async () => {
    const dbPath = join(s.dir, 'direct.sqlite');
    const file = join(s.dir, 'direct.yaml');
    await writeFile(file, YAML.stringify({ ...baseConfig(), unix_socket: join(s.dir, 'missing.sock'), database: { type: 'sqlite', sqlite: { path: dbPath } }, policy: { mode: 'database' } }));
    const pol = join(s.dir, 'direct-policy.hujson');
    const text = '// allow all\n{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}]}\n';
    await writeFile(pol, text);
    const BYPASS = '--bypass-grpc-and-access-database-directly';
    const set = await runCli(['-c', file, 'policy', 'set', '-f', pol, BYPASS], { cwd: s.dir });
    assert.equal(set.code, 0, set.stderr);
    assert.equal(set.stdout.trim(), 'Policy updated.');
    const got = await runCli(['-c', file, 'policy', 'get', BYPASS, '-o', 'json'], { cwd: s.dir });
    assert.equal(got.code, 0, got.stderr);
    assert.equal(got.stdout, `${text}\n`, 'the HuJSON as stored, whatever -o says (as headscale)');
    const { createStore } = await import('../../src/db/index.js');
    const store = await createStore({ type: 'sqlite', path: dbPath });
    try {
      const [ev] = await store.listAudit({ limit: 1 });
      assert.equal(ev?.actor, 'database (bypass)');
      assert.equal(ev?.action, 'SetPolicy');
    } finally {
      await store.close();
    }
    await writeFile(pol, '{"acls": [{"action": "permit", "src": ["*"], "dst": ["*:*"]}]}');
    const bad = await runCli(['-c', file, 'policy', 'set', '-f', pol, BYPASS], { cwd: s.dir });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /permit/);
    const still = await runCli(['-c', file, 'policy', 'get', BYPASS], { cwd: s.dir });
    assert.equal(still.stdout.trim(), text.trim(), 'a refused policy must not be stored');
    // Without the flag it needs the (absent) server.
    assert.equal((await runCli(['-c', file, 'policy', 'get'], { cwd: s.dir })).code, 1);
  });
});
