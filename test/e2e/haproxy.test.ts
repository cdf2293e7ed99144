// Two Switchboard instances on one PostgreSQL database behind HAProxy (Debian's package,
// run with docs/haproxy.cfg exactly as shipped), and the stock client joining through it.
// The instance a client streams from is killed with SIGKILL: the client reconnects
// through HAProxy to the survivor, stays online at its peer, and still gets changes.
// Before that, a web login made at one instance is approved with the CLI at the other.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import YAML from 'yaml';
import { afterAll as after, beforeAll as before, describe, test } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { skipOrFail, Tailnet, upInBackground, waitFor, type Daemon } from './harness.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const SWITCHBOARD = path.join(REPO, 'bin', 'switchboard.js');
const HAPROXY_CFG = path.join(REPO, 'docs', 'haproxy.cfg');
const PG_URL = process.env.SWITCHBOARD_TEST_PG_URL;
const AUTH_URL = /(http:\/\/127\.0\.0\.1:8080\/register\/(hskey-authreq-[0-9a-f]{24}))/;

/** Why this file cannot run beyond what the stock-client suite needs, or null. */
function haproxySkipReason(): string | null {
  if (!PG_URL) return 'SWITCHBOARD_TEST_PG_URL is not set (scripts/test.sh sets it)';
  if (process.getuid?.() !== 0) return 'needs root to install HAProxy (scripts/haproxy-setup.sh) and make network namespaces';
  return null;
}

const skip = (() => {
  if (skipOrFail()) return true;
  const why = haproxySkipReason();
  if (why && (process.env.CI === 'true' || process.env.SWITCHBOARD_E2E === 'required')) throw new Error(`HAProxy test required but cannot run: ${why}`);
  if (why) process.stderr.write(`e2e: haproxy test skipped: ${why}\n`);
  return why !== null;
})();

/**
 * The test server's unix socket folder, where scripts/pg-setup.sh puts it: <repo>/.pg/run,
 * or /var/tmp/switchboard-pg-<hash of the repo path>/run when `postgres` cannot enter the repo.
 */
function pgSocketDir(port: number): string {
  const root = REPO.replace(/\/+$/, '');
  const candidates = [
    path.join(root, '.pg', 'run'),
    `/var/tmp/switchboard-pg-${createHash('sha256').update(root).digest('hex').slice(0, 12)}/run`,
  ];
  const found = candidates.find((d) => fs.existsSync(path.join(d, `.s.PGSQL.${port}`)));
  if (!found) throw new Error(`no PostgreSQL socket .s.PGSQL.${port} in ${candidates.join(' or ')}`);
  return found;
}

async function adminQuery(sql: string): Promise<Array<Record<string, unknown>>> {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  try {
    return (await c.query(sql)).rows;
  } finally {
    await c.end();
  }
}

describe('two instances behind HAProxy, stock client', { skip }, () => {
  const dbName = `sbha_${process.pid}_${randomBytes(4).toString('hex')}`;
  let tn: Tailnet;
  let haproxy: ReturnType<Tailnet['spawnInNs']>;
  let second: ReturnType<Tailnet['spawnInNs']>;
  let secondConfig = '';
  let a: Daemon;
  let b: Daemon;

  /** The instance processes by their pid (the instance id carries it). */
  const instances = () => [
    { name: 'sb1', proc: tn.server!, config: tn.configPath },
    { name: 'sb2', proc: second, config: secondConfig },
  ];

  const cli = (config: string, args: string[]) => runCli(['-c', config, ...args]);

  async function db<T>(sql: string, values: unknown[] = []): Promise<T[]> {
    const u = new URL(PG_URL!);
    u.pathname = `/${dbName}`;
    const c = new pg.Client({ connectionString: u.toString() });
    await c.connect();
    try {
      return (await c.query(sql, values)).rows as T[];
    } finally {
      await c.end();
    }
  }

  /** Which instance (sb1/sb2) streams to the node with this hostname. */
  async function servedBy(hostname: string): Promise<string | undefined> {
    const rows = await db<{ instance: string }>(
      'SELECT s.instance FROM ha_streams s JOIN nodes n ON n.id = s.node_id WHERE n.hostname = $1',
      [hostname],
    );
    const live = instances().filter((i) => i.proc.running);
    return live.find((i) => rows.some((r) => r.instance.includes(`-${i.proc.child.pid}-`)))?.name;
  }

  before(async () => {
    const setup = spawnSync('bash', [path.join(REPO, 'scripts', 'haproxy-setup.sh')], { encoding: 'utf8' });
    assert.equal(setup.status, 0, `scripts/haproxy-setup.sh: ${setup.stderr}`);
    const haproxyBin = setup.stdout.trim().split('\n').pop()!;

    await adminQuery(`CREATE DATABASE "${dbName}"`);
    // The instances run inside the test's network namespace; the database's unix socket
    // (a path, not namespaced) reaches them there.
    const u = new URL(PG_URL!);
    const sockDir = pgSocketDir(Number(u.port || 5432));
    const postgres = { host: sockDir, port: Number(u.port || 5432), name: dbName, user: decodeURIComponent(u.username), pass: '' };
    tn = new Tailnet({
      config: {
        listen_addr: '127.0.0.1:8081',
        database: { type: 'postgres', postgres, ha: { heartbeat_interval: '500ms', instance_timeout: '3s' } },
      },
    });
    // The first instance (tn.server) makes the database's tables and the shared Noise key.
    await tn.start();
    const cfg = YAML.parse(fs.readFileSync(tn.configPath, 'utf8')) as Record<string, unknown>;
    secondConfig = path.join(tn.dir, 'config-sb2.yaml');
    fs.writeFileSync(secondConfig, YAML.stringify({ ...cfg, listen_addr: '127.0.0.1:8082', unix_socket: path.join(tn.dir, 'sb2.sock') }));
    second = tn.spawnInNs('switchboard-sb2', process.execPath, [SWITCHBOARD, 'serve', '-c', secondConfig]);
    await waitFor('the second instance on its unix socket', async () => {
      if (!second.running) throw new Error(`sb2 exited:\n${second.log().slice(-3000)}`);
      return (await cli(secondConfig, ['users', 'list', '-o', 'json'])).code === 0;
    });
    // -db: foreground, no daemon; the shipped file as it is.
    haproxy = tn.spawnInNs('haproxy', haproxyBin, ['-db', '-f', HAPROXY_CFG]);
    await waitFor('HAProxy to see both instances up', async () => {
      if (!haproxy.running) throw new Error(`haproxy exited:\n${haproxy.log()}`);
      const r = spawnSync('ip', ['netns', 'exec', tn.ns, 'curl', '-sf', 'http://127.0.0.1:8080/health'], { encoding: 'utf8' });
      return r.status === 0;
    });
  });
  after(async () => {
    await haproxy?.stop().catch(() => {});
    await second?.stop().catch(() => {});
    await tn?.stop().catch(() => {});
    await adminQuery(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`).catch(() => {});
  });

  test('two stock clients join through HAProxy and see each other online', async () => {
    const key = await tn.authKey({ user: 'ha', reusable: true });
    a = await tn.node('alpha', { key });
    b = await tn.node('bravo', { key });
    await waitFor('bravo online at alpha', async () => (await a.peer('bravo'))?.Online);
    await waitFor('alpha online at bravo', async () => (await b.peer('alpha'))?.Online);
    assert.ok(await servedBy('alpha'), 'alpha streams from one of the instances');
  });

  test('tailscale up without a key at sb1, approved with the CLI on sb2: the waiting client becomes Running', async () => {
    const c = await tn.daemon('charlie');
    // Straight at sb1, so the registration and the waiting follow-up are certainly there.
    const up = upInBackground(c, 'http://127.0.0.1:8081', ['--hostname=charlie']);
    const [, , id] = await waitFor('the AuthURL from tailscale up', async () => AUTH_URL.exec(up.output()), 40_000);
    const listed = await cli(secondConfig, ['auth', 'list', '-o', 'json']);
    assert.equal(listed.code, 0, listed.stderr);
    assert.ok(listed.stdout.includes(id!), `sb2 lists the registration made at sb1: ${listed.stdout}`);
    const done = await cli(secondConfig, ['auth', 'register', '--user', 'ha', '--auth-id', id!]);
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stdout, /Node charlie registered/);
    assert.equal(await up.done, 0, `tailscale up exits 0 once approved\n${up.output()}`);
    assert.equal((await c.status()).BackendState, 'Running');
    await waitFor('charlie online at alpha', async () => (await a.peer('charlie'))?.Online, 30_000);
  });

  test("SIGKILL of alpha's instance: alpha reconnects through HAProxy to the other and stays online; changes still reach both", async () => {
    const victimName = await waitFor('the instance serving alpha', () => servedBy('alpha'));
    const victim = instances().find((i) => i.name === victimName)!;
    const survivor = instances().find((i) => i.name !== victimName)!;
    victim.proc.child.kill('SIGKILL');
    await victim.proc.exited;

    await waitFor('alpha streaming from the survivor', async () => (await servedBy('alpha')) === survivor.name, 60_000);
    await waitFor('alpha online at bravo', async () => (await b.peer('alpha'))?.Online, 30_000);
    await waitFor('bravo online at alpha', async () => (await a.peer('bravo'))?.Online, 30_000);
    assert.equal((await a.status()).BackendState, 'Running');

    // The control plane works for both through the survivor: a rename reaches alpha.
    const nodes = JSON.parse((await cli(survivor.config, ['nodes', 'list', '-o', 'json'])).stdout) as Array<{ id: number; givenName?: string; name?: string }>;
    const bravo = nodes.find((n) => (n.givenName ?? n.name) === 'bravo');
    assert.ok(bravo, `bravo in ${JSON.stringify(nodes)}`);
    const renamed = await cli(survivor.config, ['nodes', 'rename', '-i', String(bravo.id), 'bravo-renamed']);
    assert.equal(renamed.code, 0, renamed.stderr);
    await waitFor('the new name at alpha', async () => {
      const st = await a.status();
      return Object.values(st.Peer ?? {}).some((p: any) => String(p.DNSName).startsWith('bravo-renamed.'));
    }, 30_000);
  });
});
