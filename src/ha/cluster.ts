// Several `switchboard serve` processes on one PostgreSQL database: this instance's part.
// It applies the changes the others commit (changefeed.ts) to the in-memory tailnet,
// records which nodes it streams to under a heartbeat, and takes part in the election of
// the instance that runs background jobs (leader.ts). The leader also removes instances
// whose heartbeat went stale, which announces their nodes offline to everyone. Web logins
// waiting for a decision (pending.ts) and OIDC sign-ins in progress (oidc-flows.ts) live in
// the database too; the feed tells the waiting instance of a decision made elsewhere.

import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Store } from '../db/store.js';
import type { Tailnet } from '../state/tailnet.js';
import type { DERPMap, NodeID } from '../tailcfg/types.js';
import { KeyedLock } from '../util/keyedlock.js';
import { ChangeFeed, type Change } from './changefeed.js';
import { LeaderElection } from './leader.js';
import { SharedOidcFlows } from './oidc-flows.js';
import { SharedPendingRegistrations } from './pending.js';

export interface ClusterOptions {
  /** Where the database is (the store's own pool settings). */
  connection: pg.PoolConfig;
  instanceId: string;
  heartbeatMs: number;
  /** An instance silent for longer is taken for dead. */
  instanceTimeoutMs: number;
  /** How long ha_changes rows are kept. */
  changelogRetentionMs?: number;
  log(msg: string): void;
  /** Counts changes made by other instances as they are applied here (metrics). */
  onApplied?(count: number): void;
}

export interface ClusterParts {
  tailnet: Tailnet;
  store: Store;
  /** A setting changed on another instance (the policy in database mode). */
  settingChanged(key: string): Promise<void>;
  /** API keys changed on another instance. */
  apiKeysChanged(): Promise<void>;
}

/** Where the leader publishes the DERP map it refreshed. */
export const DERP_MAP_SETTING = 'ha_derp_map';

/** An id for this process that is safe inside a connection's `-c name=value` option. */
export function newInstanceId(): string {
  const host = hostname().replace(/[^A-Za-z0-9.-]/g, '').slice(0, 40) || 'host';
  return `${host}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

export class Cluster {
  private readonly pool: pg.Pool;
  /** Logins' own connections: a flood of them must not hold up the heartbeat. */
  private readonly loginPool: pg.Pool;
  private pending: SharedPendingRegistrations | null = null;
  private flows: SharedOidcFlows | null = null;
  readonly feed: ChangeFeed;
  private readonly leader: LeaderElection;
  private parts: ClusterParts | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private readonly streamLocks = new KeyedLock();
  private readonly leaderListeners = new Set<(leader: boolean) => void>();
  private closed = false;

  private constructor(private readonly opts: ClusterOptions) {
    // Its own few connections: the store's pool may be busy, and these writes carry no
    // instance id (so every instance, this one too, applies what they cause).
    this.pool = new pg.Pool({ ...opts.connection, max: 3 });
    this.pool.on('error', (err) => opts.log(`ha: idle connection failed: ${err.message}`));
    this.loginPool = new pg.Pool({ ...opts.connection, max: 3 });
    this.loginPool.on('error', (err) => opts.log(`ha: idle connection failed: ${err.message}`));
    this.feed = new ChangeFeed({
      connection: opts.connection,
      apply: (c) => this.apply(c),
      resync: () => this.resync(),
      log: opts.log,
      holeTimeoutMs: Math.max(2000, opts.heartbeatMs * 2),
      pollMs: opts.heartbeatMs,
    });
    this.leader = new LeaderElection({
      connection: opts.connection,
      tryEveryMs: opts.heartbeatMs,
      log: opts.log,
      onChange: (leader) => {
        opts.log(leader ? `ha: instance ${opts.instanceId} is now the leader (runs background jobs)` : `ha: instance ${opts.instanceId} is no longer the leader`);
        for (const l of this.leaderListeners) l(leader);
      },
    });
  }

  get instanceId(): string {
    return this.opts.instanceId;
  }

  get isLeader(): boolean {
    return this.leader.isLeader;
  }

  /** Web logins waiting for a decision, shared with the other instances (made once). */
  pendingRegistrations(opts: { ttlMs: number; maxEntries: number }): SharedPendingRegistrations {
    this.pending ??= new SharedPendingRegistrations({ pool: this.loginPool, ...opts, log: this.opts.log, caughtUp: () => this.caughtUp() });
    return this.pending;
  }

  /** OIDC sign-ins in progress, shared with the other instances. */
  oidcFlows(): SharedOidcFlows {
    this.flows ??= new SharedOidcFlows(this.loginPool);
    return this.flows;
  }

  /**
   * Resolves once the change feed has applied everything committed before this call (or
   * after `timeoutMs`, or at close): what this instance reads from memory is then at least
   * as new as what it just read from the database.
   */
  async caughtUp(timeoutMs = 5000): Promise<void> {
    const { rows } = await this.pool.query<{ s: string }>('SELECT coalesce(max(seq), 0) AS s FROM ha_changes');
    const target = Number(rows[0]?.s ?? 0);
    const end = Date.now() + timeoutMs;
    while (this.feed.applied < target && !this.closed && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  }

  onLeaderChange(listener: (leader: boolean) => void): () => void {
    this.leaderListeners.add(listener);
    return () => this.leaderListeners.delete(listener);
  }

  /** Registers the instance and starts listening; call before the tailnet is loaded. */
  static async join(opts: ClusterOptions): Promise<Cluster> {
    const c = new Cluster(opts);
    try {
      await c.pool.query('INSERT INTO ha_instances (id) VALUES ($1) ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()', [opts.instanceId]);
      await c.feed.listen();
    } catch (err) {
      await c.close();
      throw new Error(`ha: cannot join the other instances on this database: ${(err as Error).message}`, { cause: err });
    }
    return c;
  }

  /** Starts applying changes, recording streams, the heartbeat and the election. */
  attach(parts: ClusterParts): void {
    this.parts = parts;
    parts.tailnet.setStreamRecorder((id, open) => this.recordStream(id, open));
    this.feed.begin();
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), this.opts.heartbeatMs);
    this.heartbeatTimer.unref();
    this.leader.start();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.parts?.tailnet.setStreamRecorder(null);
    await this.feed.close();
    await this.leader.close();
    // A clean stop tells the others at once; a crash is found by the heartbeat timeout.
    await this.pool.query('DELETE FROM ha_instances WHERE id = $1', [this.opts.instanceId]).catch(() => {});
    await this.pool.end().catch(() => {});
    await this.loginPool.end().catch(() => {});
  }

  /** The leader shares the DERP map it refreshed; the others take it from the setting. */
  async publishDerpMap(map: DERPMap): Promise<void> {
    await this.parts?.store.putSetting(DERP_MAP_SETTING, JSON.stringify(map));
  }

  /** The DERP map the leader published last, or null (none yet, or not readable). */
  async readDerpMap(): Promise<DERPMap | null> {
    const text = await this.parts?.store.getSetting(DERP_MAP_SETTING);
    if (!text) return null;
    try {
      return JSON.parse(text) as DERPMap;
    } catch (err) {
      this.opts.log(`ha: the DERP map in setting ${DERP_MAP_SETTING} is not JSON: ${(err as Error).message}`);
      return null;
    }
  }

  private recordStream(id: NodeID, open: boolean): void {
    void this.streamLocks.run(String(id), async () => {
      if (this.closed) return;
      try {
        if (open) {
          // Also re-run when the client's capability version changes, to share the new one.
          await this.pool.query(
            `INSERT INTO ha_streams (node_id, instance, cap) VALUES ($1, $2, $3)
             ON CONFLICT (node_id, instance) DO UPDATE SET cap = EXCLUDED.cap WHERE ha_streams.cap <> EXCLUDED.cap`,
            [id, this.opts.instanceId, this.parts?.tailnet.capVersion(id) ?? 0],
          );
        } else {
          await this.pool.query('DELETE FROM ha_streams WHERE node_id = $1 AND instance = $2', [id, this.opts.instanceId]);
        }
      } catch (err) {
        // A node deleted meanwhile has no stream to record; anything else is repaired by the heartbeat.
        this.opts.log(`ha: could not record the stream of node ${id}: ${(err as Error).message}`);
      }
    });
  }

  private async heartbeat(): Promise<void> {
    if (this.closed) return;
    try {
      const r = await this.pool.query('UPDATE ha_instances SET heartbeat_at = now() WHERE id = $1', [this.opts.instanceId]);
      if (r.rowCount === 0) await this.rejoin();
      if (this.leader.isLeader) await this.leaderDuties();
      await this.pending?.recount();
    } catch (err) {
      this.opts.log(`ha: heartbeat failed: ${(err as Error).message}`);
    }
  }

  /** Another instance took this one for dead (a long pause): come back with its streams. */
  private async rejoin(): Promise<void> {
    this.opts.log(`ha: instance ${this.opts.instanceId} was timed out by the leader; registering again`);
    await this.pool.query('INSERT INTO ha_instances (id) VALUES ($1) ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()', [this.opts.instanceId]);
    for (const id of this.parts?.tailnet.locallyStreamed() ?? []) this.recordStream(id, true);
  }

  private async leaderDuties(): Promise<void> {
    const dead = await this.pool.query<{ id: string }>(
      `DELETE FROM ha_instances WHERE heartbeat_at < now() - make_interval(secs => $1) RETURNING id`,
      [this.opts.instanceTimeoutMs / 1000],
    );
    for (const r of dead.rows) this.opts.log(`ha: instance ${r.id} stopped sending heartbeats; its nodes are offline until they reconnect`);
    await this.pool.query(`DELETE FROM ha_changes WHERE created_at < now() - make_interval(secs => $1)`, [
      (this.opts.changelogRetentionMs ?? 600_000) / 1000,
    ]);
    await this.pending?.sweep();
    await this.flows?.sweep();
  }

  /** Applies a batch of changes: re-reads the rows they name, then the stream counts. */
  private async apply(changes: Change[]): Promise<void> {
    const parts = this.parts;
    if (!parts) return;
    const users = new Set<number>();
    const nodes = new Set<number>();
    const keys = new Set<number>();
    const streams = new Set<number>();
    const settings = new Set<string>();
    const logins = new Set<string>();
    let apiKeys = false;
    for (const c of changes) {
      // Own writes are in memory already; stream rows are written without an instance id.
      if (c.instance === this.opts.instanceId) continue;
      const id = Number(c.ref);
      switch (c.kind) {
        case 'users':
          users.add(id);
          break;
        case 'nodes':
          nodes.add(id);
          break;
        case 'pre_auth_keys':
          keys.add(id);
          break;
        case 'ha_streams':
          streams.add(id);
          break;
        case 'settings':
          settings.add(c.ref);
          break;
        case 'api_keys':
          apiKeys = true;
          break;
        case 'ha_pending_registrations':
          logins.add(c.ref);
          break;
      }
    }
    const foreign = changes.filter((c) => c.instance !== this.opts.instanceId).length;
    if (foreign > 0) this.opts.onApplied?.(foreign);
    if (users.size + nodes.size + keys.size > 0) {
      const ids = { users: [...users], nodes: [...nodes], preAuthKeys: [...keys] };
      await parts.tailnet.applyRemote(ids, await parts.store.loadSome(ids));
    }
    if (streams.size > 0) await this.applyStreams([...streams]);
    for (const key of settings) await parts.settingChanged(key);
    if (apiKeys) await parts.apiKeysChanged();
    // After the nodes: an approval's node is in memory before its waiting client is answered.
    if (logins.size > 0) await this.pending?.changed([...logins]);
  }

  private async applyStreams(ids: number[]): Promise<void> {
    const { rows } = await this.pool.query<{ node_id: number; n: string; cap: number }>(
      'SELECT node_id, count(*) AS n, max(cap) AS cap FROM ha_streams WHERE node_id = ANY($1::int[]) AND instance <> $2 GROUP BY node_id',
      [ids, this.opts.instanceId],
    );
    const byNode = new Map(rows.map((r) => [r.node_id, r]));
    for (const id of ids) {
      const r = byNode.get(id);
      this.parts?.tailnet.setRemoteStreams(id, r ? Number(r.n) : 0, r?.cap ?? 0);
    }
  }

  /** Re-reads every record and stream (after the changelog was pruned past this instance). */
  private async resync(): Promise<void> {
    const parts = this.parts;
    if (!parts) return;
    const snap = await parts.store.loadAll();
    const ids = {
      users: [...new Set([...snap.users.map((u) => u.id), ...[...parts.tailnet.allUsers()].map((u) => u.id)])],
      nodes: [...new Set([...snap.nodes.map((n) => n.id), ...[...parts.tailnet.allNodes()].map((n) => n.id)])],
      preAuthKeys: [...new Set([...snap.preAuthKeys.map((k) => k.id), ...parts.tailnet.listPreAuthKeys().map((k) => k.id)])],
    };
    await parts.tailnet.applyRemote(ids, snap);
    await this.applyStreams(ids.nodes);
    await parts.settingChanged('policy');
    await parts.apiKeysChanged();
    await this.pending?.recheck();
  }
}
