// Moving from headscale with the stock client: two tailscaled are registered, their tailnet
// is imported from a headscale-schema database, and they come back Running on the new
// server with the same addresses, without `tailscale up` or any other action on the device.
//
// No headscale binary runs here, so the headscale database is made the most faithful way
// open to us: the clients register with Switchboard first (so every key and address is one
// a real tailscaled chose or was given over the real protocol), the server is stopped, and
// the rows headscale would hold for those clients are written into a database built from
// headscale's own schema (schema-current.sql) with its migration history. Switchboard's
// database and noise key are then moved away, so nothing of the first server survives but
// what the import carries: the headscale rows, and the noise key in headscale's file
// format ("privkey:<hex>", the same text our key file holds) passed as --noise-key. If the
// import lost a key, an address or the server's identity, the clients would need a new
// login (or would not trust the server) and stay NeedsLogin or offline.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import YAML from 'yaml';
import { afterAll as after, beforeAll as before, describe, test } from 'vitest';
import { KNOWN_MIGRATIONS, SCHEMA_INIT } from '../../src/import/schema.js';
import { skipOrFail, Tailnet, waitFor, type Daemon } from './harness.js';

const skip = skipOrFail();
const SCHEMA = fileURLToPath(new URL('../../../test/fixtures/headscale-db/schema-current.sql', import.meta.url));

interface OurNode {
  id: number;
  machine_key: string;
  node_key: string;
  disco_key: string;
  endpoints: string;
  host_info: string;
  ipv4: string | null;
  ipv6: string | null;
  hostname: string;
  given_name: string;
  user_id: number;
}

/** The headscale database that would hold these users and nodes. */
function writeHeadscaleDb(file: string, users: { id: number; name: string }[], nodes: OurNode[]): void {
  const db = new Database(file);
  try {
    db.exec(fs.readFileSync(SCHEMA, 'utf8'));
    // A database headscale created fresh records SCHEMA_INIT and every later migration.
    const mig = db.prepare('INSERT INTO migrations (id) VALUES (?)');
    for (const id of [SCHEMA_INIT, ...KNOWN_MIGRATIONS.slice(KNOWN_MIGRATIONS.indexOf('202501221827'))]) mig.run(id);
    db.prepare("INSERT INTO database_versions (id, version, updated_at) VALUES (1, 'v0.29.3', ?)").run(goTime(new Date()));
    const now = goTime(new Date());
    for (const u of users) {
      db.prepare('INSERT INTO users (id, name, display_name, email, provider_identifier, provider, profile_pic_url, created_at, updated_at) VALUES (?, ?, ?, ?, NULL, ?, ?, ?, ?)')
        .run(u.id, u.name, '', '', '', '', now, now);
    }
    for (const n of nodes) {
      db.prepare(
        `INSERT INTO nodes (id, machine_key, node_key, disco_key, endpoints, host_info, ipv4, ipv6, hostname, given_name, user_id,
           register_method, tags, auth_key_id, last_seen, expiry, approved_routes, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'authkey', '[]', NULL, ?, NULL, '[]', ?, ?)`,
      ).run(n.id, n.machine_key, n.node_key, n.disco_key, n.endpoints, n.host_info, n.ipv4, n.ipv6, n.hostname, n.given_name, n.user_id, now, now, now);
    }
  } finally {
    db.close();
  }
}

/** How gorm's SQLite driver writes a time.Time. */
function goTime(d: Date): string {
  return d.toISOString().replace('T', ' ').replace('Z', '+00:00');
}

describe('stock client: moving from headscale', { skip }, () => {
  const tn = new Tailnet();
  let a: Daemon;
  let b: Daemon;

  before(async () => {
    await tn.start();
    a = await tn.node('alpha');
    b = await tn.node('bravo');
  });
  after(async () => {
    await tn.stop();
  });

  test('clients registered with "headscale" come back Running after the import, same addresses, no login', async () => {
    const before4 = [await a.ip4(), await b.ip4()];
    const before6 = [(await a.tsOk(['ip', '-6'])).trim(), (await b.tsOk(['ip', '-6'])).trim()];
    await waitFor('bravo online at alpha', async () => (await a.peer('bravo'))?.Online, 60_000, 500);
    await tn.stopServer('SIGTERM');

    const cfg = YAML.parse(fs.readFileSync(tn.configPath, 'utf8')) as { database: { sqlite: { path: string } }; noise: { private_key_path: string } };
    const ours = new Database(cfg.database.sqlite.path, { readonly: true });
    const users = ours.prepare('SELECT id, name FROM users ORDER BY id').all() as { id: number; name: string }[];
    const nodes = ours.prepare('SELECT * FROM nodes ORDER BY id').all() as OurNode[];
    ours.close();
    assert.equal(nodes.length, 2);

    const hsDb = path.join(tn.dir, 'headscale.sqlite');
    writeHeadscaleDb(hsDb, users, nodes);
    const hsNoise = path.join(tn.dir, 'headscale_noise_private.key');
    fs.copyFileSync(cfg.noise.private_key_path, hsNoise);
    // Nothing of the first server is left for the second to find.
    for (const f of [cfg.database.sqlite.path, `${cfg.database.sqlite.path}-wal`, `${cfg.database.sqlite.path}-shm`, cfg.noise.private_key_path]) {
      fs.rmSync(f, { force: true });
    }

    const dry = await tn.cli(['import', 'headscale', '--db', hsDb, '--noise-key', hsNoise, '--dry-run']);
    assert.equal(dry.code, 0, dry.stdout + dry.stderr);
    assert.equal(fs.existsSync(cfg.database.sqlite.path), false);
    const imp = await tn.cli(['import', 'headscale', '--db', hsDb, '--noise-key', hsNoise]);
    assert.equal(imp.code, 0, imp.stdout + imp.stderr);
    assert.match(imp.stdout, /imported 1 users, 2 nodes/);

    await tn.startServer();
    await waitFor('both nodes online at the server', async () => {
      const list = await tn.nodes();
      return list.length === 2 && list.every((n: { online: boolean }) => n.online);
    }, 90_000, 500);
    for (const d of [a, b]) {
      const st = await d.status();
      assert.equal(st.BackendState, 'Running', `${d.name}: ${JSON.stringify(st.Health)}`);
      assert.equal(st.AuthURL ?? '', '');
    }
    assert.deepEqual([await a.ip4(), await b.ip4()], before4);
    assert.deepEqual([(await a.tsOk(['ip', '-6'])).trim(), (await b.tsOk(['ip', '-6'])).trim()], before6);
    const list = await tn.nodes();
    assert.deepEqual(list.map((n: { id: string; machineKey: string }) => [Number(n.id), n.machineKey]), nodes.map((n) => [n.id, n.machine_key]));
    await waitFor('bravo online at alpha', async () => (await a.peer('bravo'))?.Online, 60_000, 500);
    const out = await a.tsOk(['ping', '--until-direct=false', '-c', '3', 'bravo'], 40_000);
    assert.match(out, /pong from bravo/);
  });
});
