// The start-up migration runner: applies once, re-runs are no-ops, concurrent runs apply
// each migration once, changed or unknown history is an error naming the migration, a
// failing migration leaves nothing behind, and SQLite table redefinitions keep child rows.

import { describe, test } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { createStore, StoreError, type StoreOptions } from '../../src/db/index.js';
import { defaultMigrationsDir, sha256Hex } from '../../src/db/migrations.js';
import { testBackends } from '../helpers/databases.js';

/** Runs one query on the test database directly, without the store. */
async function raw(opts: StoreOptions, sql: string): Promise<Array<Record<string, unknown>>> {
  if (opts.type === 'sqlite') {
    const db = new Database(opts.path);
    try {
      const stmt = db.prepare(sql);
      return stmt.reader ? (stmt.all() as Array<Record<string, unknown>>) : (stmt.run(), []);
    } finally {
      db.close();
    }
  }
  if (!('url' in opts)) throw new Error('test databases are given by URL');
  const client = new pg.Client({ connectionString: opts.url });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

/** A copy of the committed migrations plus extra synthetic ones, in a temp folder. */
function migrationsCopy(kind: 'sqlite' | 'postgres', extra: Record<string, string> = {}): { dir: string; remove(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-migrations-'));
  fs.cpSync(defaultMigrationsDir(kind), dir, { recursive: true });
  for (const [name, sql] of Object.entries(extra)) addMigration(dir, name, sql);
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

function addMigration(dir: string, name: string, sql: string): void {
  fs.mkdirSync(path.join(dir, name));
  fs.writeFileSync(path.join(dir, name, 'migration.sql'), sql);
}

function committedMigrations(kind: 'sqlite' | 'postgres'): string[] {
  const dir = defaultMigrationsDir(kind);
  return fs.readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
}

function isMigrationError(name: string, pattern: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof StoreError, `expected a StoreError, got ${String(e)}`);
    assert.equal(e.code, 'migration');
    assert.ok(e.message.includes(name), `message names ${name}: ${e.message}`);
    assert.match(e.message, pattern);
    return true;
  };
}

for (const backend of testBackends()) {
  const kind = backend.name;

  describe(`migrations on ${kind}`, () => {
    test('a fresh database gets every committed migration once, recorded with its checksum; re-running is a no-op', async () => {
      const db = await backend.storeOpts();
      const store = await createStore(db.opts);
      try {
        const logged: string[] = [];
        await store.migrate((m) => logged.push(m));
        const names = committedMigrations(kind);
        assert.deepEqual(logged, names.map((n) => `applied migration ${n}`));

        const rows = await raw(db.opts, 'SELECT migration_name, checksum, finished_at, applied_steps_count FROM _prisma_migrations ORDER BY migration_name');
        assert.deepEqual(rows.map((r) => r.migration_name), names);
        for (const r of rows) {
          const file = path.join(defaultMigrationsDir(kind), String(r.migration_name), 'migration.sql');
          assert.equal(r.checksum, sha256Hex(fs.readFileSync(file, 'utf8')));
          assert.ok(r.finished_at != null);
        }

        const again: string[] = [];
        await store.migrate((m) => again.push(m));
        assert.deepEqual(again, []);
        assert.equal((await raw(db.opts, 'SELECT migration_name FROM _prisma_migrations')).length, names.length);

        // A second instance on the same database has nothing to do either.
        const other = await createStore(db.opts);
        const third: string[] = [];
        await other.migrate((m) => third.push(m));
        await other.close();
        assert.deepEqual(third, []);
        await store.ping();
      } finally {
        await store.close();
        await db.cleanup();
      }
    });

    test('two instances migrating the same fresh database at once apply each migration once', async () => {
      const db = await backend.storeOpts();
      const extra = migrationsCopy(kind, {
        '99990101000000_second': 'CREATE TABLE "extra_one" ("id" INTEGER NOT NULL PRIMARY KEY);',
        '99990101000001_third': 'CREATE TABLE "extra_two" ("id" INTEGER NOT NULL PRIMARY KEY);',
      });
      const stores = await Promise.all([0, 1, 2].map(() => createStore({ ...db.opts, migrationsDir: extra.dir })));
      try {
        const logs: string[][] = stores.map(() => []);
        await Promise.all(stores.map((s, i) => s.migrate((m) => logs[i]!.push(m))));
        const all = logs.flat().sort();
        const expected = [...committedMigrations(kind), '99990101000000_second', '99990101000001_third'];
        assert.deepEqual(all, expected.map((n) => `applied migration ${n}`).sort());
        const rows = await raw(db.opts, 'SELECT migration_name FROM _prisma_migrations ORDER BY migration_name');
        assert.deepEqual(rows.map((r) => r.migration_name), expected);
      } finally {
        await Promise.all(stores.map((s) => s.close()));
        extra.remove();
        await db.cleanup();
      }
    });

    test('a migration changed after it was applied is an error naming it', async () => {
      const db = await backend.storeOpts();
      const copy = migrationsCopy(kind);
      try {
        const s1 = await createStore({ ...db.opts, migrationsDir: copy.dir });
        await s1.migrate();
        await s1.close();
        const first = committedMigrations(kind)[0]!;
        fs.appendFileSync(path.join(copy.dir, first, 'migration.sql'), '\n-- edited later\n');
        const s2 = await createStore({ ...db.opts, migrationsDir: copy.dir });
        try {
          await assert.rejects(s2.migrate(), isMigrationError(first, /modified after it was applied/));
        } finally {
          await s2.close();
        }
      } finally {
        copy.remove();
        await db.cleanup();
      }
    });

    test('a database with a migration this version does not have is an error naming it', async () => {
      const db = await backend.storeOpts();
      const newer = migrationsCopy(kind, { '99990101000000_from_the_future': 'CREATE TABLE "future" ("id" INTEGER NOT NULL PRIMARY KEY);' });
      try {
        const s1 = await createStore({ ...db.opts, migrationsDir: newer.dir });
        await s1.migrate();
        await s1.close();
        const s2 = await createStore(db.opts);
        try {
          await assert.rejects(s2.migrate(), isMigrationError('99990101000000_from_the_future', /does not have/));
        } finally {
          await s2.close();
        }
      } finally {
        newer.remove();
        await db.cleanup();
      }
    });

    test('a failing migration is an error naming it and leaves no trace', async () => {
      const db = await backend.storeOpts();
      const copy = migrationsCopy(kind, {
        '99990101000000_broken': 'CREATE TABLE "half_done" ("id" INTEGER NOT NULL PRIMARY KEY);\nINSERT INTO "no_such_table" VALUES (1);',
      });
      const store = await createStore({ ...db.opts, migrationsDir: copy.dir });
      try {
        await assert.rejects(store.migrate(), isMigrationError('99990101000000_broken', /failed/));
        const names = (await raw(db.opts, 'SELECT migration_name FROM _prisma_migrations')).map((r) => r.migration_name);
        assert.ok(!names.includes('99990101000000_broken'));
        assert.deepEqual(names.sort(), committedMigrations(kind), 'earlier migrations stay applied');
        await assert.rejects(raw(db.opts, 'SELECT * FROM half_done'), /half_done/);
        // Fixing the file lets the next start apply it.
        fs.writeFileSync(path.join(copy.dir, '99990101000000_broken', 'migration.sql'), 'CREATE TABLE "half_done" ("id" INTEGER NOT NULL PRIMARY KEY);');
        await store.migrate();
        assert.deepEqual(await raw(db.opts, 'SELECT * FROM half_done'), []);
      } finally {
        await store.close();
        copy.remove();
        await db.cleanup();
      }
    });
  });
}

describe('SQLite foreign keys during migrations', () => {
  const sqlite = testBackends().find((b) => b.name === 'sqlite')!;

  // How Prisma migrates a SQLite table it cannot ALTER: copy into a new table, drop the old.
  // With foreign keys on, DROP TABLE "users" would cascade into pre_auth_keys.
  const redefineUsers = `-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_users" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "name" TEXT NOT NULL,
    "display_name" TEXT NOT NULL DEFAULT '',
    "email" TEXT NOT NULL DEFAULT '',
    "provider_identifier" TEXT NOT NULL DEFAULT '',
    "provider" TEXT NOT NULL DEFAULT '',
    "profile_pic_url" TEXT NOT NULL DEFAULT '',
    "oidc_groups" TEXT NOT NULL DEFAULT '[]',
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" DATETIME NOT NULL,
    "extra" TEXT NOT NULL DEFAULT 'x'
);
INSERT INTO "new_users" ("id", "name", "display_name", "email", "provider_identifier", "provider", "profile_pic_url", "oidc_groups", "created_at", "updated_at")
  SELECT "id", "name", "display_name", "email", "provider_identifier", "provider", "profile_pic_url", "oidc_groups", "created_at", "updated_at" FROM "users";
DROP TABLE "users";
ALTER TABLE "new_users" RENAME TO "users";
CREATE UNIQUE INDEX "users_name_key" ON "users"("name");
CREATE INDEX "users_provider_identifier_idx" ON "users"("provider_identifier");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;
`;

  test('a redefine-table migration keeps child rows, and foreign keys are on again afterwards', async () => {
    const db = await sqlite.storeOpts();
    const copy = migrationsCopy('sqlite');
    try {
      const s1 = await createStore({ ...db.opts, migrationsDir: copy.dir });
      await s1.migrate();
      const u = await s1.createUser({ name: 'odin', displayName: '', email: '', providerId: '', provider: '', profilePicUrl: '' });
      const k = await s1.createPreAuthKey({ prefix: 'p', keyHash: 'h', userId: u.id, reusable: false, ephemeral: false, used: false, tags: [], expiration: null });
      await s1.close();

      addMigration(copy.dir, '99990101000000_redefine_users', redefineUsers);
      const s2 = await createStore({ ...db.opts, migrationsDir: copy.dir });
      try {
        const logged: string[] = [];
        await s2.migrate((m) => logged.push(m));
        assert.deepEqual(logged, ['applied migration 99990101000000_redefine_users']);
        const snap = await s2.loadAll();
        assert.deepEqual(snap.preAuthKeys.map((x) => [x.id, x.userId]), [[k.id, u.id]], 'the key survived the users table being redefined');
        assert.deepEqual(await raw(db.opts, 'SELECT extra FROM users'), [{ extra: 'x' }]);
        // Foreign keys are enforced again on the store's connection.
        await assert.rejects(
          s2.createPreAuthKey({ prefix: 'q', keyHash: 'h2', userId: 424242, reusable: false, ephemeral: false, used: false, tags: [], expiration: null }),
          (e: unknown) => e instanceof StoreError && e.code === 'invalid_reference',
        );
        // And cascades work on the redefined table.
        await s2.deleteUser(u.id);
        assert.deepEqual((await s2.loadAll()).preAuthKeys, []);
      } finally {
        await s2.close();
      }
    } finally {
      copy.remove();
      await db.cleanup();
    }
  });

  test('a migration that leaves broken foreign keys is refused, names itself and is rolled back', async () => {
    const db = await sqlite.storeOpts();
    const copy = migrationsCopy('sqlite');
    try {
      const s1 = await createStore({ ...db.opts, migrationsDir: copy.dir });
      await s1.migrate();
      const u = await s1.createUser({ name: 'odin', displayName: '', email: '', providerId: '', provider: '', profilePicUrl: '' });
      await s1.createPreAuthKey({ prefix: 'p', keyHash: 'h', userId: u.id, reusable: false, ephemeral: false, used: false, tags: [], expiration: null });
      await s1.close();

      addMigration(copy.dir, '99990101000000_orphans', 'DELETE FROM "users";');
      const s2 = await createStore({ ...db.opts, migrationsDir: copy.dir });
      try {
        await assert.rejects(s2.migrate(), isMigrationError('99990101000000_orphans', /broken foreign key.*pre_auth_keys -> users/));
        assert.equal((await raw(db.opts, 'SELECT COUNT(*) AS n FROM users'))[0]!.n, 1, 'rolled back');
      } finally {
        await s2.close();
      }
    } finally {
      copy.remove();
      await db.cleanup();
    }
  });
});
