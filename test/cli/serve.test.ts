// The CLI against a full server started the way an admin starts it (`switchboard serve`
// as a subprocess, with a config file), then driving it over the unix socket.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll as after, beforeAll as before, describe, test } from 'vitest';
import { TailscaleClient } from '../../src/client/client.js';
import { CLI_BIN, cleanCliEnv, runCli } from '../helpers/cli.js';

const env = () => cleanCliEnv();
const run = (args: string[], cwd: string, input?: string) => runCli(args, { cwd, input });

async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

describe('switchboard serve + admin CLI', () => {
  let dir: string;
  let server: ChildProcess;
  let url: string;
  let out = '';
  const clients: TailscaleClient[] = [];

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-serve-'));
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    fs.writeFileSync(
      path.join(dir, 'config.yaml'),
      [
        `server_url: ${url}`,
        `listen_addr: 127.0.0.1:${port}`,
        `metrics_listen_addr: ""`,
        `noise: {private_key_path: ./noise_private.key}`,
        `prefixes: {v4: 100.64.0.0/10, v6: fd7a:115c:a1e0::/48, allocation: sequential}`,
        `database: {type: sqlite, sqlite: {path: ./db.sqlite}}`,
        `derp: {server: {enabled: false}, urls: [], paths: []}`,
        `dns: {magic_dns: true, base_domain: tail.example, nameservers: {global: [1.1.1.1]}}`,
        `unix_socket: ${path.join(dir, 'sb.sock')}`,
        `policy: {mode: database}`,
        `log: {level: info}`,
      ].join('\n') + '\n',
    );
    // --bootstrap: with a config file the first start makes nothing unless asked.
    server = spawn(process.execPath, [CLI_BIN, 'serve', '--bootstrap', '-c', 'config.yaml'], { cwd: dir, env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    server.stdout!.on('data', (d) => (out += d));
    server.stderr!.on('data', (d) => (out += d));
    const deadline = Date.now() + 30_000;
    while (!out.includes('first start: created user')) {
      if (Date.now() > deadline || server.exitCode !== null) throw new Error(`server did not start:\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });
  after(async () => {
    for (const c of clients) c.close();
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('first start with --bootstrap and no terminal: user "default", no key made or printed; /health passes', async () => {
    assert.match(out, /first start: created user "default"; make a key to join machines with: switchboard preauthkeys create --user default/);
    assert.doesNotMatch(out, /hskey-auth-/);
    const keys = await run(['-c', 'config.yaml', 'preauthkeys', 'list', '--user', 'default', '-o', 'json'], dir);
    assert.equal(keys.code, 0, keys.stderr);
    assert.equal(JSON.parse(keys.stdout), null, "no keys: headscale's CLI prints a nil list as null");
    const res = await fetch(`${url}/health`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'pass' });
    const mode = fs.statSync(path.join(dir, 'noise_private.key')).mode & 0o777;
    assert.equal(mode, 0o600);
  });

  test('a key made with the CLI joins a node, which the CLI then lists online', async () => {
    assert.equal((await run(['-c', 'config.yaml', 'users', 'create', 'carol'], dir)).code, 0);
    const made = await run(['-c', 'config.yaml', 'preauthkeys', 'create', '--user', 'carol', '--reusable', '-o', 'json'], dir);
    assert.equal(made.code, 0, made.stderr);
    const key = JSON.parse(made.stdout).key as string;
    const c = new TailscaleClient({ serverUrl: url, hostname: 'carol-laptop' });
    clients.push(c);
    assert.equal((await c.register({ authKey: key })).MachineAuthorized, true);
    await c.startStream();
    assert.equal(c.netmap.self!.Name, 'carol-laptop.tail.example.');
    const listed = await run(['-c', 'config.yaml', 'nodes', 'list', '-o', 'json'], dir);
    assert.equal(listed.code, 0, listed.stderr);
    const nodes = JSON.parse(listed.stdout) as Array<{ given_name: string; online: boolean; user: { name: string } }>;
    const mine = nodes.find((n) => n.given_name === 'carol-laptop');
    assert.ok(mine, listed.stdout);
    assert.equal(mine.online, true);
    assert.equal(mine.user.name, 'carol');
  });

  test('policy check, set, get over the CLI; a refused policy changes nothing', async () => {
    const good = path.join(dir, 'good.hujson');
    const bad = path.join(dir, 'bad.hujson');
    fs.writeFileSync(good, '{\n  // only carol\n  "acls": [{"action": "accept", "src": ["carol@"], "dst": ["carol@:*"]}],\n}\n');
    fs.writeFileSync(bad, '{"acls": [], "bogus": 1}');
    assert.equal((await run(['policy', 'check', '-f', good], dir)).code, 0);
    const refused = await run(['policy', 'check', '-f', bad], dir);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr + refused.stdout, /unknown field "bogus"/);
    const setBad = await run(['-c', 'config.yaml', 'policy', 'set', '-f', bad], dir);
    assert.notEqual(setBad.code, 0);
    assert.match(setBad.stderr, /unknown field "bogus"/);
    const empty = await run(['-c', 'config.yaml', 'policy', 'get'], dir);
    assert.equal(empty.code, 0);
    assert.equal(empty.stdout.trim(), '');
    const set = await run(['-c', 'config.yaml', 'policy', 'set', '-f', good], dir);
    assert.equal(set.code, 0, set.stderr);
    const got = await run(['-c', 'config.yaml', 'policy', 'get'], dir);
    assert.equal(got.stdout.trim(), fs.readFileSync(good, 'utf8').trim());
  });
});

// Zero setup: no config file anywhere (HOME and cwd are empty temp folders), on a terminal
// (util-linux `script` gives the server a pseudo-terminal). The join command is printed once
// on the terminal; no log line carries the key; the CLI finds the server from another folder.
// Needs util-linux script(1) for a terminal.
describe('zero-setup serve on a terminal', { skip: !fs.existsSync('/usr/bin/script') }, () => {
  let root: string;
  let server: ChildProcess;
  let out = '';
  let zenv: NodeJS.ProcessEnv;

  before(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-zero-'));
    fs.mkdirSync(path.join(root, 'home'));
    fs.mkdirSync(path.join(root, 'work'));
    fs.mkdirSync(path.join(root, 'elsewhere'));
    const port = await freePort();
    // Only the listeners move off the defaults (other tests may hold 8080/9090).
    zenv = { ...env(), HOME: path.join(root, 'home'), SWITCHBOARD_LISTEN_ADDR: `127.0.0.1:${port}`, SWITCHBOARD_METRICS_LISTEN_ADDR: '' };
    const cmd = `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI_BIN)} serve`;
    server = spawn('script', ['-qfec', cmd, '/dev/null'], { cwd: path.join(root, 'work'), env: zenv, stdio: ['pipe', 'pipe', 'pipe'] });
    server.stdout!.on('data', (d) => (out += d));
    server.stderr!.on('data', (d) => (out += d));
    const deadline = Date.now() + 30_000;
    while (!/--authkey \S+\s*\n/.test(out)) {
      if (Date.now() > deadline || server.exitCode !== null) throw new Error(`server did not start:\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });
  after(async () => {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    fs.rmSync(root, { recursive: true, force: true });
  });

  test('the join command is shown once on the terminal; log lines name only the key prefix', () => {
    const key = /--authkey (hskey-auth-\S+)/.exec(out)![1]!;
    const lines = out.split(/\r?\n/);
    const withKey = lines.filter((l) => l.includes(key));
    assert.equal(withKey.length, 1, out);
    assert.match(withKey[0]!, /^\s+tailscale up --login-server http:\/\/127\.0\.0\.1:8080 --authkey hskey-auth-/);
    const logLines = lines.filter((l) => /^\d{4}-\d\d-\d\dT/.test(l));
    assert.ok(logLines.some((l) => l.includes(`pre-auth key ${key.split('-').slice(0, 3).join('-')}-…`)), out);
    assert.ok(logLines.every((l) => !l.includes(key)));
  });

  test('the CLI finds the server from another folder (socket in ~/.switchboard)', async () => {
    assert.ok(fs.existsSync(path.join(root, 'home', '.switchboard', 'switchboard.sock')));
    const r = await runCli(['users', 'list', '-o', 'json'], { cwd: path.join(root, 'elsewhere'), env: { HOME: path.join(root, 'home'), SWITCHBOARD_LISTEN_ADDR: zenv.SWITCHBOARD_LISTEN_ADDR!, SWITCHBOARD_METRICS_LISTEN_ADDR: '' } });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((JSON.parse(r.stdout) as Array<{ name: string }>).map((u) => u.name), ['default']);
  });
});
