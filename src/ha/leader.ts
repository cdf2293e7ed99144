// One elected instance runs the background jobs: the one holding a PostgreSQL session
// advisory lock on its own connection. The lock goes with the session, so when the leader
// dies (or its connection does) the database frees it and the next try elsewhere wins.

import pg from 'pg';

/** "sbha" in ASCII: distinct from the migration runner's key. */
export const LEADER_LOCK_KEY = 0x73626861;

export interface LeaderOptions {
  connection: pg.ClientConfig;
  /** How often a follower tries to take the lock. */
  tryEveryMs: number;
  onChange(leader: boolean): void;
  log(msg: string): void;
}

export class LeaderElection {
  private client: pg.Client | null = null;
  private timer: NodeJS.Timeout | null = null;
  private leading = false;
  private trying = false;
  private closed = false;

  constructor(private readonly opts: LeaderOptions) {}

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    this.timer = setInterval(() => void this.attempt(), this.opts.tryEveryMs);
    this.timer.unref();
    void this.attempt();
  }

  /** Tries once now (also what the timer does); a leader checks its connection instead. */
  async attempt(): Promise<void> {
    if (this.closed || this.trying) return;
    if (this.leading) return this.check();
    this.trying = true;
    try {
      if (!this.client) {
        // keepAlive and the query timeout find a connection that hangs without closing.
        const c = new pg.Client({ ...this.opts.connection, keepAlive: true, query_timeout: Math.max(1000, this.opts.tryEveryMs * 2), application_name: 'switchboard leader' });
        c.on('error', (err) => this.lost(c, err));
        c.on('end', () => this.lost(c, new Error('connection closed')));
        await c.connect();
        this.client = c;
      }
      const { rows } = await this.client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [LEADER_LOCK_KEY]);
      if (rows[0]?.ok && !this.closed) this.set(true);
    } catch (err) {
      this.opts.log(`ha: leader election: ${(err as Error).message}`);
      const c = this.client;
      this.client = null;
      await c?.end().catch(() => {});
    } finally {
      this.trying = false;
    }
  }

  /**
   * The lock is only as good as the session holding it: a leader whose connection stops
   * answering steps down (the database frees the lock when it drops the session).
   */
  private async check(): Promise<void> {
    const c = this.client;
    if (!c) return;
    this.trying = true;
    try {
      await c.query('SELECT 1');
    } catch (err) {
      this.lost(c, err as Error);
    } finally {
      this.trying = false;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    const c = this.client;
    this.client = null;
    this.set(false);
    // Ending the session releases the lock; unlock first so a survivor need not wait for the close.
    await c?.query('SELECT pg_advisory_unlock($1)', [LEADER_LOCK_KEY]).catch(() => {});
    await c?.end().catch(() => {});
  }

  private lost(c: pg.Client, err: Error): void {
    if (this.client !== c) return;
    this.client = null;
    c.end().catch(() => {});
    if (this.leading) this.opts.log(`ha: lost the leader lock's connection (${err.message}); no longer leader`);
    this.set(false);
  }

  private set(leader: boolean): void {
    if (leader === this.leading) return;
    this.leading = leader;
    this.opts.onChange(leader);
  }
}
