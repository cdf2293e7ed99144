// Web logins waiting for a decision, shared by every instance on one PostgreSQL database:
// the ha_pending_registrations table is the truth. The instance the client reached writes
// the entry; any instance may decide it (a conditional UPDATE, so once); the one holding
// the client's follow-up learns of it through the change feed (cluster.ts calls changed())
// and answers at once. Times are the database's (now()), so instances' clocks need not agree.

import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import {
  newAuthId,
  PendingFull,
  PendingIdTaken,
  type PendingBook,
  type PendingInput,
  type PendingRegistration,
  type Verdict,
  type WaitResult,
} from '../auth/pending.js';
import type { Hostinfo } from '../tailcfg/types.js';
import { Waiters } from '../util/waiters.js';
import { lockedTransaction } from './locked-tx.js';

/** "sbpr": serializes begin() across instances, so the cap counts every instance's entries. */
export const PENDING_LOCK_KEY = 0x73627072;

/** How long an instance writing an approved node holds the entry; a crash frees it after this. */
const CLAIM_LEASE_S = 30;

export interface SharedPendingOptions {
  pool: pg.Pool;
  ttlMs: number;
  maxEntries: number;
  log(msg: string): void;
  /**
   * Resolves once this instance has applied every change committed so far. An approval
   * read from the database may be ahead of the node it names in this instance's memory.
   */
  caughtUp?(): Promise<void>;
}

interface Row {
  id: string;
  machine_key: string;
  node_key: string;
  hostinfo: string | null;
  hostname: string;
  ephemeral: boolean;
  requested_expiry: Date | null;
  created_at: Date;
  expires_at: Date;
  verdict: string | null;
  node_id: number | null;
  reason: string | null;
}

const COLUMNS = 'id, machine_key, node_key, hostinfo, hostname, ephemeral, requested_expiry, created_at, expires_at, verdict, node_id, reason';

export class SharedPendingRegistrations implements PendingBook {
  private readonly waiters = new Waiters<WaitResult>();
  private counted = 0;
  private closed = false;

  constructor(private readonly opts: SharedPendingOptions) {}

  get ttlMs(): number {
    return this.opts.ttlMs;
  }

  get undecided(): number {
    return this.counted;
  }

  get waiting(): number {
    return this.waiters.size;
  }

  async begin(input: PendingInput, chosenId?: string): Promise<PendingRegistration> {
    const { entry, added } = await lockedTransaction(this.opts.pool, PENDING_LOCK_KEY, async (c) => {
      // Expired entries go here too (lazily), not only in the leader's sweep.
      await c.query('DELETE FROM ha_pending_registrations WHERE expires_at <= now()');
      if (chosenId !== undefined) {
        const taken = await c.query('SELECT 1 FROM ha_pending_registrations WHERE id = $1', [chosenId]);
        if (taken.rowCount) throw new PendingIdTaken(chosenId);
      }
      const values = [input.nodeKey, input.hostinfo ? JSON.stringify(input.hostinfo) : null, input.hostname, input.ephemeral, input.requestedExpiry, this.opts.ttlMs / 1000];
      // One entry per machine: an undecided one is refreshed, a decided one makes room.
      const refreshed = await c.query<Row>(
        `UPDATE ha_pending_registrations SET node_key = $2, hostinfo = $3, hostname = $4, ephemeral = $5, requested_expiry = $6,
           expires_at = now() + make_interval(secs => $7)
         WHERE machine_key = $1 AND verdict IS NULL RETURNING ${COLUMNS}`,
        [input.machineKey, ...values],
      );
      if (refreshed.rows[0]) return { entry: fromRow(refreshed.rows[0]), added: false };
      await c.query('DELETE FROM ha_pending_registrations WHERE machine_key = $1', [input.machineKey]);
      const { rows: [count] } = await c.query<{ n: string }>('SELECT count(*) AS n FROM ha_pending_registrations WHERE verdict IS NULL');
      this.counted = Number(count?.n ?? 0);
      if (this.counted >= this.opts.maxEntries) throw new PendingFull(this.opts.maxEntries);
      const { rows } = await c.query<Row>(
        `INSERT INTO ha_pending_registrations (id, machine_key, node_key, hostinfo, hostname, ephemeral, requested_expiry, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, now() + make_interval(secs => $8)) RETURNING ${COLUMNS}`,
        [chosenId ?? newAuthId(), input.machineKey, ...values],
      );
      return { entry: fromRow(rows[0]!), added: true };
    });
    if (added) this.counted++;
    return entry;
  }

  async get(id: string): Promise<PendingRegistration | undefined> {
    const { rows } = await this.opts.pool.query<Row>(`SELECT ${COLUMNS} FROM ha_pending_registrations WHERE id = $1 AND expires_at > now()`, [id]);
    const e = rows[0] ? fromRow(rows[0]) : undefined;
    // The node was written before the approval: once caught up, it is in memory here.
    if (e?.verdict?.kind === 'approved') await this.opts.caughtUp?.();
    return e;
  }

  async list(): Promise<PendingRegistration[]> {
    const { rows } = await this.opts.pool.query<Row>(
      `SELECT ${COLUMNS} FROM ha_pending_registrations WHERE verdict IS NULL AND expires_at > now() ORDER BY created_at, id`,
    );
    this.counted = rows.length;
    return rows.map(fromRow);
  }

  async claim(id: string): Promise<string | null> {
    const token = randomBytes(12).toString('hex');
    const r = await this.opts.pool.query(
      `UPDATE ha_pending_registrations SET claim_token = $2, claimed_until = now() + make_interval(secs => $3)
       WHERE id = $1 AND verdict IS NULL AND expires_at > now() AND (claim_token IS NULL OR claimed_until < now())`,
      [id, token, CLAIM_LEASE_S],
    );
    return r.rowCount ? token : null;
  }

  async release(id: string, token: string): Promise<void> {
    await this.opts.pool.query('UPDATE ha_pending_registrations SET claim_token = NULL, claimed_until = NULL WHERE id = $1 AND claim_token = $2', [id, token]);
  }

  async decide(id: string, verdict: Verdict, token?: string): Promise<boolean> {
    const held = token === undefined ? '(claim_token IS NULL OR claimed_until < now())' : 'claim_token = $5';
    const r = await this.opts.pool.query(
      `UPDATE ha_pending_registrations SET verdict = $2, node_id = $3, reason = $4, claim_token = NULL, claimed_until = NULL
       WHERE id = $1 AND verdict IS NULL AND expires_at > now() AND ${held}`,
      [id, verdict.kind, verdict.kind === 'approved' ? verdict.nodeId : null, verdict.kind === 'rejected' ? verdict.reason : null, ...(token === undefined ? [] : [token])],
    );
    if (!r.rowCount) return false;
    // This instance's own follow-ups need not wait for the change feed.
    this.wake(id, verdict);
    return true;
  }

  /** Resolves when the entry is decided (here or elsewhere), expires, or `signal` aborts. */
  async wait(id: string, signal?: AbortSignal): Promise<WaitResult> {
    if (this.closed) return { kind: 'closed' };
    if (signal?.aborted) return { kind: 'aborted' };
    let resolve!: (r: WaitResult) => void;
    const result = new Promise<WaitResult>((r) => (resolve = r));
    let timer: NodeJS.Timeout | undefined;
    // Listening first, then reading: a decision made in between is not missed.
    const w = this.waiters.add(id, resolve, { signal, aborted: { kind: 'aborted' }, cleanup: () => clearTimeout(timer) });
    const look = async () => {
      if (!w.active) return;
      let e: PendingRegistration | undefined;
      try {
        e = await this.get(id);
      } catch (err) {
        // The database is unreachable for a moment: look again shortly.
        this.opts.log(`ha: cannot read web login ${id}: ${(err as Error).message}`);
        timer = setTimeout(() => void look(), 1000);
        timer.unref();
        return;
      }
      if (!w.active) return;
      if (!e) return w.done({ kind: 'expired' });
      if (e.verdict) return w.done(e.verdict);
      // The entry's own expiry ends the wait; begin() may have pushed it out, so look again then.
      clearTimeout(timer);
      timer = setTimeout(() => void look(), Math.max(250, e.expiresAt.getTime() - Date.now() + 1));
      timer.unref();
    };
    await look();
    return result;
  }

  /**
   * Entries another instance changed (from the change feed): answer whoever waits on them.
   * Runs inside the feed's apply, after that batch's nodes, so it must not wait for the feed.
   */
  async changed(ids: string[]): Promise<void> {
    const watched = ids.filter((id) => this.waiters.has(id));
    if (watched.length === 0) return;
    const { rows } = await this.opts.pool.query<Row>(`SELECT ${COLUMNS} FROM ha_pending_registrations WHERE id = ANY($1::text[]) AND expires_at > now()`, [watched]);
    const live = new Map(rows.map((r) => [r.id, fromRow(r)]));
    for (const id of watched) {
      const e = live.get(id);
      if (!e) this.wake(id, { kind: 'expired' });
      else if (e.verdict) this.wake(id, e.verdict);
    }
  }

  /** Every entry waited on here (after the change feed lost track). */
  recheck(): Promise<void> {
    return this.changed(this.waiters.keys());
  }

  /** The leader's sweep; returns how many expired entries went. */
  async sweep(): Promise<number> {
    const r = await this.opts.pool.query('DELETE FROM ha_pending_registrations WHERE expires_at <= now()');
    return r.rowCount ?? 0;
  }

  /** Counts the undecided entries of every instance again (for `undecided`, every heartbeat). */
  async recount(): Promise<void> {
    const { rows: [count] } = await this.opts.pool.query<{ n: string }>(
      'SELECT count(*) AS n FROM ha_pending_registrations WHERE verdict IS NULL AND expires_at > now()',
    );
    this.counted = Number(count?.n ?? 0);
  }

  /** Ends the waits here; the entries stay in the database for the client's next try. */
  close(): void {
    this.closed = true;
    this.waiters.wakeAll({ kind: 'closed' });
  }

  private wake(id: string, r: WaitResult): void {
    this.waiters.wake(id, r);
  }
}

function fromRow(r: Row): PendingRegistration {
  let hostinfo: Hostinfo | null = null;
  if (r.hostinfo !== null) {
    try {
      hostinfo = JSON.parse(r.hostinfo) as Hostinfo;
    } catch {
      hostinfo = null; // written by us as JSON; unreadable means someone edited it
    }
  }
  const verdict: Verdict | null =
    r.verdict === 'approved' ? { kind: 'approved', nodeId: r.node_id ?? 0 } : r.verdict === 'rejected' ? { kind: 'rejected', reason: r.reason ?? '' } : null;
  return {
    id: r.id,
    machineKey: r.machine_key,
    nodeKey: r.node_key,
    hostinfo,
    hostname: r.hostname,
    ephemeral: r.ephemeral,
    requestedExpiry: r.requested_expiry,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    verdict,
  };
}
