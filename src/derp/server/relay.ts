// The relay proper (derper's Server): which connection holds which node key, routing of
// packets between them, peer-gone notices, duplicate connections of one key, and the
// counters behind the metrics. With a mesh key, the region's other relays (mesh peers) watch
// who is connected here and forward packets to them, and packets for keys a mesh peer holds
// go to it (derper's clientsMesh and PacketForwarder). Transport-agnostic: accept() takes
// any byte stream (a hijacked HTTP socket or a WebSocket), already past its HTTP upgrade.

import type { Duplex } from 'node:stream';
import { relayKeyFromPrivate, type RelayKey } from './box.js';
import { ClientConn, DEFAULT_LIMITS, type ClientInfo, type ConnHost, type ConnLimits, type DropReason } from './conn.js';
import { PeerGoneReason, PeerPresentFlags, looksLikeDisco, peerGoneFrame, peerPresentFrame, recvPacketFrame, serverKeyFrame } from './frames.js';
import type { MeshKey } from './mesh-key.js';
import type { DerpStats } from './stats.js';
import { parseAddress } from '../../util/netaddr.js';
import { RateLimitedLog } from '../../util/ratelog.js';

export interface RelayOptions {
  privateKey: Uint8Array;
  /** Admission (derp.server.verify_clients): null admits the node key (raw), a string refuses it. */
  verifyClient?: (nodeKey: Buffer, info: ClientInfo) => string | null;
  limits?: Partial<ConnLimits>;
  /** derp.server.mesh_key_path: clients presenting it are mesh peers. */
  meshKey?: MeshKey;
  stats: DerpStats;
  log: { info(m: string): void; debug(m: string): void };
}

/** The connections of one node key; the active one receives its packets (derper's lastWriterIsActive). */
interface ClientSet {
  conns: ClientConn[];
  active: ClientConn;
}

/** Where packets for a key held by a mesh peer go: the connection to that peer. */
export interface PacketForwarder {
  /** Sends a packet from src to dst over the mesh link; drops (and counts) when the link is backed up. */
  forwardPacket(src: Buffer, dst: Buffer, packet: Buffer): void;
  readonly name: string;
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
  /** Keys held by mesh peers, and which peers announced them; the first is used (derper's multiForwarder). */
  private readonly forwarders = new Map<string, PacketForwarder[]>();
  /** Mesh peers that sent frameWatchConns: told of every client that comes and goes. */
  private readonly meshWatchers = new Set<ClientConn>();
  private readonly notHereBudget = new WeakMap<ClientConn, { tokens: number; at: number }>();
  private readonly serverKeyFrame: Buffer;
  /** Wrong mesh keys: one line per 10 s, then a count (anyone can send one). */
  private readonly wrongMeshKeyLog: RateLimitedLog;
  private refusedLogged = 0;
  private refusedQuiet = 0;
  private closing = false;

  constructor(private readonly opts: RelayOptions) {
    this.key = relayKeyFromPrivate(opts.privateKey);
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.serverKeyFrame = serverKeyFrame(this.key.publicKey);
    this.wrongMeshKeyLog = new RateLimitedLog((l) => opts.log.info(l), 10_000, (n, sec) => `derp: ${n} more clients presented a wrong mesh key in the last ${sec} s`);
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
    // Mesh peers are relays, never nodes of the tailnet: admission does not apply to them.
    for (const set of this.clients.values()) for (const c of set.conns) if (!c.canMesh && verify(c.key, c.info) !== null) gone.push(c);
    for (const c of gone) {
      this.opts.log.info(`derp: disconnected client ${shortKey(c.key)}: no longer admitted`);
      c.close(new Error('no longer admitted'));
    }
    return gone.length;
  }

  close(): void {
    this.closing = true;
    this.wrongMeshKeyLog.close();
    for (const c of [...this.conns]) c.close(new Error('relay shutting down'));
  }

  /** Keys this relay forwards to mesh peers. */
  get forwardedKeyCount(): number {
    return this.forwarders.size;
  }

  /** Mesh peers watching this relay's connections. */
  get meshWatcherCount(): number {
    return this.meshWatchers.size;
  }

  /** Registers fwd as a way to reach dst (a mesh peer announced dst); a second forwarder is kept as a fallback. */
  addForwarder(dst: Buffer, fwd: PacketForwarder): void {
    const id = dst.toString('latin1');
    const list = this.forwarders.get(id);
    if (!list) this.forwarders.set(id, [fwd]);
    else if (!list.includes(fwd)) list.push(fwd);
  }

  /** Forgets fwd for dst; when nothing here or in the mesh holds dst any more, its correspondents hear peer gone. */
  removeForwarder(dst: Buffer, fwd: PacketForwarder): void {
    const id = dst.toString('latin1');
    const list = this.forwarders.get(id);
    if (!list) return;
    const i = list.indexOf(fwd);
    if (i < 0) return;
    list.splice(i, 1);
    if (list.length > 0) return;
    this.forwarders.delete(id);
    if (!this.clients.has(id)) this.goneFromRegion(id, dst);
  }

  admit(conn: ClientConn, info: ClientInfo): string | null {
    const mesh = this.opts.meshKey;
    if (info.meshKey !== undefined && info.meshKey !== '') {
      if (mesh?.matches(info.meshKey)) conn.canMesh = true;
      // No privileges, and never the key itself in the log.
      else this.wrongMeshKeyLog.log(`derp: client ${shortKey(conn.key)} from ${conn.remoteAddress} presented a mesh key that is not this relay's; treated as a regular client`);
    }
    // Mesh peers are relays, not nodes of the tailnet: admission does not apply (as derper).
    const why = conn.canMesh ? null : (this.opts.verifyClient?.(conn.key, info) ?? null);
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
    if (this.meshWatchers.size > 0) {
      const f = this.presentFrame(conn);
      for (const w of this.meshWatchers) w.sendMeshUpdate(conn.id, f);
    }
    return null;
  }

  watchConns(conn: ClientConn): void {
    // A mesh_with list may name this relay itself; its own client then learns nothing.
    if (conn.key.equals(this.key.publicKey) || this.meshWatchers.has(conn)) return;
    this.meshWatchers.add(conn);
    for (const [id, set] of this.clients) conn.sendMeshUpdate(id, this.presentFrame(set.active));
  }

  closePeer(from: ClientConn, peer: Buffer): void {
    const set = this.clients.get(peer.toString('latin1'));
    if (!set) {
      this.opts.log.debug(`derp: mesh peer ${shortKey(from.key)} asked to close ${shortKey(peer)}, which is not connected`);
      return;
    }
    this.opts.log.info(`derp: mesh peer ${shortKey(from.key)} closed client ${shortKey(peer)} (${set.conns.length} connections)`);
    for (const c of [...set.conns]) c.close(new Error('closed by a mesh peer (frameClosePeer)'));
  }

  forwarded(from: ClientConn, src: Buffer, dst: Buffer, packet: Buffer): void {
    this.opts.stats.forwarded('in', packet.length);
    const set = this.clients.get(dst.toString('latin1'));
    if (!set) {
      // Never forwarded again: a mesh of more than two would loop.
      if (looksLikeDisco(packet) && this.allowNotHere(from)) from.sendControl(peerGoneFrame(dst, PeerGoneReason.NotHere));
      this.dropped('unknown_dest_on_fwd', packet);
      return;
    }
    this.deliver(src, src.toString('latin1'), set, packet);
  }

  route(from: ClientConn, dst: Buffer, packet: Buffer): void {
    const stats = this.opts.stats;
    stats.received(packet.length);
    const id = dst.toString('latin1');
    const set = this.clients.get(id);
    if (!set) {
      const fwd = this.forwarders.get(id)?.[0];
      if (fwd) {
        this.opts.stats.forwarded('out', packet.length);
        fwd.forwardPacket(from.key, dst, packet);
        return;
      }
      if (looksLikeDisco(packet) && this.allowNotHere(from)) from.sendControl(peerGoneFrame(dst, PeerGoneReason.NotHere));
      this.dropped('unknown_dest', packet);
      return;
    }
    this.deliver(from.key, from.id, set, packet);
  }

  /** Hands a packet from src (here or behind a mesh peer) to the active connection of set. */
  private deliver(src: Buffer, srcId: string, set: ClientSet, packet: Buffer): void {
    const to = set.active;
    if (!to.sawSrc.has(srcId)) {
      to.sawSrc.add(srcId);
      let w = this.watchers.get(srcId);
      if (!w) this.watchers.set(srcId, (w = new Set()));
      w.add(to);
    }
    to.sendPacket(recvPacketFrame(src, packet), packet.length, looksLikeDisco(packet));
  }

  private presentFrame(c: ClientConn): Buffer {
    let flags = 0;
    if (c.info.IsProber === true) flags |= PeerPresentFlags.IsProber;
    if (c.canMesh) flags |= PeerPresentFlags.IsMeshPeer;
    if (flags === 0) flags = PeerPresentFlags.IsRegular;
    const { ip16, port } = addressBytes(c.remoteAddress);
    return peerPresentFrame(c.key, ip16, port, flags);
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
    this.meshWatchers.delete(conn);
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
    if (this.closing) return;
    if (this.meshWatchers.size > 0) {
      const f = peerGoneFrame(conn.key, PeerGoneReason.Disconnected);
      for (const m of this.meshWatchers) m.sendMeshUpdate(conn.id, f);
    }
    // Still reachable through a mesh peer (it moved there): its correspondents keep their path.
    if (!this.forwarders.has(conn.id)) this.goneFromRegion(conn.id, conn.key);
  }

  /** Tells everyone who heard from this key that it is gone from the region, so they drop the reverse path. */
  private goneFromRegion(id: string, key: Buffer): void {
    const w = this.watchers.get(id);
    this.watchers.delete(id);
    if (!w || this.closing) return;
    const f = peerGoneFrame(key, PeerGoneReason.Disconnected);
    for (const c of w) {
      c.sawSrc.delete(id);
      c.sendControl(f);
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

const ZERO_IP = Buffer.alloc(16);

/** "ip:port" as derper's peer-present fields: 16 bytes (IPv4 as ::ffff:a.b.c.d) and the port; zeros when unparsable. */
function addressBytes(remote: string): { ip16: Buffer; port: number } {
  const i = remote.lastIndexOf(':');
  const port = Number(remote.slice(i + 1));
  const a = i > 0 ? parseAddress(remote.slice(0, i).replace(/^\[|\]$/g, '')) : null;
  if (!a || !Number.isInteger(port) || port < 0 || port > 0xffff) return { ip16: ZERO_IP, port: 0 };
  const v = a.family === 4 ? (0xffffn << 32n) | a.value : a.value;
  const ip16 = Buffer.alloc(16);
  ip16.writeBigUInt64BE(v >> 64n, 0);
  ip16.writeBigUInt64BE(v & 0xffffffffffffffffn, 8);
  return { ip16, port };
}
