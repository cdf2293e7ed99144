// Before any migration touches a database, the server must know what it is looking at:
// an empty database, or one this server's migrations made. Anything else (a headscale
// database, another program's) is refused untouched: migrating it would mix two schemas
// and lose data, and headscale's tables even share our table names.

import { StoreError } from './errors.js';
import type { Migration } from './migrations.js';

export interface SchemaSnapshot {
  /** What the database is, for messages: "SQLite file /x/db.sqlite" or "PostgreSQL database d". */
  what: string;
  /** User tables (no engine-internal ones). */
  tables: string[];
  /** Names in _prisma_migrations that finished and were not rolled back (empty without the table). */
  appliedMigrations: string[];
}

const HISTORY_TABLE = '_prisma_migrations';

/** Tables only headscale has (gormigrate's history, its policy and route tables). */
const HEADSCALE_ONLY = ['migrations', 'policies', 'routes', 'database_versions'];
/** Tables headscale shares with us by name; together and without our history they mean headscale. */
const HEADSCALE_SHARED = ['users', 'nodes', 'pre_auth_keys', 'api_keys'];

export type Recognition = 'empty' | 'own';

/**
 * 'empty' (nothing there yet, or only our history table from a first start that stopped
 * before its first migration finished), 'own' (our history lists one of our migrations);
 * anything else throws, naming what was found.
 */
export function recognizeSchema(s: SchemaSnapshot, local: Migration[]): Recognition {
  const others = s.tables.filter((t) => t !== HISTORY_TABLE);
  const hasHistory = s.tables.includes(HISTORY_TABLE);
  const ours = new Set(local.map((m) => m.name));
  if (hasHistory && s.appliedMigrations.some((n) => ours.has(n))) return 'own';
  if (others.length === 0) return 'empty';
  const sample = others.slice().sort().slice(0, 8).join(', ') + (others.length > 8 ? ', …' : '');
  const headscale =
    !hasHistory && (others.some((t) => HEADSCALE_ONLY.includes(t)) || HEADSCALE_SHARED.every((t) => others.includes(t)));
  if (headscale) {
    throw new StoreError(
      'unrecognised',
      `${s.what} is a headscale database (tables ${sample}); switchboard does not change it. ` +
        'Convert a copy with `switchboard import headscale`, or point the database setting at a new file or database',
    );
  }
  throw new StoreError(
    'unrecognised',
    `${s.what} holds tables this server did not create (${sample}) and no switchboard migration history; ` +
      'refusing to migrate it. Point the database setting at a new file or database, or at an existing switchboard one',
  );
}
