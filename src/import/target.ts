// What the configured (target) database holds, read without changing it, so a dry run can
// say whether the import would be refused and a real run can list that with the other
// problems before it migrates anything. The write itself checks again, in its transaction.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { StoreOptions } from '../db/index.js';
import { defaultMigrationsDir, readMigrations } from '../db/migrations.js';
import { describeTarget, poolConfig } from '../db/pg-config.js';
import { recognizeSchema } from '../db/recognize.js';
import { snapshotSqlite } from '../db/snapshot-sqlite.js';

export interface TargetState {
  what: string;
  /** Rows per kind that an import without --replace would refuse to overwrite; empty when none. */
  held: Record<string, number>;
  /** The database does not exist yet (SQLite file) or has no tables. */
  fresh: boolean;
}

const COUNTS: Record<string, string> = {
  users: 'SELECT count(*) AS n FROM users',
  nodes: 'SELECT count(*) AS n FROM nodes',
  'pre-auth keys': 'SELECT count(*) AS n FROM pre_auth_keys',
  'API keys': 'SELECT count(*) AS n FROM api_keys',
  'policy setting': "SELECT count(*) AS n FROM settings WHERE key = 'policy'",
};

export async function inspectTarget(opts: StoreOptions): Promise<TargetState> {
  return opts.type === 'sqlite' ? inspectSqlite(opts.path) : inspectPostgres(opts);
}

function inspectSqlite(file: string): TargetState {
  const abs = path.resolve(file);
  const what = `SQLite file ${abs}`;
  const snap = snapshotSqlite(abs);
  if (snap === null) return { what, held: {}, fresh: true };
  // Throws for a headscale database or anything else that is not ours.
  if (recognizeSchema(snap, readMigrations(defaultMigrationsDir('sqlite'), 'sqlite')) === 'empty') return { what, held: {}, fresh: true };
  // Counted on a copy, as snapshotSqlite reads: the target stays byte for byte as it is.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-import-'));
  try {
    const copy = path.join(tmp, 'db.sqlite');
    fs.copyFileSync(abs, copy);
    if (fs.existsSync(`${abs}-wal`)) fs.copyFileSync(`${abs}-wal`, `${copy}-wal`);
    const db = new Database(copy);
    try {
      const held: Record<string, number> = {};
      for (const [kind, sql] of Object.entries(COUNTS)) {
        const n = Number((db.prepare(sql).get() as { n: number }).n);
        if (n > 0) held[kind] = n;
      }
      return { what, held, fresh: false };
    } finally {
      db.close();
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

async function inspectPostgres(opts: Extract<StoreOptions, { type: 'postgres' }>): Promise<TargetState> {
  const what = `PostgreSQL database ${describeTarget(opts)}`;
  const { max: _max, idleTimeoutMillis: _idle, ...config } = poolConfig(opts);
  const client = new pg.Client(config);
  try {
    await client.connect();
  } catch (err) {
    throw new Error(`cannot connect to the target, ${what}: ${(err as Error).message}`);
  }
  try {
    const tables = (
      await client.query<{ table_name: string }>(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
      )
    ).rows.map((r) => r.table_name);
    let applied: string[] = [];
    if (tables.includes('_prisma_migrations')) {
      applied = (
        await client.query<{ migration_name: string }>(
          'SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL',
        )
      ).rows.map((r) => r.migration_name);
    }
    const kind = recognizeSchema({ what, tables, appliedMigrations: applied }, readMigrations(defaultMigrationsDir('postgres'), 'postgresql'));
    if (kind === 'empty') return { what, held: {}, fresh: true };
    const held: Record<string, number> = {};
    for (const [k, sql] of Object.entries(COUNTS)) {
      const n = Number((await client.query<{ n: string }>(sql)).rows[0]!.n);
      if (n > 0) held[k] = n;
    }
    return { what, held, fresh: false };
  } finally {
    await client.end();
  }
}
