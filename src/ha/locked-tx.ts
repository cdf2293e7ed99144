// One transaction on its own pooled connection, holding a transaction-scoped advisory lock:
// how a write that must see every instance's rows at once (a count against a cap) is
// serialized across instances. Commits when `body` returns, rolls back when it throws.

import type pg from 'pg';

export async function lockedTransaction<T>(pool: pg.Pool, lockKey: number, body: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    await c.query('SELECT pg_advisory_xact_lock($1)', [lockKey]);
    const result = await body(c);
    await c.query('COMMIT');
    return result;
  } catch (err) {
    await c.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    c.release();
  }
}
