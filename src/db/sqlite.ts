// Opens the SQLite backend: the file (0600, parent folder created), WAL, synchronous=NORMAL,
// a busy timeout so several processes can share the file, and foreign keys on.

import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaClient } from './generated/sqlite/client.js';
import type { Db } from './db.js';
import type { Backend } from './prisma-store.js';
import { defaultMigrationsDir, readMigrations } from './migrations.js';
import { recognizeSchema } from './recognize.js';
import { snapshotSqlite } from './snapshot-sqlite.js';
import { migrateSqlite } from './migrate-sqlite.js';

export interface SqliteOptions {
  type: 'sqlite';
  path: string;
  /** Defaults to this checkout's prisma/migrations/sqlite. */
  migrationsDir?: string;
  /** How long a writer waits for another process's lock. Default 10 s. */
  busyTimeoutMs?: number;
  /** database.sqlite.write_ahead_log: WAL (default) or SQLite's rollback journal. */
  writeAheadLog?: boolean;
  /** database.sqlite.wal_autocheckpoint: pages; 0 turns automatic checkpoints off. Default SQLite's 1000. */
  walAutocheckpoint?: number;
}

/** The file holds node keys and key hashes: readable by the server's user only. */
function prepareFile(file: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  fs.closeSync(fs.openSync(file, 'a', 0o600));
  fs.chmodSync(file, 0o600);
}

export async function openSqlite(opts: SqliteOptions): Promise<Backend> {
  if (!opts.path) throw new Error('database.sqlite.path is empty');
  const file = path.resolve(opts.path);
  const busy = opts.busyTimeoutMs ?? 10_000;
  const dir = opts.migrationsDir ?? defaultMigrationsDir('sqlite');
  // Before anything opens, creates or chmods the file: a database this server did not make
  // is refused as it is.
  const found = snapshotSqlite(file);
  if (found) recognizeSchema(found, readMigrations(dir, 'sqlite'));
  prepareFile(file);

  // journal_mode is stored in the file; set it before Prisma opens its connection. SQLite
  // creates the -wal and -shm files with the main file's permissions.
  const setup = new Database(file, { timeout: busy });
  try {
    setup.pragma(`journal_mode = ${opts.writeAheadLog === false ? 'DELETE' : 'WAL'}`);
  } finally {
    setup.close();
  }

  const client = new PrismaClient({ adapter: new PrismaBetterSqlite3({ url: `file:${file}`, timeout: busy }) });
  const db = client as unknown as Db;
  try {
    // Per-connection settings; Prisma's SQLite adapter uses one connection.
    await db.$executeRawUnsafe('PRAGMA synchronous = NORMAL');
    await db.$executeRawUnsafe('PRAGMA foreign_keys = ON');
    await db.$executeRawUnsafe(`PRAGMA wal_autocheckpoint = ${Math.max(0, Math.trunc(opts.walAutocheckpoint ?? 1000))}`);
  } catch (e) {
    await client.$disconnect().catch(() => {});
    throw new Error(`cannot open SQLite database ${file}: ${(e as Error).message}`, { cause: e });
  }
  return {
    kind: 'sqlite',
    db,
    migrate: async (log) => migrateSqlite(file, dir, busy, log),
  };
}
