// headscale databases for the import tests: the dumps in test/fixtures/headscale-db (as
// headscale's own releases and migration tests left them) loaded into SQLite files, or
// copied into a PostgreSQL database with the column types headscale's gorm gives there.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const DUMPS = path.join(ROOT, 'test', 'fixtures', 'headscale-db');

/** Every dump with rows or a schema to import (schema-current.sql is DDL only, used by the e2e test). */
export function dumpNames(): string[] {
  return fs.readdirSync(DUMPS).filter((f) => f.endsWith('.sql') && f !== 'schema-current.sql').sort();
}

export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-import-test-'));
}

/** Loads `name` into a new SQLite file in `dir` the way `sqlite3 db < dump` would. */
export function loadDump(name: string, dir: string, edit?: (db: Database.Database) => void): string {
  const file = path.join(dir, `${name}.db`);
  fs.rmSync(file, { force: true });
  const db = new Database(file);
  try {
    // The 0.29.3 dump recreates sqlite_sequence under writable_schema, as sqlite3's .dump does.
    db.unsafeMode(true);
    db.exec(fs.readFileSync(path.join(DUMPS, name), 'utf8'));
    db.unsafeMode(false);
    edit?.(db);
  } finally {
    db.close();
  }
  return file;
}

function pgType(declared: string): string {
  const t = declared.toLowerCase();
  if (t.includes('int')) return 'bigint';
  if (t === 'numeric') return 'boolean';
  if (t === 'blob') return 'bytea';
  if (t === 'datetime') return 'timestamptz';
  return 'text';
}

/**
 * Copies every table of a SQLite headscale database into PostgreSQL database `url`
 * with gorm's PostgreSQL types (bigint ids, boolean, bytea, timestamptz), row for row.
 */
export async function copyToPostgres(sqliteFile: string, url: string): Promise<void> {
  const src = new Database(sqliteFile, { readonly: true });
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const tables = (src.prepare("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'").all() as { name: string }[]).map((r) => r.name);
    for (const t of tables) {
      const cols = src.prepare(`PRAGMA table_info("${t}")`).all() as { name: string; type: string }[];
      await client.query(`CREATE TABLE "${t}" (${cols.map((c) => `"${c.name}" ${pgType(c.type)}`).join(', ')})`);
      for (const row of src.prepare(`SELECT * FROM "${t}"`).all() as Record<string, unknown>[]) {
        const values = cols.map((c) => {
          const v = row[c.name];
          if (v === null || v === undefined) return null;
          const type = pgType(c.type);
          if (type === 'boolean') return v === 1 || v === '1' || v === 'true';
          if (type === 'timestamptz') return typeof v === 'string' ? v.replace(/(\.\d{6})\d+/, '$1') : v;
          return v;
        });
        await client.query(`INSERT INTO "${t}" VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')})`, values);
      }
    }
  } finally {
    src.close();
    await client.end();
  }
}
