// Reads what a SQLite file holds without changing it: not a byte, not its mode, no -wal,
// -shm or -journal file left beside it. Opening the file itself would (SQLite may replay or
// checkpoint a WAL, create -shm, and closing the last connection rewrites the main file),
// so the file and its WAL are copied to a private temporary folder and the copy is opened.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { StoreError } from './errors.js';
import type { SchemaSnapshot } from './recognize.js';

const MAGIC = Buffer.from('SQLite format 3\0', 'latin1');

function size(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return -1;
    throw e;
  }
}

/** null when there is no database yet (no file, or an empty one with no WAL). */
export function snapshotSqlite(file: string): SchemaSnapshot | null {
  const what = `SQLite file ${file}`;
  const mainSize = size(file);
  const walSize = size(`${file}-wal`);
  if (mainSize <= 0 && walSize <= 0) return null;
  if (fs.statSync(file, { throwIfNoEntry: false })?.isFile() === false) {
    throw new StoreError('unrecognised', `${what} is not a regular file; refusing to use it as a database`);
  }
  if (mainSize > 0) {
    const head = Buffer.alloc(MAGIC.length);
    const fd = fs.openSync(file, 'r');
    try {
      fs.readSync(fd, head, 0, head.length, 0);
    } finally {
      fs.closeSync(fd);
    }
    if (!head.equals(MAGIC)) throw new StoreError('unrecognised', `${what} is not a SQLite database; refusing to use it`);
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-inspect-'));
  try {
    const copy = path.join(tmp, 'db.sqlite');
    if (mainSize > 0) fs.copyFileSync(file, copy);
    if (walSize > 0) fs.copyFileSync(`${file}-wal`, `${copy}-wal`);
    let db: Database.Database;
    try {
      db = new Database(copy);
    } catch (e) {
      throw new StoreError('unrecognised', `cannot read ${what}: ${(e as Error).message}`, { cause: e });
    }
    try {
      const tables = (
        db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'").all() as Array<{ name: string }>
      ).map((r) => r.name);
      let appliedMigrations: string[] = [];
      if (tables.includes('_prisma_migrations')) {
        appliedMigrations = (
          db
            .prepare('SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL')
            .all() as Array<{ migration_name: string }>
        ).map((r) => r.migration_name);
      }
      return { what, tables, appliedMigrations };
    } catch (e) {
      throw new StoreError('unrecognised', `cannot read the schema of ${what}: ${(e as Error).message}`, { cause: e });
    } finally {
      db.close();
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
