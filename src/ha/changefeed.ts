// Receives the changes other instances commit: LISTEN on one channel for the triggers'
// notifications, and read ha_changes from the last applied sequence number whenever the
// notifications may have missed something (a gap, a reconnect, or every few seconds).
//
// Sequence numbers come from a PostgreSQL sequence, so a gap is either a transaction
// that has not committed yet or one that rolled back. A gap is read again until it is
// filled or `holeTimeoutMs` has passed, after which it counts as rolled back.

import pg from 'pg';

export const CHANGES_CHANNEL = 'switchboard_changes';

export interface Change {
  seq: number;
  /** Writer's instance id; '' for writes made outside an instance's store. */
  instance: string;
  /** The table the change was made to. */
  kind: string;
  /** The row's id (key for settings). */
  ref: string;
}

export interface ChangeFeedOptions {
  connection: pg.ClientConfig;
  /** Gets every change once (own ones too: the caller decides), in batches. */
  apply(changes: Change[]): Promise<void>;
  /** The changelog was pruned past what this instance applied: everything must be re-read. */
  resync(): Promise<void>;
  log(msg: string): void;
  holeTimeoutMs?: number;
  /** Safety-net read of the changelog, for a notification lost without a disconnect. */
  pollMs?: number;
  reconnectMs?: number;
}

const BATCH = 5000;

export class ChangeFeed {
  private client: pg.Client | null = null;
  /** Every change up to and including this sequence is applied or given up on. */
  private watermark = 0;
  /** Applied changes above the watermark (there is a gap below them). */
  private readonly above = new Set<number>();
  /** When each missing sequence number was first noticed. */
  private readonly missingSince = new Map<number, number>();
  private queue: Change[] = [];
  private working: Promise<void> | null = null;
  private wantCatchUp = false;
  private started = false;
  private closed = false;
  private pollTimer: NodeJS.Timeout | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private readonly holeTimeoutMs: number;
  private readonly pollMs: number;
  private readonly reconnectMs: number;

  constructor(private readonly opts: ChangeFeedOptions) {
    this.holeTimeoutMs = opts.holeTimeoutMs ?? 5000;
    this.pollMs = opts.pollMs ?? 2000;
    this.reconnectMs = opts.reconnectMs ?? 1000;
  }

  /** The last sequence number applied with none missing below it. */
  get applied(): number {
    return this.watermark;
  }

  /**
   * Listens before the caller loads the tailnet, and places the watermark a little before
   * the changelog's end: changes that commit during the load are applied again (harmless:
   * applying re-reads rows), none is missed. Nothing is applied until `begin()`.
   */
  async listen(): Promise<void> {
    await this.connect();
    const { rows } = await this.client!.query<{ w: string | null }>(
      `SELECT coalesce((SELECT min(seq) - 1 FROM ha_changes WHERE created_at > now() - interval '10 seconds'),
                       (SELECT max(seq) FROM ha_changes),
                       pg_sequence_last_value(pg_get_serial_sequence('ha_changes', 'seq')::regclass), 0) AS w`,
    );
    this.watermark = Number(rows[0]?.w ?? 0);
  }

  /** Starts applying: what queued up since `listen()`, then everything that follows. */
  begin(): void {
    this.started = true;
    this.pollTimer = setInterval(() => this.kick(true), this.pollMs);
    this.pollTimer.unref();
    this.kick(true);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    await this.working?.catch(() => {});
    const c = this.client;
    this.client = null;
    await c?.end().catch(() => {});
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ ...this.opts.connection, application_name: 'switchboard changefeed' });
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client, new Error('connection closed')));
    client.on('notification', (n) => {
      if (n.channel !== CHANGES_CHANNEL || !n.payload) return;
      const c = parsePayload(n.payload);
      if (!c) {
        this.opts.log(`ha: ignoring a malformed change notification`);
        return;
      }
      this.queue.push(c);
      this.kick(false);
    });
    await client.connect();
    try {
      await client.query(`LISTEN ${CHANGES_CHANNEL}`);
    } catch (err) {
      await client.end().catch(() => {});
      throw err;
    }
    this.client = client;
  }

  private lost(client: pg.Client, err: Error): void {
    if (this.client !== client || this.closed) return;
    this.client = null;
    client.end().catch(() => {});
    this.opts.log(`ha: change feed connection lost (${err.message}); reconnecting`);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer) return;
    this.reconnectTimer = setTimeout(async () => {
      this.reconnectTimer = null;
      try {
        await this.connect();
        this.opts.log('ha: change feed reconnected; catching up');
        this.kick(true);
      } catch (err) {
        this.opts.log(`ha: change feed cannot reconnect yet: ${(err as Error).message}`);
        this.scheduleReconnect();
      }
    }, this.reconnectMs);
    this.reconnectTimer.unref();
  }

  /** Runs one worker at a time; `catchUp` also reads the changelog from the watermark. */
  private kick(catchUp: boolean): void {
    if (catchUp) this.wantCatchUp = true;
    if (!this.started || this.closed || this.working) return;
    this.working = this.work()
      .catch((err: Error) => this.opts.log(`ha: applying changes from other instances failed, retrying: ${err.message}`))
      .finally(() => {
        this.working = null;
        if (this.queue.length > 0) this.kick(false);
      });
  }

  private async work(): Promise<void> {
    while (this.queue.length > 0 || this.wantCatchUp) {
      if (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        await this.take(batch);
      }
      if (this.wantCatchUp) {
        this.wantCatchUp = false;
        await this.catchUp();
      }
    }
  }

  /** Applies the changes not applied yet, then moves the watermark over what is done. */
  private async take(changes: Change[]): Promise<void> {
    const fresh = changes.filter((c) => c.seq > this.watermark && !this.above.has(c.seq));
    if (fresh.length > 0) await this.opts.apply(fresh);
    for (const c of fresh) {
      this.above.add(c.seq);
      this.missingSince.delete(c.seq);
    }
    this.advance();
    if (this.above.size > 0) this.wantCatchUp = true;
  }

  private advance(): void {
    while (this.above.has(this.watermark + 1)) {
      this.above.delete(this.watermark + 1);
      this.watermark++;
    }
  }

  private async catchUp(): Promise<void> {
    const client = this.client;
    if (!client) return;
    const { rows: [bounds] } = await client.query<{ lo: string | null }>('SELECT min(seq) AS lo FROM ha_changes');
    const lowest = bounds?.lo === null || bounds?.lo === undefined ? null : Number(bounds.lo);
    if (lowest !== null && lowest > this.watermark + 1 && !this.above.has(lowest - 1)) {
      // Pruned past us (an instance cut off for longer than the changelog is kept).
      this.opts.log(`ha: changes ${this.watermark + 1}..${lowest - 1} were pruned before this instance read them; re-reading the tailnet`);
      await this.opts.resync();
      this.watermark = lowest - 1;
      this.above.clear();
      this.missingSince.clear();
    }
    // Pages move on from the last row read, not the watermark: an open gap must not stall them.
    let from = this.watermark;
    for (;;) {
      const { rows } = await client.query<{ seq: string; instance: string; kind: string; ref: string }>(
        'SELECT seq, instance, kind, ref FROM ha_changes WHERE seq > $1 ORDER BY seq LIMIT $2',
        [from, BATCH],
      );
      const changes = rows.map((r) => ({ seq: Number(r.seq), instance: r.instance, kind: r.kind, ref: r.ref }));
      let top = changes.length > 0 ? changes[changes.length - 1]!.seq : from;
      if (changes.length === 0) for (const s of this.above) if (s > top) top = s;
      this.giveUpOnOldGaps(new Set(changes.map((c) => c.seq)), top);
      await this.take(changes);
      if (rows.length < BATCH) break;
      from = top;
    }
    // Gaps still open are looked at again on the next poll; no busy loop here.
    this.wantCatchUp = false;
  }

  /** Sequence numbers below `top` that are still absent count as rolled back after the timeout. */
  private giveUpOnOldGaps(present: Set<number>, top: number): void {
    const now = Date.now();
    for (let s = this.watermark + 1; s < top; s++) {
      if (present.has(s) || this.above.has(s)) continue;
      const since = this.missingSince.get(s);
      if (since === undefined) this.missingSince.set(s, now);
      else if (now - since >= this.holeTimeoutMs) {
        this.missingSince.delete(s);
        this.above.add(s);
      }
    }
  }
}

function parsePayload(text: string): Change | null {
  try {
    const v = JSON.parse(text) as { i?: unknown; s?: unknown; k?: unknown; r?: unknown };
    if (typeof v.i !== 'string' || typeof v.s !== 'number' || typeof v.k !== 'string' || typeof v.r !== 'string') return null;
    return { instance: v.i, seq: v.s, kind: v.k, ref: v.r };
  } catch {
    return null;
  }
}
