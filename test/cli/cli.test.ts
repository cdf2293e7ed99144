// The CLI as a real subprocess (`node bin/switchboard.js …`) against a real server stack.

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll as after, beforeAll as before, describe, test } from 'vitest';
import YAML from 'yaml';
import { addNode, startStack, type Stack } from '../api/harness.js';
import { runCli } from '../helpers/cli.js';

describe('switchboard CLI', () => {
  let s: Stack;
  let config: string;
  const cli = (...args: string[]) => runCli(['-c', config, ...args], { cwd: s.dir });
  const ok = async (...args: string[]) => {
    const r = await cli(...args);
    assert.equal(r.code, 0, `${args.join(' ')}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r.stdout;
  };
  const json = async (...args: string[]) => JSON.parse(await ok(...args, '-o', 'json'));

  before(async () => {
    s = await startStack();
    config = join(s.dir, 'config.yaml');
    await writeFile(
      config,
      YAML.stringify({
        server_url: 'http://127.0.0.1:8080',
        unix_socket: s.socketPath,
        noise: { private_key_path: './noise.key' },
        prefixes: { v4: '100.64.0.0/10' },
        database: { type: 'sqlite', sqlite: { path: './unused.sqlite' } },
        dns: { base_domain: 'example.test', override_local_dns: false },
      }),
    );
  });
  after(async () => s.close());

  test('users: create, list in every format, rename, destroy', async () => {
    assert.equal((await ok('users', 'create', 'alice', '--display-name', 'Alice', '--email', 'a@example.com')).trim(), 'User created');
    const bob = await json('users', 'create', 'bob');
    assert.equal(bob.name, 'bob');
    // headscale's CLI JSON: Go's encoding/json of the proto struct (ids are numbers).
    assert.equal(typeof bob.id, 'number');

    const table = await ok('users', 'list');
    const lines = table.trim().split('\n');
    assert.match(lines[0]!, /^ID\s+\| Name\s+\| Username\s+\| Email\s+\| Created$/);
    assert.ok(lines.some((l) => /\| Alice\s+\| alice\s+\| a@example\.com/.test(l)), table);

    const list = await json('user', 'ls');
    assert.deepEqual(list.map((u: any) => u.name), ['alice', 'bob']);
    const line = (await ok('users', 'list', '-o', 'json-line')).trim();
    assert.equal(line.split('\n').length, 1);
    assert.deepEqual(JSON.parse(line), list);
    const yaml = YAML.parse(await ok('users', 'list', '-o', 'yaml'));
    assert.deepEqual(yaml.map((u: any) => u.name), ['alice', 'bob']);
    assert.equal(yaml[0].displayname, 'Alice', "yaml.v3's keys: Go field names in lower case");
    assert.deepEqual((await json('users', 'list', '--name', 'bob')).map((u: any) => u.name), ['bob']);
    assert.deepEqual((await json('users', 'list', '-e', 'a@example.com')).map((u: any) => u.name), ['alice']);

    assert.equal((await json('users', 'rename', '-i', String(bob.id), '--new-name', 'robert')).name, 'robert');
    assert.equal((await json('users', 'rename', '--name', 'robert', '-r', 'bobby')).name, 'bobby');

    // Without --force and without a terminal, destroy refuses instead of guessing.
    const refused = await cli('users', 'destroy', '--name', 'bobby');
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /stdin is not a terminal; pass --force/);
    assert.equal((await ok('users', 'destroy', '--name', 'bobby', '--force')).trim(), 'User destroyed');
    assert.deepEqual((await json('users', 'list')).map((u: any) => u.name), ['alice']);

    const missing = await cli('users', 'destroy', '-i', '999', '--force');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /user with id 999 not found/);
  });

  test('preauthkeys: create prints the key alone, list, expire by key', async () => {
    await ok('users', 'create', 'keys');
    const plain = (await ok('preauthkeys', 'create', '-u', 'keys', '--reusable', '-e', '2h')).trim();
    assert.match(plain, /^hskey-auth-[A-Za-z0-9]{12}-[A-Za-z0-9]{64}$/);
    const obj = await json('preauthkeys', 'create', '--user', 'keys', '--tags', 'tag:a,tag:b');
    assert.match(obj.key, /^hskey-auth-/);
    assert.deepEqual(obj.acl_tags, ['tag:a', 'tag:b']);
    const expiry = obj.expiration.seconds * 1000 - Date.now();
    assert.ok(expiry > 50 * 60_000 && expiry <= 3_600_000, 'default expiration is 1h');

    const list = await json('preauthkeys', 'list', '--user', 'keys');
    assert.equal(list.length, 2);
    assert.ok(list.every((k: any) => k.key.endsWith('-***')));
    const table = await ok('preauthkeys', 'list');
    assert.match(table.split('\n')[0]!, /^ID\s+\| Key\/Prefix\s+\| Reusable\s+\| Ephemeral\s+\| Used\s+\| Expiration\s+\| Created\s+\| Owner$/);
    assert.match(table, /tag:a\n.*tag:b/);

    assert.equal((await ok('preauthkeys', 'expire', '--user', 'keys', plain)).trim(), 'Key expired');
    const expired = (await json('preauthkeys', 'list')).find((k: any) => plain.startsWith(k.key.slice(0, -4)));
    assert.ok(expired.expiration.seconds * 1000 <= Date.now());
    assert.equal((await ok('preauthkeys', 'delete', '--id', String(obj.id))).trim(), 'Key deleted');

    const noUser = await cli('preauthkeys', 'create');
    assert.equal(noUser.code, 1);
    assert.match(noUser.stderr, /--user is required/);
    const badTag = await cli('preauthkeys', 'create', '-u', 'keys', '--tags', 'web');
    assert.notEqual(badTag.code, 0);
    assert.match(badTag.stderr, /--tags <tags>.*invalid.*tag:name/s);
    const badExp = await cli('preauthkeys', 'create', '-u', 'keys', '--expiration', 'soon');
    assert.notEqual(badExp.code, 0);
    assert.match(badExp.stderr, /--expiration <duration>.*invalid/s);
  });

  test('nodes: list, rename, tag, approve-routes, expire, move, delete', async () => {
    const owner = await json('users', 'create', 'nodeuser');
    await ok('users', 'create', 'newowner');
    const n = await addNode(s, Number(owner.id), 'desk', { routes: ['192.168.1.0/24'] });

    const table = await ok('nodes', 'list');
    assert.match(table.split('\n')[0]!, /^ID\s+\| Hostname\s+\| Name\s+\| MachineKey\s+\| NodeKey\s+\| User\s+\| Tags\s+\| IP addresses\s+\| Ephemeral\s+\| Last seen\s+\| Expiration\s+\| Connected\s+\| Expired$/);
    assert.match(table, /\| desk\s+\| desk\s+\| \[[A-Za-z0-9+/]{5}\]/);
    const nodes = await json('nodes', 'list', '--user', 'nodeuser');
    assert.equal(nodes.length, 1);
    assert.equal(nodes[0].id, n.id);
    assert.equal(nodes[0].register_method, 1, 'REGISTER_METHOD_AUTH_KEY, by number');

    assert.equal((await json('nodes', 'rename', '-i', String(n.id), 'office')).given_name, 'office');
    const routed = await json('nodes', 'approve-routes', '-i', String(n.id), '--routes', '192.168.1.0/24');
    assert.deepEqual(routed.approved_routes, ['192.168.1.0/24']);
    assert.match(await ok('nodes', 'list-routes'), /192\.168\.1\.0\/24/);
    assert.equal((await json('nodes', 'approve-routes', '-i', String(n.id), '-r', '')).approved_routes, undefined, 'omitempty');

    const later = '2099-01-01T00:00:00Z';
    const expired = await json('nodes', 'expire', '-i', String(n.id), '--expiry', later);
    assert.deepEqual(expired.expiry, { seconds: Date.parse(later) / 1000 });
    assert.equal((await ok('nodes', 'expire', '-i', String(n.id))).trim(), 'Node expired');

    assert.equal((await json('nodes', 'move', '-i', String(n.id), '-u', 'newowner')).user.name, 'newowner');
    assert.deepEqual((await json('nodes', 'tag', '-i', String(n.id), '-t', 'tag:web')).tags, ['tag:web']);

    const refused = await cli('nodes', 'delete', '-i', String(n.id));
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /--force/);
    assert.equal((await ok('nodes', 'delete', '-i', String(n.id), '--force')).trim(), 'Node deleted');
    const gone = await cli('nodes', 'delete', '-i', String(n.id), '--force', '-o', 'json');
    assert.equal(gone.code, 1);
    assert.match(JSON.parse(gone.stderr).error, /not found/);
  });

  test('apikeys: create, list, remote use over HTTP, expire, delete', async () => {
    const key = (await ok('apikeys', 'create', '-e', '1d')).trim();
    assert.match(key, /^hskey-api-[A-Za-z0-9]{12}-[A-Za-z0-9]{64}$/);
    const listed = (await json('apikeys', 'list')).find((k: any) => k.prefix === `${key.slice(0, 22)}-***`);
    assert.ok(listed);
    assert.match(await ok('apikeys', 'list'), /^ID\s+\| Prefix\s+\| Expiration\s+\| Created\s+\| Last seen/);

    const remote = await runCli(['users', 'list', '-o', 'json'], {
      env: { SWITCHBOARD_CLI_ADDRESS: s.tcpUrl, SWITCHBOARD_CLI_API_KEY: key },
    });
    assert.equal(remote.code, 0, remote.stderr);
    assert.ok(JSON.parse(remote.stdout).some((u: any) => u.name === 'alice'));
    // headscale's variable names work too.
    const hs = await runCli(['users', 'list'], { env: { HEADSCALE_CLI_ADDRESS: s.tcpUrl, HEADSCALE_CLI_API_KEY: key } });
    assert.equal(hs.code, 0, hs.stderr);

    assert.equal((await ok('apikeys', 'expire', '--prefix', listed.prefix)).trim(), 'Key expired');
    const denied = await runCli(['users', 'list'], { env: { SWITCHBOARD_CLI_ADDRESS: s.tcpUrl, SWITCHBOARD_CLI_API_KEY: key } });
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /refused the API key/);
    assert.equal((await ok('apikeys', 'delete', '--id', String(listed.id))).trim(), 'Key deleted');

    const noKey = await runCli(['users', 'list'], { env: { SWITCHBOARD_CLI_ADDRESS: s.tcpUrl } });
    assert.equal(noKey.code, 1);
    assert.match(noKey.stderr, /SWITCHBOARD_CLI_API_KEY must be set/);
  });

  test('an unreachable server is reported with the socket path and a hint', async () => {
    const r = await runCli(['users', 'list'], { env: { SWITCHBOARD_UNIX_SOCKET: join(s.dir, 'absent.sock') }, cwd: s.dir });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot reach the Switchboard server at .*absent\.sock: the socket does not exist \(is `switchboard serve` running\? see -c\)/);
  });

  test('bad arguments are refused naming the flag', async () => {
    const cases: [string[], RegExp][] = [
      [['nodes', 'delete', '-i', 'abc'], /'-i, --identifier <id>' argument 'abc' is invalid/],
      [['nodes', 'rename', 'x'], /required option '-i, --identifier <id>'/],
      [['users', 'list', '-o', 'xml'], /'-o, --output <format>' argument 'xml' is invalid.*json, json-line, yaml/s],
      [['nodes', 'expire', '-i', '1', '--expiry', 'tomorrow'], /--expiry <time>.*RFC 3339/s],
      [['nodes', 'approve-routes', '-i', '1', '-r', '10.0.0.1'], /--routes: "10\.0\.0\.1" is not a CIDR prefix/],
      [['users', 'rename', '--new-name', 'x'], /--identifier or --name is required/],
      [['users', 'frobnicate'], /unknown command 'frobnicate'/],
      [['policy', 'set'], /required option '-f, --file <path>'/],
    ];
    for (const [args, re] of cases) {
      const r = await cli(...args);
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(r.stderr, re, `${args.join(' ')}: ${r.stderr}`);
    }
  });

  test('--help lists every flag, including the global ones', async () => {
    const expect: [string[], string[]][] = [
      [['users', 'create'], ['--display-name', '--email', '--picture-url', '--output', '--config', '--force']],
      [['users', 'list'], ['--identifier', '--name', '--email']],
      [['preauthkeys', 'create'], ['--user', '--reusable', '--ephemeral', '--expiration', '--tags']],
      [['preauthkeys', 'expire'], ['--id', '--user', 'KEY']],
      [['nodes', 'list'], ['--user', '--tags']],
      [['nodes', 'expire'], ['--identifier', '--expiry', '--disable']],
      [['nodes', 'approve-routes'], ['--identifier', '--routes']],
      [['nodes', 'move'], ['--identifier', '--user']],
      [['apikeys', 'create'], ['--expiration', '90d']],
      [['apikeys', 'delete'], ['--prefix', '--id']],
      [['policy', 'compile'], ['--policy', '--tailnet']],
    ];
    for (const [cmd, flags] of expect) {
      const out = await ok(...cmd, '--help');
      for (const f of flags) assert.ok(out.includes(f), `${cmd.join(' ')} --help lacks ${f}:\n${out}`);
    }
    const top = await ok('--help');
    for (const c of ['users', 'preauthkeys', 'nodes', 'apikeys', 'policy', 'serve']) assert.match(top, new RegExp(`\\b${c}\\b`));
  });

  test('policy check and compile run locally', async () => {
    const good = join(s.dir, 'good.hujson');
    const bad = join(s.dir, 'bad.hujson');
    const tailnet = join(s.dir, 'tailnet.json');
    await writeFile(good, '{\n  // everyone may talk to everyone\n  "acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}],\n}\n');
    await writeFile(bad, '{"acls": [{"action": "deny"}]}');
    await writeFile(tailnet, JSON.stringify({ users: [{ id: 1, name: 'alice' }], nodes: [{ name: 'a', user: 'alice', ipv4: '100.64.0.1' }] }));
    assert.equal((await ok('policy', 'check', '-f', good)).trim(), 'Policy is valid');
    const invalid = await cli('policy', 'check', '-f', bad);
    assert.equal(invalid.code, 1);
    assert.match(invalid.stderr, /policy is invalid/);
    // Each fault comes with the place of the entry at fault.
    assert.match(invalid.stderr, /bad\.hujson:1:11: action="deny" is not supported/);
    const missing = await cli('policy', 'check', '-f', join(s.dir, 'nope'));
    assert.match(missing.stderr, /--file: cannot read .*nope: no such file/);

    const compiled = JSON.parse(await ok('policy', 'compile', '--policy', good, '--tailnet', tailnet, '-o', 'json'));
    assert.ok(compiled.nodes.a, JSON.stringify(compiled));
    const refused = await cli('policy', 'compile', '--policy', bad, '--tailnet', tailnet, '-o', 'json');
    assert.equal(refused.code, 1);
    assert.equal(typeof JSON.parse(refused.stdout).error, 'string');
    // get/set need a policy service; this stack has none, and the CLI says so.
    const get = await cli('policy', 'get');
    assert.equal(get.code, 1);
    assert.match(get.stderr, /policy management is not available/);
  });
});
