// Applies committed migrations to PostgreSQL: one transaction per migration, all under a
// session advisory lock so several instances starting at once apply each exactly once.

import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { StoreError } from './errors.js';
import { pendingMigrations, readMigrations, type AppliedMigrationRow } from './migrations.js';
import { recognizeSchema, type SchemaSnapshot } from './recognize.js';

// The key Prisma's own migrate commands lock, so they and we also exclude each other.
const ADVISORY_LOCK_KEY = 72707369;

// Prisma's own DDL for its history table, so Prisma's tools can read ours.
const HISTORY_DDL = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

export async function migratePostgres(config: pg.ClientConfig, dir: string, log?: (msg: string) => void): Promise<void> {
  const local = readMigrations(dir, 'postgresql');
  const client = new pg.Client(config);
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [ADVISORY_LOCK_KEY]);
    try {
      // Before the history table is created: a schema this server did not make stays untouched.
      recognizeSchema(await snapshotPostgres(client, config.database ?? '?'), local);
      await client.query(HISTORY_DDL);
      const { rows } = await client.query<AppliedMigrationRow>(
        'SELECT migration_name, checksum, finished_at, rolled_back_at FROM _prisma_migrations',
      );
      for (const m of pendingMigrations(local, rows)) {
        const startedAt = new Date();
        await client.query('BEGIN');
        try {
          try {
            await client.query(m.sql);
          } catch (e) {
            throw new StoreError('migration', `migration ${m.name} failed: ${(e as Error).message}`, { cause: e });
          }
          await client.query(
            `INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count)
             VALUES ($1, $2, now(), $3, NULL, NULL, $4, 1)`,
            [randomUUID(), m.checksum, m.name, startedAt],
          );
          await client.query('COMMIT');
        } catch (e) {
          await client.query('ROLLBACK').catch(() => {});
          throw e;
        }
        log?.(`applied migration ${m.name}`);
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [ADVISORY_LOCK_KEY]).catch(() => {});
    }
  } finally {
    await client.end();
  }
}

/** The tables of the schema the connection works in (search_path's first), and our history in it. */
async function snapshotPostgres(client: pg.Client, name: string): Promise<SchemaSnapshot> {
  const { rows } = await client.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.tables
      WHERE table_schema = current_schema() AND table_type IN ('BASE TABLE', 'VIEW')`,
  );
  const tables = rows.map((r) => r.table_name);
  let appliedMigrations: string[] = [];
  if (tables.includes('_prisma_migrations')) {
    const applied = await client.query<{ migration_name: string }>(
      'SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL',
    );
    appliedMigrations = applied.rows.map((r) => r.migration_name);
  }
  return { what: `PostgreSQL database ${name}`, tables, appliedMigrations };
}
