// The committed migrations (prisma/migrations/<provider>/<name>/migration.sql) and the rule
// for which of them still need applying, shared by the SQLite and PostgreSQL runners.
// Applied migrations are recorded in Prisma's own _prisma_migrations table with Prisma's
// checksum (sha256 hex of the file), so `prisma migrate status` agrees with us later.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { StoreError } from './errors.js';

export interface Migration {
  name: string;
  sql: string;
  checksum: string;
}

export interface AppliedMigrationRow {
  migration_name: string;
  checksum: string;
  finished_at: unknown;
  rolled_back_at: unknown;
}

export type MigrationProvider = 'sqlite' | 'postgresql';

/** prisma/migrations/<sqlite|postgres> of this checkout, found from src/db or dist/src/db. */
export function defaultMigrationsDir(kind: 'sqlite' | 'postgres'): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = path.join(dir, 'prisma', 'migrations', kind);
    if (fs.existsSync(candidate)) return candidate;
    const up = path.dirname(dir);
    if (up === dir) throw new StoreError('migration', `no prisma/migrations/${kind} folder above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The migrations in `dir`, in name (timestamp) order. */
export function readMigrations(dir: string, provider: MigrationProvider): Migration[] {
  if (!fs.existsSync(dir)) throw new StoreError('migration', `migrations folder ${dir} does not exist`);
  const lock = path.join(dir, 'migration_lock.toml');
  if (fs.existsSync(lock)) {
    const m = /provider\s*=\s*"([^"]+)"/.exec(fs.readFileSync(lock, 'utf8'));
    if (m && m[1] !== provider) {
      throw new StoreError('migration', `migrations in ${dir} are for ${m[1]}, not ${provider}`);
    }
  }
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort()
    .map((name) => {
      const file = path.join(dir, name, 'migration.sql');
      if (!fs.existsSync(file)) throw new StoreError('migration', `migration ${name} has no migration.sql (${file})`);
      const sql = fs.readFileSync(file, 'utf8');
      return { name, sql, checksum: sha256Hex(sql) };
    });
}

/**
 * The local migrations not applied yet. Throws, naming the migration, when an applied one
 * was changed since, when one failed half-way earlier (needs a person), or when the database
 * has one this version does not know (a newer version migrated it; running older code on it
 * could corrupt data).
 */
export function pendingMigrations(local: Migration[], appliedRows: AppliedMigrationRow[]): Migration[] {
  const live = appliedRows.filter((r) => r.rolled_back_at == null);
  const byName = new Map(live.map((r) => [r.migration_name, r]));
  for (const r of live) {
    if (r.finished_at == null) {
      throw new StoreError('migration', `migration ${r.migration_name} failed earlier and was not rolled back; fix the database by hand, then mark it rolled back`);
    }
  }
  const known = new Set(local.map((m) => m.name));
  for (const r of live) {
    if (!known.has(r.migration_name)) {
      throw new StoreError('migration', `the database has migration ${r.migration_name}, which this version does not have (is it newer than this server?)`);
    }
  }
  const pending: Migration[] = [];
  for (const m of local) {
    const row = byName.get(m.name);
    if (!row) {
      pending.push(m);
    } else if (row.checksum !== m.checksum) {
      throw new StoreError('migration', `migration ${m.name} was modified after it was applied (checksum ${row.checksum} in the database, ${m.checksum} on disk)`);
    }
  }
  return pending;
}
