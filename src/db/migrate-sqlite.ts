// Applies committed migrations to a SQLite file, one transaction per migration.
// Prisma's "redefine table" migrations (CREATE new_x; INSERT … SELECT; DROP x; RENAME) rely
// on foreign keys being off, but SQLite ignores PRAGMA foreign_keys inside a transaction: with
// them on, DROP TABLE would cascade and silently delete child rows. So they are switched off
// before BEGIN, checked with foreign_key_check before COMMIT, and switched back on after.

import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { StoreError } from './errors.js';
import { pendingMigrations, readMigrations, type AppliedMigrationRow } from './migrations.js';

// Prisma's own DDL for its history table, so Prisma's tools can read ours.
const HISTORY_DDL = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    TEXT PRIMARY KEY NOT NULL,
    "checksum"              TEXT NOT NULL,
    "finished_at"           DATETIME,
    "migration_name"        TEXT NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        DATETIME,
    "started_at"            DATETIME NOT NULL DEFAULT current_timestamp,
    "applied_steps_count"   INTEGER UNSIGNED NOT NULL DEFAULT 0
)`;

/** Prisma writes its timestamps as ISO 8601 with an explicit +00:00 offset. */
function prismaTime(d: Date): string {
  return d.toISOString().replace('Z', '+00:00');
}

export function migrateSqlite(file: string, dir: string, busyTimeoutMs: number, log?: (msg: string) => void): void {
  const local = readMigrations(dir, 'sqlite');
  const db = new Database(file, { timeout: busyTimeoutMs });
  try {
    // journal_mode was set by openSqlite (database.sqlite.write_ahead_log) and is stored in the file.
    db.exec(HISTORY_DDL);
    const readApplied = () =>
      db.prepare('SELECT migration_name, checksum, finished_at, rolled_back_at FROM _prisma_migrations').all() as AppliedMigrationRow[];
    // Validates the history (modified/failed/unknown migrations) even when nothing is pending.
    if (pendingMigrations(local, readApplied()).length === 0) return;

    for (;;) {
      db.pragma('foreign_keys = OFF');
      let applied: string | null = null;
      try {
        // IMMEDIATE takes the write lock now, so a second process starting at the same time
        // waits here and then sees this one's history row instead of re-applying.
        db.exec('BEGIN IMMEDIATE');
        try {
          const next = pendingMigrations(local, readApplied())[0];
          if (next) {
            const startedAt = prismaTime(new Date());
            try {
              db.exec(next.sql);
            } catch (e) {
              throw new StoreError('migration', `migration ${next.name} failed: ${(e as Error).message}`, { cause: e });
            }
            const broken = db.pragma('foreign_key_check') as Array<{ table: string; parent: string }>;
            if (broken.length > 0) {
              const where = [...new Set(broken.map((b) => `${b.table} -> ${b.parent}`))].join(', ');
              throw new StoreError('migration', `migration ${next.name} leaves ${broken.length} broken foreign key(s): ${where}`);
            }
            db.prepare(
              `INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count)
               VALUES (?, ?, ?, ?, NULL, NULL, ?, 1)`,
            ).run(randomUUID(), next.checksum, prismaTime(new Date()), next.name, startedAt);
            applied = next.name;
          }
          db.exec('COMMIT');
        } catch (e) {
          if (db.inTransaction) db.exec('ROLLBACK');
          throw e;
        }
      } finally {
        db.pragma('foreign_keys = ON');
      }
      if (applied === null) return;
      log?.(`applied migration ${applied}`);
    }
  } finally {
    db.close();
  }
}
