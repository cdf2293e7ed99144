// The tailnet in memory: users, nodes and pre-auth keys, loaded from the store at
// start and written through on every change. Map building reads only this.
// Every mutation writes the database first and updates memory only when that
// succeeded, so a failed write leaves no half-applied state.

import type { NewNode, Store } from '../db/store.js';
import type { NodeID } from '../tailcfg/types.js';
import { AdminError, type AdminService, type CreatedPreAuthKey, type NodeView } from './admin.js';
import type { EventListener, NodePatch, TailnetEvent } from './events.js';
import { AddressPool, type Allocation } from './ipalloc.js';
import type { NodeRecord, PreAuthKeyRecord, TailnetSnapshot, UserRecord } from './model.js';
import { hashSecret, isLegacyHash, newSecret, plaintextKeyPrefix, secretMatches, secretPrefix } from './secrets.js';
import { KeyedLock } from '../util/keyedlock.js';
import { StoreError } from '../db/errors.js';
import { remoteNodeEvent } from './remote.js';
import { validateUserName, validateTag } from './names.js';
import { isValidLabel, sanitizeHostname } from '../dns/names.js';

export const PREAUTH_KEY_KIND = 'hskey-auth';

/**
 * Longest a lazily written node report (updateNodeSoon) waits for the database. Other
 * instances on the same PostgreSQL learn it once written, so this is their extra delay.
 */
export const LAZY_WRITE_MS = 20;
/** How long a node's coming online may wait to reach its peers, batched with others (ms). */
export const ONLINE_LINGER_MS = 250;

/** Unique node columns the tailnet fills in itself, so a clash with another instance is retried. */
const ALLOCATED_COLUMNS = new Set(['nodes.ipv4', 'nodes.ipv6', 'nodes.given_name']);

export interface TailnetOptions {
  prefixV4: string | null;
  prefixV6: string | null;
  allocation: Allocation;
  log?: (msg: string) => void;
}

export type PreAuthKeyCheck =
  | { ok: true; key: PreAuthKeyRecord }
  | { ok: false; error: string };

/** What a new node needs beyond what the tailnet fills in itself. */
export type NodeRegistration = Omit<NewNode, 'ipv4' | 'ipv6' | 'givenName'> & { givenName?: string };

export class Tailnet implements AdminService {
  private readonly users = new Map<number, UserRecord>();
  private readonly nodes = new Map<NodeID, NodeRecord>();
  private readonly keys = new Map<number, PreAuthKeyRecord>();
  private readonly keyIdsByPrefix = new Map<string, number>();
  private readonly nodesByMachineKey = new Map<string, NodeRecord>();
  private readonly nodesByNodeKey = new Map<string, NodeRecord>();
  private readonly givenNames = new Set<string>();
  private readonly nodeLocks = new KeyedLock();
  /** Open map streams per node: a node is online while it has at least one. */
  private readonly streams = new Map<NodeID, number>();
  /** Other instances streaming to a node (several instances on one PostgreSQL). */
  private readonly remoteStreams = new Map<NodeID, number>();
  /** Capability versions of nodes that stream from other instances only. */
  private readonly remoteCaps = new Map<NodeID, number>();
  /** Told when this instance's first stream to a node opens (true) or its last closes (false). */
  private streamRecorder: ((id: NodeID, open: boolean) => void) | null = null;
  /** During shutdown: nodes whose last stream closed, written in one batch by flushLastSeen. */
  private lastSeenAtShutdown: NodeID[] | null = null;
  /** Node changes applied in memory by updateNodeSoon and not yet written. */
  private readonly unwritten = new Map<NodeID, Partial<NewNode>>();
  private unwrittenTimer: NodeJS.Timeout | null = null;
  /** Capability version each node last spoke; not persisted, every client re-sends it on connect. */
  private readonly caps = new Map<NodeID, number>();
  private readonly listeners = new Set<EventListener>();
  private readonly observers = new Set<(event: TailnetEvent) => void>();
  private pending: TailnetEvent[] = [];
  private flushScheduled = false;
  /** Events held back for ONLINE_LINGER_MS (a stream came up), and the nodes they concern. */
  private lingering: TailnetEvent[] = [];
  private readonly lingeringNodes = new Set<NodeID>();
  private lingerTimer: NodeJS.Timeout | null = null;
  private lingerSince = 0;
  private readonly v4: AddressPool | null;
  private readonly v6: AddressPool | null;
  private readonly log: (msg: string) => void;

  private constructor(
    private readonly store: Store,
    opts: TailnetOptions,
  ) {
    this.v4 = opts.prefixV4 ? new AddressPool(opts.prefixV4, opts.allocation) : null;
    this.v6 = opts.prefixV6 ? new AddressPool(opts.prefixV6, opts.allocation) : null;
    this.log = opts.log ?? (() => {});
  }

  static async load(store: Store, opts: TailnetOptions): Promise<Tailnet> {
    const t = new Tailnet(store, opts);
    const snap = await store.loadAll();
    for (const u of snap.users) t.users.set(u.id, u);
    for (const k of snap.preAuthKeys) t.putKey(k);
    for (const n of snap.nodes) t.indexNode(n);
    return t;
  }

  // ---- events ----

  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Sees every event synchronously, as the change happens: for derived state (the
   * compiled policy) that must never lag behind the tailnet it is derived from.
   */
  observe(observer: (event: TailnetEvent) => void): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  /** Queues an event; listeners get all events of one turn of the event loop together. */
  emit(event: TailnetEvent): void {
    for (const o of this.observers) o(event);
    // A held-back event about the same node goes first, so each node's events keep their order.
    if ('nodeId' in event && this.lingeringNodes.has(event.nodeId)) this.releaseLingering();
    this.pending.push(event);
    this.scheduleFlush();
  }

  /**
   * Like emit, but listeners get the event up to ONLINE_LINGER_MS later, with the others of
   * that window. For a node coming online: after a restart thousands do within seconds, and
   * each turn's handful would be one more small delta to every peer; a window makes that a
   * few large ones. Peers learning of a new stream a moment later costs nothing.
   */
  private emitLingering(event: TailnetEvent & { nodeId: NodeID }): void {
    for (const o of this.observers) o(event);
    this.lingering.push(event);
    this.lingeringNodes.add(event.nodeId);
    if (this.lingerTimer) return;
    this.lingerSince = performance.now();
    this.lingerTimer = setTimeout(() => this.releaseLingering(), ONLINE_LINGER_MS);
    this.lingerTimer.unref();
  }

  private releaseLingering(): void {
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.lingerTimer = null;
    if (this.lingering.length === 0) return;
    for (const e of this.lingering) this.pending.push(e);
    this.lingering = [];
    this.lingeringNodes.clear();
    this.scheduleFlush(this.lingerSince);
  }

  /** `eventAt`: when the change happened, so map streams can report how long it took to reach clients. */
  private scheduleFlush(eventAt = performance.now()): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      const batch = this.pending;
      this.pending = [];
      for (const l of this.listeners) {
        try {
          l(batch, eventAt);
        } catch (err) {
          this.log(`event listener failed: ${(err as Error).message}`);
        }
      }
    });
  }

  // ---- reads ----

  user(id: number): UserRecord | undefined {
    return this.users.get(id);
  }
  userByName(name: string): UserRecord | undefined {
    for (const u of this.users.values()) if (u.name === name) return u;
    return undefined;
  }
  allUsers(): IterableIterator<UserRecord> {
    return this.users.values();
  }
  node(id: NodeID): NodeRecord | undefined {
    return this.nodes.get(id);
  }
  nodeByMachineKey(mkey: string): NodeRecord | undefined {
    return this.nodesByMachineKey.get(mkey);
  }
  nodeByNodeKey(nkey: string): NodeRecord | undefined {
    return this.nodesByNodeKey.get(nkey);
  }
  allNodes(): IterableIterator<NodeRecord> {
    return this.nodes.values();
  }
  nodeCount(): number {
    return this.nodes.size;
  }
  preAuthKey(id: number): PreAuthKeyRecord | undefined {
    return this.keys.get(id);
  }
  isOnline(id: NodeID): boolean {
    return (this.streams.get(id) ?? 0) > 0 || (this.remoteStreams.get(id) ?? 0) > 0;
  }
  capVersion(id: NodeID): number {
    return this.caps.get(id) ?? this.remoteCaps.get(id) ?? 0;
  }

  /** Records the capability version a node's client speaks; peers learn it as a patch. */
  setCapVersion(id: NodeID, version: number): void {
    if (!this.nodes.has(id) || this.caps.get(id) === version) return;
    const first = !this.caps.has(id);
    this.caps.set(id, version);
    // The other instances learn it from this instance's stream record.
    if ((this.streams.get(id) ?? 0) > 0) this.streamRecorder?.(id, true);
    // Learnt for the first time (every node's first map request after a start): it travels
    // with that node's coming online, batched like it; a client's upgrade goes out at once.
    const event = { kind: 'nodePatched', nodeId: id, patch: { cap: true } } as const;
    if (first) this.emitLingering(event);
    else this.emit(event);
  }

  // ---- node lifecycle used by the control protocol ----

  /** Checks a pre-auth key as a client presented it; never reveals which part failed beyond what helps the admin. */
  checkPreAuthKey(token: string, now = new Date()): PreAuthKeyCheck {
    // A token without our shape may be a plaintext key imported from headscale.
    const prefix = secretPrefix(PREAUTH_KEY_KIND, token) ?? (token.startsWith(`${PREAUTH_KEY_KIND}-`) ? null : plaintextKeyPrefix(token));
    const id = prefix ? this.keyIdsByPrefix.get(prefix) : undefined;
    const candidate = id !== undefined ? this.keys.get(id) : undefined;
    if (!candidate || !secretMatches(token, candidate.keyHash)) {
      return { ok: false, error: 'invalid pre-auth key: not known to this server' };
    }
    if (isLegacyHash(candidate.keyHash)) this.restoreKeyHash(candidate, hashSecret(token));
    if (candidate.expiration && candidate.expiration.getTime() <= now.getTime()) {
      return { ok: false, error: 'pre-auth key expired' };
    }
    if (!candidate.reusable && candidate.used) {
      return { ok: false, error: 'pre-auth key has already been used' };
    }
    return { ok: true, key: candidate };
  }

  /** Replaces a hash kept from headscale (slow bcrypt) by ours once the key proved itself; best effort. */
  private restoreKeyHash(key: PreAuthKeyRecord, hash: string): void {
    this.keys.set(key.id, { ...key, keyHash: hash });
    this.store.updatePreAuthKey(key.id, { keyHash: hash }).then(
      (updated) => {
        if (this.keys.has(updated.id)) this.keys.set(updated.id, { ...this.keys.get(updated.id)!, keyHash: updated.keyHash });
      },
      (err: unknown) => this.log(`pre-auth key ${key.prefix}: re-storing its imported hash failed: ${String(err)}`),
    );
  }

  /** Marks a single-use key used; false when another registration won the race. */
  async claimPreAuthKey(key: PreAuthKeyRecord): Promise<boolean> {
    if (key.reusable) {
      if (!key.used) {
        const updated = await this.store.updatePreAuthKey(key.id, { used: true });
        this.keys.set(key.id, updated);
      }
      return true;
    }
    const won = await this.store.claimPreAuthKey(key.id);
    if (won) this.keys.set(key.id, { ...key, used: true });
    return won;
  }

  /** Undoes a claim whose registration failed afterwards. */
  async releasePreAuthKey(id: number): Promise<void> {
    const updated = await this.store.updatePreAuthKey(id, { used: false });
    this.keys.set(id, updated);
  }

  /**
   * Creates a node with fresh addresses and a unique given name. Another instance on the
   * same database may have taken the same address or name a moment ago (its change not
   * seen here yet): the unique constraint refuses the insert and the next free one is tried.
   */
  async addNode(reg: NodeRegistration): Promise<NodeRecord> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.addNodeOnce(reg);
      } catch (err) {
        const field = err instanceof StoreError && err.code === 'conflict' ? err.field : undefined;
        if (attempt >= 20 || !field || !ALLOCATED_COLUMNS.has(field)) throw err;
        this.log(`registration of ${JSON.stringify(reg.hostname)}: ${field} was taken by another instance; trying the next one`);
      }
    }
  }

  private async addNodeOnce(reg: NodeRegistration): Promise<NodeRecord> {
    const ipv4 = this.v4 ? this.v4.allocate() : null;
    let ipv6: string | null = null;
    let givenName: string | null = null;
    try {
      ipv6 = this.v6 ? this.v6.allocate() : null;
      // Reserved before the write so concurrent registrations never pick the same name.
      givenName = this.uniqueGivenName(reg.givenName ?? reg.hostname);
      this.givenNames.add(givenName);
      const created = await this.store.createNode({ ...reg, givenName, ipv4, ipv6 });
      this.indexNode(created);
      this.emit({ kind: 'nodeAdded', nodeId: created.id });
      return created;
    } catch (err) {
      // What another instance holds stays marked taken here, so the retry moves past it.
      const field = err instanceof StoreError && err.code === 'conflict' ? err.field : undefined;
      if (ipv4 && field !== 'nodes.ipv4') this.v4!.release(ipv4);
      if (ipv6 && field !== 'nodes.ipv6') this.v6!.release(ipv6);
      if (givenName && field !== 'nodes.given_name') this.givenNames.delete(givenName);
      throw err;
    }
  }

  /**
   * Writes a change to a node. `patch` names the fields that changed when they fit
   * a PeerChange; otherwise peers get the whole node again.
   */
  updateNode(id: NodeID, changes: Partial<NewNode>, patch?: NodePatch): Promise<NodeRecord> {
    // Writes to one node are serialized so memory ends as the database does, and a write
    // that was queued behind the node's removal finds it gone instead of reviving it.
    return this.nodeLocks.run(String(id), async () => {
      const before = this.nodes.get(id);
      if (!before) throw new AdminError(404, `node ${id} not found`);
      const after = await this.writeNode(id, changes);
      this.unindexNode(before);
      this.indexNode(after);
      this.emit(patch ? { kind: 'nodePatched', nodeId: id, patch } : { kind: 'nodeChanged', nodeId: id });
      return after;
    });
  }

  /**
   * What a client reports about itself (endpoints, disco key, Hostinfo): applied in memory and
   * told to peers at once, written within LAZY_WRITE_MS, coalesced per node with any later
   * report, and in the same group commit as the other nodes' reports. A join storm's stream
   * starts then cost no database round trip before their peers hear of them, and the
   * report's patch goes out in the same batch as the stream's "online". Memory stays
   * authoritative for maps; a crash before the write loses only what the client re-sends
   * when it reconnects. Shutdown writes what is pending (flushLastSeen).
   */
  updateNodeSoon(id: NodeID, changes: Partial<NewNode>, patch?: NodePatch): Promise<NodeRecord | undefined> {
    return this.nodeLocks.run(String(id), async () => {
      const before = this.nodes.get(id);
      if (!before) return undefined;
      // updatedAt stays the written row's: applyRemoteNode compares it with rows another
      // instance wrote, and a report not in the database yet must not hide their change.
      const after: NodeRecord = { ...before, ...changes };
      this.unindexNode(before);
      this.indexNode(after);
      this.unwritten.set(id, { ...this.unwritten.get(id), ...changes });
      this.unwrittenTimer ??= setTimeout(() => {
        this.unwrittenTimer = null;
        void this.writeUnwritten();
      }, LAZY_WRITE_MS);
      this.emit(patch ? { kind: 'nodePatched', nodeId: id, patch } : { kind: 'nodeChanged', nodeId: id });
      return after;
    });
  }

  /** Writes the reports updateNodeSoon kept, one node lock each (the store commits them together). */
  private async writeUnwritten(): Promise<void> {
    if (this.unwrittenTimer) clearTimeout(this.unwrittenTimer);
    this.unwrittenTimer = null;
    const ids = [...this.unwritten.keys()];
    await Promise.all(
      ids.map((id) =>
        this.nodeLocks.run(String(id), async () => {
          const changes = this.unwritten.get(id);
          if (!changes) return; // a write-through took it along meanwhile
          this.unwritten.delete(id);
          try {
            await this.store.updateNode(id, changes);
          } catch (err) {
            // Deleted meanwhile: nothing to record. Otherwise memory keeps the report, and the
            // client sends it again on its next connection.
            if (!(err instanceof StoreError && err.code === 'not_found')) this.log(`could not write what node ${id} reported: ${(err as Error).message}`);
          }
        }),
      ),
    );
  }

  /** A write-through of a node (under its lock) that carries along its unwritten report, so the row read back has it. */
  private async writeNode(id: NodeID, changes: Partial<NewNode>): Promise<NodeRecord> {
    const pending = this.unwritten.get(id);
    const after = await this.store.updateNode(id, pending ? { ...pending, ...changes } : changes);
    if (pending) this.unwritten.delete(id);
    return after;
  }

  /**
   * Replaces a node's Hostinfo in memory only, telling no one. For reports whose only
   * change is DERP latencies: every client re-sends them every few minutes, so storing
   * each would cost one database write per node per report at scale, for data no peer
   * sees. A later write of the node or a restart may bring back the stored copy until
   * the client reports again.
   */
  replaceHostinfoInMemory(id: NodeID, hostinfo: NodeRecord['hostinfo']): Promise<NodeRecord | undefined> {
    return this.nodeLocks.run(String(id), async () => {
      const before = this.nodes.get(id);
      if (!before) return undefined;
      const after: NodeRecord = { ...before, hostinfo };
      this.unindexNode(before);
      this.indexNode(after);
      return after;
    });
  }

  removeNode(id: NodeID): Promise<void> {
    return this.nodeLocks.run(String(id), () => this.removeNodeNow(id));
  }

  private async removeNodeNow(id: NodeID): Promise<void> {
    const n = this.nodes.get(id);
    if (!n) throw new AdminError(404, `node ${id} not found`);
    await this.store.deleteNode(id);
    this.unwritten.delete(id);
    this.unindexNode(n);
    if (n.ipv4) this.v4?.release(n.ipv4);
    if (n.ipv6) this.v6?.release(n.ipv6);
    this.streams.delete(id);
    this.remoteStreams.delete(id);
    this.remoteCaps.delete(id);
    this.caps.delete(id);
    this.emit({ kind: 'nodeRemoved', nodeId: id });
  }

  // ---- changes made by other instances on the same database ----

  /** Receives this instance's stream openings and closings, to record them for the others. */
  setStreamRecorder(recorder: ((id: NodeID, open: boolean) => void) | null): void {
    this.streamRecorder = recorder;
  }

  /**
   * Brings memory in line with records another instance changed: `ids` are the records
   * named by its changes, `fresh` what the database holds for them now (a named id that is
   * missing was deleted). Emits the same events a local change would have.
   */
  async applyRemote(ids: { users: number[]; nodes: number[]; preAuthKeys: number[] }, fresh: TailnetSnapshot): Promise<void> {
    const users = new Map(fresh.users.map((u) => [u.id, u]));
    for (const id of ids.users) {
      const now = users.get(id);
      const before = this.users.get(id);
      if (now) {
        if (before && before.updatedAt.getTime() > now.updatedAt.getTime()) continue;
        this.users.set(id, now);
      } else if (before) {
        this.users.delete(id);
      } else continue;
      this.emit({ kind: 'userChanged', userId: id });
    }
    const keys = new Map(fresh.preAuthKeys.map((k) => [k.id, k]));
    for (const id of ids.preAuthKeys) {
      const now = keys.get(id);
      const before = this.keys.get(id);
      if (before) this.keyIdsByPrefix.delete(before.prefix);
      this.keys.delete(id);
      if (now) this.putKey(now);
    }
    const nodes = new Map(fresh.nodes.map((n) => [n.id, n]));
    await Promise.all(ids.nodes.map((id) => this.nodeLocks.run(String(id), async () => this.applyRemoteNode(id, nodes.get(id) ?? null))));
  }

  private applyRemoteNode(id: NodeID, read: NodeRecord | null): void {
    const before = this.nodes.get(id);
    // What this node reported here and is not written yet is newer than the row read.
    const pending = this.unwritten.get(id);
    const now = read && pending ? { ...read, ...pending } : read;
    // A local write that finished after the read is newer than what was read.
    if (before && now && before.updatedAt.getTime() > now.updatedAt.getTime()) return;
    if (!before && !now) return;
    const event = remoteNodeEvent(before, now);
    if (before) {
      this.unindexNode(before);
      if (before.ipv4 && before.ipv4 !== now?.ipv4) this.v4?.release(before.ipv4);
      if (before.ipv6 && before.ipv6 !== now?.ipv6) this.v6?.release(before.ipv6);
    }
    if (now) this.indexNode(now);
    else {
      this.streams.delete(id);
      this.remoteStreams.delete(id);
      this.remoteCaps.delete(id);
      this.caps.delete(id);
    }
    if (event) this.emit(event);
  }

  /**
   * How many other instances stream to the node now, and the capability version its client
   * told them; peers learn a change of either.
   */
  setRemoteStreams(id: NodeID, count: number, cap = 0): void {
    if (!this.nodes.has(id)) return;
    const wasOnline = this.isOnline(id);
    const capBefore = this.capVersion(id);
    if (count > 0) this.remoteStreams.set(id, count);
    else this.remoteStreams.delete(id);
    if (count > 0 && cap > 0) this.remoteCaps.set(id, cap);
    const online = this.isOnline(id);
    const patch: NodePatch = {};
    if (online !== wasOnline) Object.assign(patch, online ? { online: true } : { online: true, lastSeen: true });
    if (this.capVersion(id) !== capBefore) patch.cap = true;
    if (Object.keys(patch).length > 0) this.emit({ kind: 'nodePatched', nodeId: id, patch });
  }

  /** Nodes this instance streams to now (to re-record them after a lost heartbeat). */
  locallyStreamed(): NodeID[] {
    return [...this.streams.keys()];
  }

  /** A map stream for the node opened. Returns a function to call when it closes. */
  streamOpened(id: NodeID): () => void {
    const wasOnline = this.isOnline(id);
    const count = (this.streams.get(id) ?? 0) + 1;
    this.streams.set(id, count);
    if (count === 1) {
      this.streamRecorder?.(id, true);
      if (!wasOnline) this.emitLingering({ kind: 'nodePatched', nodeId: id, patch: { online: true } });
    }
    let closed = false;
    return () => {
      if (closed) return;
      closed = true;
      const left = (this.streams.get(id) ?? 1) - 1;
      if (left > 0) {
        this.streams.set(id, left);
        return;
      }
      this.streams.delete(id);
      this.streamRecorder?.(id, false);
      if (!this.nodes.has(id)) return;
      if (!this.isOnline(id)) this.emit({ kind: 'nodePatched', nodeId: id, patch: { online: true, lastSeen: true } });
      if (this.lastSeenAtShutdown) {
        this.lastSeenAtShutdown.push(id);
        return;
      }
      // Last-seen is informational: persist it without holding anything up.
      this.updateNode(id, { lastSeen: new Date() }, { lastSeen: true }).catch((err) => {
        // A node deleted meanwhile has no last-seen to record.
        if (!(err instanceof AdminError && err.status === 404)) this.log(`could not record last-seen of node ${id}: ${(err as Error).message}`);
      });
    };
  }

  /**
   * From now on a closing stream's last-seen is collected instead of written one by one:
   * a shutdown closes every stream at once, and 10,000 single writes kept the old process
   * busy for ~25 s while its clients were already reconnecting.
   */
  beginShutdown(): void {
    this.lastSeenAtShutdown ??= [];
  }

  /** Writes the unwritten node reports, then the last-seen collected since beginShutdown, in one batch. */
  async flushLastSeen(): Promise<void> {
    await this.writeUnwritten();
    const ids = this.lastSeenAtShutdown?.splice(0) ?? [];
    if (ids.length === 0) return;
    // Only the database: the process is going away, nothing reads the in-memory records now.
    await this.store.setNodesLastSeen(ids, new Date()).catch((err) => this.log(`could not record last-seen of ${ids.length} nodes: ${(err as Error).message}`));
  }

  // ---- AdminService: users ----

  listUsers(filter?: { id?: number; name?: string; email?: string }): UserRecord[] {
    return [...this.users.values()]
      .filter(
        (u) =>
          (filter?.id === undefined || u.id === filter.id) &&
          (filter?.name === undefined || u.name === filter.name) &&
          (filter?.email === undefined || u.email === filter.email),
      )
      .sort((a, b) => a.id - b.id);
  }

  async createUser(input: {
    name: string;
    displayName?: string;
    email?: string;
    pictureUrl?: string;
    provider?: string;
    providerId?: string;
    oidcGroups?: string[];
  }): Promise<UserRecord> {
    const problem = validateUserName(input.name);
    if (problem) throw new AdminError(400, `invalid user name ${JSON.stringify(input.name)}: ${problem}`);
    if (this.userByName(input.name)) throw new AdminError(409, `user ${JSON.stringify(input.name)} already exists`);
    const u = await this.store.createUser({
      name: input.name,
      displayName: input.displayName ?? '',
      email: input.email ?? '',
      providerId: input.providerId ?? '',
      provider: input.provider ?? '',
      profilePicUrl: input.pictureUrl ?? '',
      oidcGroups: input.oidcGroups ?? [],
    });
    this.users.set(u.id, u);
    this.emit({ kind: 'userChanged', userId: u.id });
    return u;
  }

  /** An OIDC login refreshes what the provider says about the user (headscale does too). */
  async updateUserProfile(id: number, p: { displayName: string; email: string; profilePicUrl: string; oidcGroups: string[] }): Promise<UserRecord> {
    const u = this.requireUser(id);
    const sameGroups = u.oidcGroups.length === p.oidcGroups.length && u.oidcGroups.every((g, i) => g === p.oidcGroups[i]);
    if (u.displayName === p.displayName && u.email === p.email && u.profilePicUrl === p.profilePicUrl && sameGroups) return u;
    const updated = await this.store.updateUser(id, p);
    this.users.set(id, updated);
    this.emit({ kind: 'userChanged', userId: id });
    return updated;
  }

  async renameUser(id: number, newName: string): Promise<UserRecord> {
    const u = this.requireUser(id);
    const problem = validateUserName(newName);
    if (problem) throw new AdminError(400, `invalid user name ${JSON.stringify(newName)}: ${problem}`);
    const clash = this.userByName(newName);
    if (clash && clash.id !== id) throw new AdminError(409, `user ${JSON.stringify(newName)} already exists`);
    const updated = await this.store.updateUser(u.id, { name: newName });
    this.users.set(id, updated);
    this.emit({ kind: 'userChanged', userId: id });
    return updated;
  }

  async deleteUser(id: number): Promise<void> {
    const u = this.requireUser(id);
    const owned = [...this.nodes.values()].filter((n) => n.userId === id).length;
    if (owned > 0) {
      throw new AdminError(409, `user ${JSON.stringify(u.name)} still owns ${owned} node(s); delete or move them first`);
    }
    await this.store.deleteUser(id);
    this.users.delete(id);
    for (const k of [...this.keys.values()]) {
      if (k.userId === id) {
        this.keys.delete(k.id);
        this.keyIdsByPrefix.delete(k.prefix);
      }
    }
    this.emit({ kind: 'userChanged', userId: id });
  }

  // ---- AdminService: pre-auth keys ----

  listPreAuthKeys(userId?: number): PreAuthKeyRecord[] {
    return [...this.keys.values()].filter((k) => userId === undefined || k.userId === userId).sort((a, b) => a.id - b.id);
  }

  async createPreAuthKey(input: {
    userId: number | null;
    reusable: boolean;
    ephemeral: boolean;
    expiration: Date | null;
    tags: string[];
  }): Promise<CreatedPreAuthKey> {
    if (input.userId !== null) this.requireUser(input.userId);
    if (input.userId === null && input.tags.length === 0) {
      throw new AdminError(400, 'a pre-auth key needs a user or at least one tag');
    }
    for (const t of input.tags) {
      const problem = validateTag(t);
      if (problem) throw new AdminError(400, `invalid tag ${JSON.stringify(t)}: ${problem}`);
    }
    if (input.expiration && input.expiration.getTime() <= Date.now()) {
      throw new AdminError(400, 'expiration is in the past');
    }
    const secret = newSecret(PREAUTH_KEY_KIND);
    const record = await this.store.createPreAuthKey({
      prefix: secret.prefix,
      keyHash: secret.hash,
      userId: input.userId,
      reusable: input.reusable,
      ephemeral: input.ephemeral,
      used: false,
      tags: [...new Set(input.tags)].sort(),
      expiration: input.expiration,
    });
    this.putKey(record);
    return { key: secret.token, record };
  }

  async expirePreAuthKey(ref: { id?: number; key?: string; userId?: number }): Promise<PreAuthKeyRecord> {
    const k = this.findKey(ref);
    const updated = await this.store.updatePreAuthKey(k.id, { expiration: new Date() });
    this.keys.set(k.id, updated);
    return updated;
  }

  async deletePreAuthKey(ref: { id?: number; key?: string; userId?: number }): Promise<void> {
    const k = this.findKey(ref);
    await this.store.deletePreAuthKey(k.id);
    this.keys.delete(k.id);
    this.keyIdsByPrefix.delete(k.prefix);
  }

  // ---- AdminService: nodes ----

  listNodes(filter?: { userId?: number }): NodeView[] {
    return [...this.nodes.values()]
      .filter((n) => filter?.userId === undefined || n.userId === filter.userId)
      .sort((a, b) => a.id - b.id)
      .map((n) => this.view(n));
  }

  getNode(id: number): NodeView {
    return this.view(this.requireNode(id));
  }

  async deleteNode(id: number): Promise<void> {
    this.requireNode(id);
    await this.removeNode(id);
  }

  async expireNode(id: number, at?: Date): Promise<NodeView> {
    this.requireNode(id);
    const n = await this.updateNode(id, { expiry: at ?? new Date() }, { keyExpiry: true });
    return this.view(n);
  }

  /** The node's key never expires (headscale's `nodes expire --disable`). */
  async disableNodeExpiry(id: number): Promise<NodeView> {
    this.requireNode(id);
    return this.view(await this.updateNode(id, { expiry: null }, { keyExpiry: true }));
  }

  async renameNode(id: number, newName: string): Promise<NodeView> {
    const n = this.requireNode(id);
    const label = newName.toLowerCase();
    if (!isValidLabel(label)) {
      throw new AdminError(400, `invalid node name ${JSON.stringify(newName)}: use letters, digits and '-' (at most 63, not at the ends), e.g. ${JSON.stringify(sanitizeHostname(newName))}`);
    }
    if (label === n.givenName) return this.view(n);
    if (this.givenNames.has(label)) throw new AdminError(409, `node name ${JSON.stringify(label)} is already in use`);
    return this.view(await this.updateNode(id, { givenName: label }));
  }

  async setNodeTags(id: number, tags: string[]): Promise<NodeView> {
    this.requireNode(id);
    for (const t of tags) {
      const problem = validateTag(t);
      if (problem) throw new AdminError(400, `invalid tag ${JSON.stringify(t)}: ${problem}`);
    }
    const clean = [...new Set(tags)].sort();
    // Tagged nodes belong to their tags, not to a user (Tailscale's model).
    return this.view(await this.updateNode(id, { tags: clean }));
  }

  async setApprovedRoutes(id: number, routes: string[]): Promise<NodeView> {
    this.requireNode(id);
    return this.view(await this.updateNode(id, { approvedRoutes: [...new Set(routes)].sort() }));
  }

  async moveNode(id: number, userId: number): Promise<NodeView> {
    this.requireNode(id);
    this.requireUser(userId);
    return this.view(await this.updateNode(id, { userId }));
  }

  /**
   * Brings every node's addresses in line with the configured prefixes (headscale's
   * BackfillNodeIPs): a family with a prefix but no address gets one, an address of a family
   * no longer configured is removed. Returns one line per change, in headscale's wording.
   */
  async backfillNodeIPs(): Promise<string[]> {
    const changes: string[] = [];
    for (const id of [...this.nodes.keys()].sort((a, b) => a - b)) {
      await this.nodeLocks.run(String(id), async () => {
        const n = this.nodes.get(id);
        if (!n) return;
        const patch: { ipv4?: string | null; ipv6?: string | null } = {};
        const lines: string[] = [];
        const fresh: Array<[AddressPool, string]> = [];
        for (const [family, pool, current] of [
          ['IPv4', this.v4, n.ipv4],
          ['IPv6', this.v6, n.ipv6],
        ] as const) {
          const key = family === 'IPv4' ? 'ipv4' : 'ipv6';
          if (pool && !current) {
            const ip = pool.allocate();
            fresh.push([pool, ip]);
            patch[key] = ip;
            lines.push(`assigned ${family} ${JSON.stringify(ip)} to Node(${id}) ${JSON.stringify(n.hostname)}`);
          } else if (!pool && current) {
            patch[key] = null;
            lines.push(`removing ${family} ${JSON.stringify(current)} from Node(${id}) ${JSON.stringify(n.hostname)}`);
          }
        }
        if (lines.length === 0) return;
        let after: NodeRecord;
        try {
          after = await this.writeNode(id, patch);
        } catch (err) {
          for (const [pool, ip] of fresh) pool.release(ip);
          throw err;
        }
        this.unindexNode(n);
        this.indexNode(after);
        this.emit({ kind: 'nodeChanged', nodeId: id });
        changes.push(...lines);
      });
    }
    return changes;
  }

  // ---- internals ----

  private view(n: NodeRecord): NodeView {
    return {
      ...n,
      online: this.isOnline(n.id),
      user: n.userId !== null ? (this.users.get(n.userId) ?? null) : null,
      preAuthKey: n.authKeyId !== null ? (this.keys.get(n.authKeyId) ?? null) : null,
    };
  }

  private requireUser(id: number): UserRecord {
    const u = this.users.get(id);
    if (!u) throw new AdminError(404, `user ${id} not found`);
    return u;
  }

  private requireNode(id: number): NodeRecord {
    const n = this.nodes.get(id);
    if (!n) throw new AdminError(404, `node ${id} not found`);
    return n;
  }

  private findKey(ref: { id?: number; key?: string; userId?: number }): PreAuthKeyRecord {
    let k: PreAuthKeyRecord | undefined;
    if (ref.id !== undefined) k = this.keys.get(ref.id);
    else if (ref.key) {
      const prefix = secretPrefix(PREAUTH_KEY_KIND, ref.key) ?? ref.key;
      const id = this.keyIdsByPrefix.get(prefix);
      k = id !== undefined ? this.keys.get(id) : undefined;
    }
    if (!k || (ref.userId !== undefined && k.userId !== ref.userId)) throw new AdminError(404, 'pre-auth key not found');
    return k;
  }

  private uniqueGivenName(hostname: string): string {
    const base = sanitizeHostname(hostname);
    const taken = (name: string) => this.givenNames.has(name);
    if (!taken(base)) return base;
    for (let i = 2; ; i++) {
      const suffix = `-${i}`;
      const candidate = base.slice(0, 63 - suffix.length) + suffix;
      if (!taken(candidate)) return candidate;
    }
  }

  private putKey(k: PreAuthKeyRecord): void {
    this.keys.set(k.id, k);
    this.keyIdsByPrefix.set(k.prefix, k.id);
  }

  private indexNode(n: NodeRecord): void {
    this.nodes.set(n.id, n);
    this.nodesByMachineKey.set(n.machineKey, n);
    this.nodesByNodeKey.set(n.nodeKey, n);
    this.givenNames.add(n.givenName);
    if (n.ipv4) this.v4?.markUsed(n.ipv4);
    if (n.ipv6) this.v6?.markUsed(n.ipv6);
  }

  private unindexNode(n: NodeRecord): void {
    this.nodes.delete(n.id);
    if (this.nodesByMachineKey.get(n.machineKey) === n) this.nodesByMachineKey.delete(n.machineKey);
    if (this.nodesByNodeKey.get(n.nodeKey) === n) this.nodesByNodeKey.delete(n.nodeKey);
    this.givenNames.delete(n.givenName);
  }
}
