// The databases a suite can run against: SQLite always (a fresh temp file per call), and
// PostgreSQL when SWITCHBOARD_TEST_PG_URL is set (a fresh database per call on that server,
// dropped in cleanup). Loop over testBackends() to run the same tests on both.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createStore, type StoreOptions } from '../../src/db/index.js';
import type { Store } from '../../src/db/store.js';

export interface FreshDatabase {
  /** Options for createStore() (and for a server's config) pointing at an empty database. */
  opts: StoreOptions;
  /** Removes the database (and its temp folder); close stores that use it first. */
  cleanup(): Promise<void>;
}

export interface TestBackend {
  name: 'sqlite' | 'postgres';
  /** A migrated store on a fresh database; cleanup closes it and removes the database. */
  makeStore(): Promise<{ store: Store; cleanup(): Promise<void> }>;
  /** A fresh, empty (not migrated) database, for tests that open stores themselves. */
  storeOpts(): Promise<FreshDatabase>;
}

export const PG_URL_ENV = 'SWITCHBOARD_TEST_PG_URL';

async function freshSqlite(): Promise<FreshDatabase> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-test-'));
  return {
    opts: { type: 'sqlite', path: path.join(dir, 'db.sqlite') },
    cleanup: async () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

async function adminQuery(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

async function freshPostgres(serverUrl: string): Promise<FreshDatabase> {
  // Unique across parallel test processes: pid plus randomness.
  const name = `sbtest_${process.pid}_${randomBytes(5).toString('hex')}`;
  await adminQuery(serverUrl, `CREATE DATABASE "${name}"`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    opts: { type: 'postgres', url: url.toString() },
    // FORCE: a test that failed half-way may have left a connection open.
    cleanup: () => adminQuery(serverUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`),
  };
}

function backend(name: 'sqlite' | 'postgres', fresh: () => Promise<FreshDatabase>): TestBackend {
  return {
    name,
    storeOpts: fresh,
    async makeStore() {
      const db = await fresh();
      const store = await createStore(db.opts).catch(async (e) => {
        await db.cleanup().catch(() => {});
        throw e;
      });
      try {
        await store.migrate();
      } catch (e) {
        await store.close().catch(() => {});
        await db.cleanup().catch(() => {});
        throw e;
      }
      return {
        store,
        async cleanup() {
          await store.close();
          await db.cleanup();
        },
      };
    },
  };
}

export function testBackends(): TestBackend[] {
  const out = [backend('sqlite', freshSqlite)];
  const pgUrl = process.env[PG_URL_ENV];
  if (pgUrl) out.push(backend('postgres', () => freshPostgres(pgUrl)));
  return out;
}
