// A database this server did not make is refused before anything touches it: a headscale
// SQLite file keeps every byte, its mode, and gets no -wal/-shm/-journal beside it; a
// headscale PostgreSQL database gets no history table. Empty and own databases open.

import { describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { createStore, StoreError } from '../../src/db/index.js';
import { SwitchboardServer } from '../../src/server/server.js';
import { PG_URL_ENV, testBackends } from '../helpers/databases.js';
import { testConfig } from '../helpers/server.js';

// The shape of headscale's own schema (hscontrol/db/schema.sql), trimmed to a few columns.
const HEADSCALE_SCHEMA = `
CREATE TABLE migrations(id text, PRIMARY KEY(id));
CREATE TABLE users(id integer PRIMARY KEY AUTOINCREMENT, name text, display_name text, created_at datetime);
CREATE TABLE pre_auth_keys(id integer PRIMARY KEY AUTOINCREMENT, prefix text, hash blob, user_id integer REFERENCES users(id));
CREATE TABLE api_keys(id integer PRIMARY KEY AUTOINCREMENT, prefix text, hash blob, expiration datetime);
CREATE TABLE nodes(id integer PRIMARY KEY AUTOINCREMENT, machine_key text, node_key text, user_id integer REFERENCES users(id));
CREATE TABLE policies(id integer PRIMARY KEY AUTOINCREMENT, data text);
CREATE TABLE database_versions(id integer PRIMARY KEY, version text NOT NULL);
INSERT INTO migrations VALUES ('202312101416');
INSERT INTO users(name, display_name) VALUES ('alice', 'Alice');
`;

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-recognize-'));
}

/** Every file in `dir` with its sha256 and mode: the whole observable state of the folder. */
function folderState(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of fs.readdirSync(dir).sort()) {
    const p = path.join(dir, name);
    const st = fs.statSync(p);
    out[name] = `${(st.mode & 0o777).toString(8)} ${createHash('sha256').update(fs.readFileSync(p)).digest('hex')}`;
  }
  return out;
}

function isUnrecognised(pattern: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof StoreError, `expected a StoreError, got ${String(e)}`);
    assert.equal(e.code, 'unrecognised');
    assert.match(e.message, pattern);
    return true;
  };
}

async function openAndMigrate(file: string): Promise<void> {
  const store = await createStore({ type: 'sqlite', path: file });
  try {
    await store.migrate();
  } finally {
    await store.close();
  }
}

describe('SQLite files this server did not make', () => {
  test('a headscale database is refused naming `switchboard import headscale`, and left byte for byte as it was', async () => {
    const dir = tempDir();
    try {
      const file = path.join(dir, 'db.sqlite');
      const hs = new Database(file);
      hs.exec(HEADSCALE_SCHEMA);
      hs.close();
      fs.chmodSync(file, 0o644);
      const before = folderState(dir);
      assert.deepEqual(Object.keys(before), ['db.sqlite']);
      await assert.rejects(openAndMigrate(file), isUnrecognised(/is a headscale database .*`switchboard import headscale`/));
      assert.deepEqual(folderState(dir), before);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a headscale database in WAL mode with its -wal file present (server still running) stays untouched too', async () => {
    const dir = tempDir();
    const hs = new Database(path.join(dir, 'db.sqlite'));
    try {
      hs.pragma('journal_mode = WAL');
      hs.pragma('wal_autocheckpoint = 0'); // keep everything in the -wal file, as a live writer may
      hs.exec(HEADSCALE_SCHEMA);
      const before = folderState(dir);
      assert.ok(before['db.sqlite-wal'], 'the -wal file exists');
      await assert.rejects(openAndMigrate(path.join(dir, 'db.sqlite')), isUnrecognised(/headscale database.*tables .*nodes/));
      assert.deepEqual(folderState(dir), before);
    } finally {
      hs.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('another program\'s database and a file that is not SQLite are refused unchanged', async () => {
    const dir = tempDir();
    try {
      const other = path.join(dir, 'other.sqlite');
      const db = new Database(other);
      db.exec('CREATE TABLE invoices(id integer primary key, total real); INSERT INTO invoices(total) VALUES (9.5)');
      db.close();
      const text = path.join(dir, 'notes.sqlite');
      fs.writeFileSync(text, 'these are not the tables you are looking for\n', { mode: 0o640 });
      const before = folderState(dir);
      await assert.rejects(openAndMigrate(other), isUnrecognised(/holds tables this server did not create \(invoices\)/));
      await assert.rejects(openAndMigrate(text), isUnrecognised(/is not a SQLite database/));
      assert.deepEqual(folderState(dir), before);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('an empty file and our own database open; ours opens again', async () => {
    const dir = tempDir();
    try {
      const file = path.join(dir, 'db.sqlite');
      fs.writeFileSync(file, '');
      await openAndMigrate(file);
      await openAndMigrate(file);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('serve on a headscale database does not start, and the file is unchanged', async () => {
    const dir = tempDir();
    try {
      const file = path.join(dir, 'db.sqlite');
      const hs = new Database(file);
      hs.exec(HEADSCALE_SCHEMA);
      hs.close();
      const before = folderState(dir);
      // Keys and socket elsewhere: only the database's folder is compared.
      const other = tempDir();
      const config = testConfig(other, { type: 'sqlite', path: file });
      const log = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };
      await assert.rejects(SwitchboardServer.start({ config, log }), /switchboard import headscale/);
      fs.rmSync(other, { recursive: true, force: true });
      assert.deepEqual(folderState(dir), before);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

const pgBackend = testBackends().find((b) => b.name === 'postgres');
// Skipped when SWITCHBOARD_TEST_PG_URL is not set (SWITCHBOARD_SKIP_PG=1).
describe('PostgreSQL databases this server did not make', { skip: !pgBackend }, () => {
  test('a headscale database is refused and gets no history table', async () => {
    const db = await pgBackend!.storeOpts();
    const url = (db.opts as { url: string }).url;
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(`
        CREATE TABLE migrations(id text PRIMARY KEY);
        CREATE TABLE users(id bigserial PRIMARY KEY, name text);
        CREATE TABLE pre_auth_keys(id bigserial PRIMARY KEY, user_id bigint REFERENCES users(id));
        CREATE TABLE api_keys(id bigserial PRIMARY KEY, prefix text);
        CREATE TABLE nodes(id bigserial PRIMARY KEY, user_id bigint REFERENCES users(id));
        CREATE TABLE policies(id bigserial PRIMARY KEY, data text);`);
      const tables = async () =>
        (await client.query<{ t: string }>(`SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`)).rows.map((r) => r.t);
      const before = await tables();
      const store = await createStore(db.opts);
      try {
        await assert.rejects(store.migrate(), isUnrecognised(/PostgreSQL database .* is a headscale database.*switchboard import headscale/));
      } finally {
        await store.close();
      }
      assert.deepEqual(await tables(), before);
    } finally {
      await client.end();
      await db.cleanup();
    }
  });
});
