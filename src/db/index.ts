// Opens the configured database as a Store. Call store.migrate() before use.

import type { Store } from './store.js';
import { PrismaStore } from './prisma-store.js';
import { openSqlite, type SqliteOptions } from './sqlite.js';
import { openPostgres, type PostgresBackendOptions } from './postgres.js';

export type StoreOptions = SqliteOptions | PostgresBackendOptions;

export async function createStore(opts: StoreOptions): Promise<Store> {
  switch (opts.type) {
    case 'sqlite':
      return new PrismaStore(await openSqlite(opts));
    case 'postgres':
      return new PrismaStore(await openPostgres(opts));
    default:
      throw new Error(`unknown database type "${(opts as { type: unknown }).type}" (sqlite or postgres)`);
  }
}

export type { Store, NewApiKey, NewNode, NewPreAuthKey, NewUser } from './store.js';
export { StoreError, type StoreErrorCode } from './errors.js';
export type { SqliteOptions } from './sqlite.js';
export type { PostgresBackendOptions } from './postgres.js';
