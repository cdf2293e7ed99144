// Turns Switchboard's PostgreSQL options (headscale's config fields, or a URL) into a
// node-postgres pool configuration, shared by the Prisma adapter and the migration runner.

import type pg from 'pg';

export type PostgresOptions =
  | { type: 'postgres'; host: string; port: number; name: string; user: string; pass: string; ssl?: boolean | string; maxOpenConns?: number; connMaxIdleTimeSecs?: number }
  | { type: 'postgres'; url: string; maxOpenConns?: number; connMaxIdleTimeSecs?: number };

/**
 * headscale's `ssl` is a bool or a libpq sslmode. `true`/"require" encrypt without checking
 * the certificate (that is what libpq's require means); "verify-ca"/"verify-full" check it.
 * allow/prefer are refused: node-postgres cannot fall back between TLS and plain text.
 */
export function sslFromOption(ssl: boolean | string | undefined): pg.PoolConfig['ssl'] {
  if (ssl === undefined || ssl === false) return false;
  if (ssl === true) return { rejectUnauthorized: false };
  switch (ssl.trim().toLowerCase()) {
    case '':
    case 'false':
    case 'disable':
      return false;
    case 'true':
    case 'require':
      return { rejectUnauthorized: false };
    case 'verify-ca':
    case 'verify-full':
      return { rejectUnauthorized: true };
    default:
      throw new Error(`database.postgres.ssl: unknown value "${ssl}" (use true/false, disable, require, verify-ca or verify-full)`);
  }
}

export function poolConfig(opts: PostgresOptions): pg.PoolConfig {
  const max = opts.maxOpenConns && opts.maxOpenConns > 0 ? opts.maxOpenConns : 10;
  // conn_max_idle_time_secs: an idle connection is closed after this long (0: never, as in Go's database/sql).
  const idle = opts.connMaxIdleTimeSecs;
  const idleTimeoutMillis = idle === undefined ? undefined : idle > 0 ? idle * 1000 : 0;
  const extra = idleTimeoutMillis === undefined ? {} : { idleTimeoutMillis };
  if ('url' in opts) return { connectionString: opts.url, max, ...extra };
  return {
    host: opts.host,
    port: opts.port,
    database: opts.name,
    user: opts.user,
    password: opts.pass,
    ssl: sslFromOption(opts.ssl),
    max,
    ...extra,
  };
}

/** For messages: where we connect, without the password. */
export function describeTarget(opts: PostgresOptions): string {
  if ('url' in opts) {
    try {
      const u = new URL(opts.url);
      return `${u.hostname}:${u.port || 5432}${u.pathname}`;
    } catch {
      return '(unparsable URL)';
    }
  }
  return `${opts.host}:${opts.port}/${opts.name}`;
}
