// The relay proper (derper's Server): which connection holds which node key, routing of
// packets between them, peer-gone notices, duplicate connections of one key, and the
// counters behind the metrics. Transport-agnostic: accept() takes any byte stream (a
// hijacked HTTP socket or a WebSocket), already past its HTTP upgrade.

import type { Duplex } from 'node:stream';
import { relayKeyFromPrivate, type RelayKey } from './box.js';
import { ClientConn, DEFAULT_LIMITS, type ClientInfo, type ConnHost, type ConnLimits, type DropReason } from './conn.js';
import { PeerGoneReason, looksLikeDisco, peerGoneFrame, recvPacketFrame, serverKeyFrame } from './frames.js';
import type { DerpStats } from './stats.js';

export interface RelayOptions {
  privateKey: Uint8Array;
  /** Admission (derp.server.verify_clients): null admits the node key (raw), a string refuses it. */
  verifyClient?: (nodeKey: Buffer, info: ClientInfo) => string | null;
  limits?: Partial<ConnLimits>;
  stats: DerpStats;
  log: { info(m: string): void; debug(m: string): void };
}

/** The connections of one node key; the active one receives its packets (derper's lastWriterIsActive). */
interface ClientSet {
  conns: ClientConn[];
  active: ClientConn;
}

/** derper answers a disco packet for an absent peer with "not here" at most 3 times, then once a second. */
const PEER_GONE_BURST = 3;
const PEER_GONE_EVERY_MS = 1_000;

export class DerpRelay implements ConnHost {
  readonly key: RelayKey;
  readonly limits: ConnLimits;
  private readonly clients = new Map<string, ClientSet>();
  /** Everything not yet closed, logged in or not. */
  private readonly conns = new Set<ClientConn>();
  /** For each source key: the connections that received packets from it. */
  private readonly watchers = new Map<string, Set<ClientConn>>();
  private readonly notHereBudget = new WeakMap<ClientConn, { tokens: number; at: number }>();
  private readonly serverKeyFrame: Buffer;
  private refusedLogged = 0;
  private refusedQuiet = 0;
  private closing = false;

  constructor(private readonly opts: RelayOptions) {
    this.key = relayKeyFromPrivate(opts.privateKey);
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.serverKeyFrame = serverKeyFrame(this.key.publicKey);
  }

  get privateKey(): Uint8Array {
    return this.key.privateKey;
  }

  get publicKey(): Buffer {
    return this.key.publicKey;
  }

  /** Connections past client info. */
  get clientCount(): number {
    let n = 0;
    for (const s of this.clients.values()) n += s.conns.length;
    return n;
  }

  /** Clients that said this relay is their home (note preferred). */
  get homeClientCount(): number {
    let n = 0;
    for (const s of this.clients.values()) for (const c of s.conns) if (c.preferred) n++;
    return n;
  }

  /** Serves a stream past its HTTP upgrade: `preamble` (e.g. the 101) goes out before the server key, `head` holds early client bytes. */
  accept(stream: Duplex, remoteAddress: string, preamble: Buffer = Buffer.alloc(0), head: Buffer = Buffer.alloc(0)): void {
    if (this.closing) {
      stream.destroy();
      return;
    }
    const c = new ClientConn(this, stream, remoteAddress);
    this.conns.add(c);
    c.start(preamble.length > 0 ? Buffer.concat([preamble, this.serverKeyFrame]) : this.serverKeyFrame, head);
  }

  /**
   * Runs admission again for every logged-in client and disconnects those it now refuses
   * (a node deleted, its key rotated away or expired). Returns how many were closed.
   */
  revalidate(): number {
    const verify = this.opts.verifyClient;
    if (!verify) return 0;
    const gone: ClientConn[] = [];
    for (const set of this.clients.values()) for (const c of set.conns) if (verify(c.key, c.info) !== null) gone.push(c);
    for (const c of gone) {
      this.opts.log.info(`derp: disconnected client ${shortKey(c.key)}: no longer admitted`);
      c.close(new Error('no longer admitted'));
    }
    return gone.length;
  }

  close(): void {
    this.closing = true;
    for (const c of [...this.conns]) c.close(new Error('relay shutting down'));
  }

  admit(conn: ClientConn, info: ClientInfo): string | null {
    const why = this.opts.verifyClient?.(conn.key, info) ?? null;
    if (why !== null) {
      conn.refused = true;
      this.opts.stats.refused('not_admitted');
      this.logRefusal(conn, why);
      return why;
    }
    let set = this.clients.get(conn.id);
    if (!set) {
      set = { conns: [conn], active: conn };
      this.clients.set(conn.id, set);
    } else {
      set.conns.push(conn);
      set.active = conn;
    }
    this.opts.stats.accepted();
    return null;
  }

  route(from: ClientConn, dst: Buffer, packet: Buffer): void {
    const stats = this.opts.stats;
    stats.received(packet.length);
    const set = this.clients.get(dst.toString('latin1'));
    const disco = looksLikeDisco(packet);
    if (!set) {
      if (disco && this.allowNotHere(from)) from.sendControl(peerGoneFrame(dst, PeerGoneReason.NotHere));
      this.dropped('unknown_dest', packet);
      return;
    }
    const to = set.active;
    if (!to.sawSrc.has(from.id)) {
      to.sawSrc.add(from.id);
      let w = this.watchers.get(from.id);
      if (!w) this.watchers.set(from.id, (w = new Set()));
      w.add(to);
    }
    to.sendPacket(recvPacketFrame(from.key, packet), packet.length, disco);
  }

  noteActivity(conn: ClientConn): void {
    const set = this.clients.get(conn.id);
    if (set && set.conns.length > 1 && set.active !== conn && conn.isOpen) set.active = conn;
  }

  notePreferred(): void {}

  dropped(reason: DropReason, packet: Buffer): void {
    this.opts.stats.dropped(reason, looksLikeDisco(packet) ? 'disco' : 'other', packet.length);
  }

  relayed(bytes: number): void {
    this.opts.stats.relayed(bytes);
  }

  closed(conn: ClientConn, err: Error | null): void {
    this.conns.delete(conn);
    const set = conn.id ? this.clients.get(conn.id) : undefined;
    const registered = set?.conns.includes(conn) ?? false;
    if (!registered) {
      // Never logged in: refused (counted in admit), or a protocol error or timeout.
      if (!conn.refused) {
        this.opts.stats.refused('protocol');
        this.opts.log.debug(`derp: connection from ${conn.remoteAddress} closed before login: ${err?.message ?? 'closed'}`);
      }
      return;
    }
    this.opts.stats.disconnected();
    if (err && !this.closing) this.opts.log.debug(`derp: client ${shortKey(conn.key)} from ${conn.remoteAddress}: ${err.message}`);
    for (const src of conn.sawSrc) {
      const w = this.watchers.get(src);
      w?.delete(conn);
      if (w?.size === 0) this.watchers.delete(src);
    }
    set!.conns = set!.conns.filter((c) => c !== conn);
    if (set!.conns.length > 0) {
      if (set!.active === conn) set!.active = set!.conns[set!.conns.length - 1]!;
      return;
    }
    this.clients.delete(conn.id);
    // Tell everyone who heard from this key that it is gone, so they drop the reverse path.
    const w = this.watchers.get(conn.id);
    this.watchers.delete(conn.id);
    if (w && !this.closing) {
      const f = peerGoneFrame(conn.key, PeerGoneReason.Disconnected);
      for (const c of w) {
        c.sawSrc.delete(conn.id);
        c.sendControl(f);
      }
    }
  }

  private allowNotHere(c: ClientConn): boolean {
    const now = Date.now();
    let b = this.notHereBudget.get(c);
    if (!b) this.notHereBudget.set(c, (b = { tokens: PEER_GONE_BURST, at: now }));
    b.tokens = Math.min(PEER_GONE_BURST, b.tokens + (now - b.at) / PEER_GONE_EVERY_MS);
    b.at = now;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** One line per refusal, at most 5 per 10 s, then a count: a flood must not flood the log. */
  private logRefusal(conn: ClientConn, why: string): void {
    if (this.refusedLogged < 5) {
      if (this.refusedLogged++ === 0) {
        setTimeout(() => {
          if (this.refusedQuiet > 0) this.opts.log.info(`derp: refused ${this.refusedQuiet} more connections in the last 10 s`);
          this.refusedLogged = this.refusedQuiet = 0;
        }, 10_000).unref();
      }
      this.opts.log.info(`derp: refused client ${shortKey(conn.key)} from ${conn.remoteAddress}: ${why}`);
    } else this.refusedQuiet++;
  }
}

/** nodekey:<first 8 hex digits>, enough to find the node in logs. */
export function shortKey(raw: Buffer): string {
  return `nodekey:${raw.subarray(0, 4).toString('hex')}`;
}
