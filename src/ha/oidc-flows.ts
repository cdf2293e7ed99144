// OIDC sign-ins in progress, shared by every instance on one PostgreSQL database, so the
// provider's callback may reach any of them. Rows hold only what src/auth/oidc-flows.ts
// makes of a flow (hash of the state, the sealed rest); taking one deletes it: used once.

import type pg from 'pg';
import type { FlowBook } from '../auth/oidc-flows.js';
import { lockedTransaction } from './locked-tx.js';

/** "sbof": serializes put() across instances, so the cap counts every instance's flows. */
export const FLOWS_LOCK_KEY = 0x73626f66;

export class SharedOidcFlows implements FlowBook {
  constructor(private readonly pool: pg.Pool) {}

  put(key: string, sealed: Buffer, ttlMs: number, max: number): Promise<boolean> {
    return lockedTransaction(this.pool, FLOWS_LOCK_KEY, async (c) => {
      await c.query('DELETE FROM ha_oidc_flows WHERE expires_at < now()');
      const { rows: [count] } = await c.query<{ n: string }>('SELECT count(*) AS n FROM ha_oidc_flows');
      if (Number(count?.n ?? 0) >= max) return false;
      await c.query('INSERT INTO ha_oidc_flows (state_hash, sealed, expires_at) VALUES ($1, $2, now() + make_interval(secs => $3))', [key, sealed, ttlMs / 1000]);
      return true;
    });
  }

  async take(key: string): Promise<Buffer | undefined> {
    const { rows } = await this.pool.query<{ sealed: Buffer; live: boolean }>(
      'DELETE FROM ha_oidc_flows WHERE state_hash = $1 RETURNING sealed, expires_at >= now() AS live',
      [key],
    );
    return rows[0]?.live ? rows[0].sealed : undefined;
  }

  /** The leader's sweep; returns how many expired flows went. */
  async sweep(): Promise<number> {
    const r = await this.pool.query('DELETE FROM ha_oidc_flows WHERE expires_at < now()');
    return r.rowCount ?? 0;
  }
}
