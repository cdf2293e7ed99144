// Opens the PostgreSQL backend: a node-postgres pool behind Prisma's pg adapter.

import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from './generated/postgres/client.js';
import type { Db } from './db.js';
import type { Backend } from './prisma-store.js';
import { defaultMigrationsDir } from './migrations.js';
import { migratePostgres } from './migrate-postgres.js';
import { describeTarget, poolConfig, type PostgresOptions } from './pg-config.js';

export type PostgresBackendOptions = PostgresOptions & {
  /** Defaults to this checkout's prisma/migrations/postgres. */
  migrationsDir?: string;
  /**
   * Tags every connection (setting switchboard.instance) so the changelog triggers record
   * which instance wrote a change, and that instance can skip its own.
   */
  instanceId?: string;
};

export async function openPostgres(opts: PostgresBackendOptions): Promise<Backend> {
  const config = poolConfig(opts);
  if (opts.instanceId !== undefined) {
    if (!/^[A-Za-z0-9._-]+$/.test(opts.instanceId)) throw new Error(`instance id ${JSON.stringify(opts.instanceId)}: use letters, digits, '.', '_' and '-'`);
    config.options = `-c switchboard.instance=${opts.instanceId}`;
  }
  const target = describeTarget(opts);
  const client = new PrismaClient({ adapter: new PrismaPg(config) });
  const db = client as unknown as Db;
  try {
    await db.$queryRawUnsafe('SELECT 1');
  } catch (e) {
    await client.$disconnect().catch(() => {});
    throw new Error(`cannot connect to PostgreSQL at ${target}: ${(e as Error).message}`, { cause: e });
  }
  const dir = opts.migrationsDir ?? defaultMigrationsDir('postgres');
  return {
    kind: 'postgres',
    db,
    snapshot: { isolationLevel: 'RepeatableRead' },
    migrate: (log) => migratePostgres(config, dir, log),
  };
}
