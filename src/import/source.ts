// Reading a headscale database, SQLite or PostgreSQL, without changing it. Rows come back
// as plain objects keyed by column name, with values in a few JS types (string, number,
// bigint, boolean, Date, Buffer, null) that map.ts normalises; which columns exist depends
// on the headscale release, so callers ask.

import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';

export type Row = Record<string, unknown>;

export interface HeadscaleSource {
  /** For messages: "SQLite file /x/db.sqlite" or "PostgreSQL database d on h:5432". */
  readonly what: string;
  tables(): Promise<string[]>;
  columns(table: string): Promise<string[]>;
  /** Every row of `table`, ordered by id when it has one. */
  rows(table: string): Promise<Row[]>;
  close(): Promise<void>;
}

export function isPostgresUrl(db: string): boolean {
  return /^postgres(ql)?:\/\//i.test(db);
}

/** Opens `db` (a file path, or a postgresql:// URL) read-only. */
export async function openSource(db: string): Promise<HeadscaleSource> {
  return isPostgresUrl(db) ? openPostgresSource(db) : openSqliteSource(db);
}

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;

function openSqliteSource(file: string): HeadscaleSource {
  const abs = path.resolve(file);
  if (!fs.existsSync(abs)) throw new Error(`--db: no such file ${abs}`);
  let db: Database.Database;
  try {
    // readonly: the file, its mode and any -wal stay as headscale left them.
    db = new Database(abs, { readonly: true, fileMustExist: true });
    db.prepare('SELECT count(*) FROM sqlite_master').get();
  } catch (err) {
    throw new Error(`--db: ${abs} is not a readable SQLite database: ${(err as Error).message}`);
  }
  // One read transaction: every table from the same moment.
  db.exec('BEGIN');
  const what = `SQLite file ${abs}`;
  return {
    what,
    async tables() {
      const rows = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all() as { name: string }[];
      return rows.map((r) => r.name);
    },
    async columns(table) {
      return (db.prepare(`PRAGMA table_info(${quoteIdent(table)})`).all() as { name: string }[]).map((r) => r.name);
    },
    async rows(table) {
      const cols = await this.columns(table);
      const order = cols.includes('id') ? ' ORDER BY id' : '';
      return db.prepare(`SELECT * FROM ${quoteIdent(table)}${order}`).all() as Row[];
    },
    async close() {
      try {
        db.exec('ROLLBACK');
      } finally {
        db.close();
      }
    },
  };
}

async function openPostgresSource(url: string): Promise<HeadscaleSource> {
  const u = new URL(url);
  const what = `PostgreSQL database ${decodeURIComponent(u.pathname.replace(/^\//, '')) || '(default)'} on ${u.hostname}:${u.port || 5432}`;
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    // A read-only snapshot: headscale (if still running) cannot change rows mid-import.
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  } catch (err) {
    await client.end().catch(() => {});
    // The URL may carry a password: name the target, not the URL.
    throw new Error(`--db: cannot read ${what}: ${(err as Error).message}`);
  }
  const schema = 'current_schema()';
  const source: HeadscaleSource = {
    what,
    async tables() {
      const r = await client.query<{ table_name: string }>(
        `SELECT table_name FROM information_schema.tables WHERE table_schema = ${schema} AND table_type = 'BASE TABLE'`,
      );
      return r.rows.map((x) => x.table_name);
    },
    async columns(table) {
      const r = await client.query<{ column_name: string }>(
        `SELECT column_name FROM information_schema.columns WHERE table_schema = ${schema} AND table_name = $1 ORDER BY ordinal_position`,
        [table],
      );
      return r.rows.map((x) => x.column_name);
    },
    async rows(table) {
      const cols = await source.columns(table);
      const order = cols.includes('id') ? ' ORDER BY id' : '';
      return (await client.query(`SELECT * FROM ${quoteIdent(table)}${order}`)).rows as Row[];
    },
    async close() {
      await client.query('ROLLBACK').catch(() => {});
      await client.end();
    },
  };
  return source;
}
