// One client connection to the relay (derper's sclient): the login (server key, sealed
// client info, server info), then frames in both directions. Outbound frames go straight
// to the socket while its buffer is short; beyond that they wait in small bounded queues
// (disco and data apart, as in derper) that drop their oldest packet when full, so a slow
// reader costs the relay a fixed amount of memory, never more.

import type { Duplex } from 'node:stream';
import { open, seal, sharedKey } from './box.js';
import {
  FrameType,
  KEEPALIVE_FRAME,
  KEY_LEN,
  MAX_CLIENT_INFO_LEN,
  MAX_PACKET_SIZE,
  MAX_PING_LEN,
  NONCE_LEN,
  PROTOCOL_VERSION,
  frame,
} from './frames.js';
import { FrameError, FrameReader, type FrameDecision } from './reader.js';

/** What the connection needs from the relay it belongs to. */
export interface ConnHost {
  readonly privateKey: Uint8Array;
  readonly limits: ConnLimits;
  /** null admits the client; a string is why it is refused. */
  admit(conn: ClientConn, info: ClientInfo): string | null;
  /** A packet from conn to the client with key dst (raw 32 bytes). */
  route(conn: ClientConn, dst: Buffer, packet: Buffer): void;
  noteActivity(conn: ClientConn): void;
  notePreferred(conn: ClientConn, preferred: boolean): void;
  dropped(reason: DropReason, packet: Buffer): void;
  /** frameWatchConns from a mesh peer (canMesh already checked). */
  watchConns(conn: ClientConn): void;
  /** frameClosePeer from a mesh peer: disconnect the client with this key (raw). */
  closePeer(conn: ClientConn, peer: Buffer): void;
  /** frameForwardPacket from a mesh peer: a packet from src (a client of the peer) to dst. */
  forwarded(conn: ClientConn, src: Buffer, dst: Buffer, packet: Buffer): void;
  relayed(bytes: number): void;
  closed(conn: ClientConn, err: Error | null): void;
}

export interface ConnLimits {
  /** Time from connecting to a valid client info (derper: 10 s). */
  clientInfoTimeoutMs: number;
  /** How long the socket may stay backed up before the client counts as gone (derper: 2 s). */
  writeTimeoutMs: number;
  /** The same for mesh peers, whose initial flood of peer-present frames can be long (derper: 30 s). */
  meshWriteTimeoutMs: number;
  /** Server keep-alive period (derper: 60 s plus up to 5 s of jitter). */
  keepAliveMs: number;
  /** Packets each queue holds while the socket is backed up (derper: 32). */
  queueDepth: number;
  /** Bytes handed to the socket before further frames wait in the queues. */
  socketBufferBytes: number;
}

export const DEFAULT_LIMITS: ConnLimits = {
  clientInfoTimeoutMs: 10_000,
  writeTimeoutMs: 2_000,
  meshWriteTimeoutMs: 30_000,
  keepAliveMs: 60_000,
  queueDepth: 32,
  socketBufferBytes: 128 << 10,
};

/** derper's drop reasons, used as metric labels. */
export type DropReason = 'unknown_dest' | 'unknown_dest_on_fwd' | 'gone_disconnected' | 'queue_head' | 'write_error' | 'dup_client';

/** The client's sealed info (derp_client.go clientInfo). */
export interface ClientInfo {
  version?: number;
  meshKey?: string;
  CanAckPings?: boolean;
  IsProber?: boolean;
}

type State = 'login' | 'open' | 'closed';

/** Control frames (pongs, peer-gone, keep-alives) are few; this caps a flood of pings. */
const MAX_CONTROL_QUEUE = 64;

export class ClientConn {
  /** The client's node key, raw; empty until client info. */
  key: Buffer = Buffer.alloc(0);
  /** key as a map key (latin1 string of the 32 bytes). */
  id = '';
  info: ClientInfo = {};
  preferred = false;
  /** Set when admission refused the client (so the close is not counted twice). */
  refused = false;
  /** The client presented the relay's mesh key: a mesh peer, allowed the mesh frames. */
  canMesh = false;
  /** Sources this client received packets from: told when they go (peer gone). */
  readonly sawSrc = new Set<string>();
  private state: State = 'login';
  private readonly reader: FrameReader;
  private readonly control: Buffer[] = [];
  private readonly disco: Buffer[] = [];
  private readonly data: Buffer[] = [];
  /** Peer present/gone notices for a watching mesh peer, latest per key: bounded by the clients there are. */
  private readonly meshUpdates = new Map<string, Buffer>();
  private corked = false;
  private waitingDrain = false;
  private writeTimer: NodeJS.Timeout | undefined;
  private loginTimer: NodeJS.Timeout | undefined;
  private keepAliveTimer: NodeJS.Timeout | undefined;
  private shared: Uint8Array | null = null;

  constructor(
    private readonly host: ConnHost,
    private readonly stream: Duplex,
    readonly remoteAddress: string,
  ) {
    this.reader = new FrameReader(
      (t, l) => this.decide(t, l),
      (t, p) => this.onFrame(t, p),
    );
    const lim = host.limits;
    this.loginTimer = setTimeout(() => this.close(new Error(`no client info within ${lim.clientInfoTimeoutMs} ms`)), lim.clientInfoTimeoutMs);
    this.loginTimer.unref();
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('drain', () => this.onDrain());
    stream.on('error', (err) => this.close(err));
    stream.on('close', () => this.close(null));
    stream.on('end', () => this.close(null));
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  /** Frames waiting in this connection's queues (not yet handed to the socket). */
  get queuedPackets(): number {
    return this.data.length + this.disco.length + this.control.length + this.meshUpdates.size;
  }

  /** Writes the login preamble (the 101 response, if any, and the server key frame) and feeds early bytes. */
  start(preamble: Buffer, head: Buffer): void {
    this.stream.write(preamble);
    if (head.length > 0) this.onData(head);
  }

  /** Queues a frameRecvPacket already built; drops the oldest when the queue is full. */
  sendPacket(f: Buffer, packetLen: number, disco: boolean): void {
    if (this.state !== 'open') {
      this.host.dropped('gone_disconnected', f.subarray(f.length - packetLen));
      return;
    }
    if (this.canWrite()) {
      this.write(f);
      this.host.relayed(packetLen);
      return;
    }
    const q = disco ? this.disco : this.data;
    if (q.length >= this.host.limits.queueDepth) {
      const old = q.shift()!;
      this.host.dropped('queue_head', old.subarray(5 + KEY_LEN));
    }
    q.push(f);
  }

  /** Queues a control frame (peer gone, pong, keep-alive). */
  sendControl(f: Buffer): void {
    if (this.state !== 'open') return;
    if (this.canWrite()) this.write(f);
    else if (this.control.length < MAX_CONTROL_QUEUE) this.control.push(f);
  }

  /** Queues a peer present/gone notice for key id; a newer notice for the same key replaces one not yet written. */
  sendMeshUpdate(id: string, f: Buffer): void {
    if (this.state !== 'open') return;
    if (this.meshUpdates.size === 0 && this.canWrite()) {
      this.write(f);
      return;
    }
    this.meshUpdates.delete(id);
    this.meshUpdates.set(id, f);
  }

  close(err: Error | null): void {
    if (this.state === 'closed') return;
    const wasOpen = this.state === 'open';
    this.state = 'closed';
    this.reader.stop();
    clearTimeout(this.loginTimer);
    clearTimeout(this.writeTimer);
    clearTimeout(this.keepAliveTimer);
    for (const f of this.data) this.host.dropped('gone_disconnected', f.subarray(5 + KEY_LEN));
    for (const f of this.disco) this.host.dropped('gone_disconnected', f.subarray(5 + KEY_LEN));
    this.data.length = this.disco.length = this.control.length = 0;
    this.meshUpdates.clear();
    this.stream.destroy();
    this.host.closed(this, wasOpen ? err : (err ?? new Error('closed before client info')));
  }

  private onData(chunk: Buffer): void {
    try {
      this.reader.push(chunk);
    } catch (e) {
      this.close(e instanceof Error ? e : new Error(String(e)));
    }
  }

  /** Size limits by frame type, from the header alone (derper's, see derp_server.go). */
  private decide(type: number, len: number): FrameDecision {
    if (this.state === 'login') {
      if (type !== FrameType.ClientInfo) return { refuse: `expected the client info frame (0x02) first, got frame type 0x${type.toString(16)}` };
      if (len < KEY_LEN + NONCE_LEN) return { refuse: `short client info frame (${len} bytes)` };
      if (len > MAX_CLIENT_INFO_LEN) return { refuse: `client info frame of ${len} bytes is over the limit of ${MAX_CLIENT_INFO_LEN}` };
      return 'read';
    }
    if (this.state === 'closed') return 'skip';
    this.host.noteActivity(this);
    switch (type) {
      case FrameType.SendPacket:
        if (len < KEY_LEN) return { refuse: `short send packet frame (${len} bytes)` };
        if (len - KEY_LEN > MAX_PACKET_SIZE) return { refuse: `send packet frame carries ${len - KEY_LEN} bytes, over the packet limit of ${MAX_PACKET_SIZE}` };
        return 'read';
      case FrameType.NotePreferred:
        if (len !== 1) return { refuse: `note preferred frame of ${len} bytes, want 1` };
        return 'read';
      case FrameType.Ping:
        if (len < 8) return { refuse: `short ping frame (${len} bytes)` };
        if (len > MAX_PING_LEN) return { refuse: `ping frame of ${len} bytes is over the limit of ${MAX_PING_LEN}` };
        return 'read';
      case FrameType.ForwardPacket:
      case FrameType.WatchConns:
      case FrameType.ClosePeer:
        // As derper: a client without the mesh key that tries these is cut off.
        if (!this.canMesh) return { refuse: `frame type 0x${type.toString(16)} is for mesh peers: insufficient permissions (no valid mesh key in client info)` };
        if (type === FrameType.WatchConns && len !== 0) return { refuse: `watch conns frame of ${len} bytes, want 0` };
        if (type === FrameType.ClosePeer && len !== KEY_LEN) return { refuse: `close peer frame of ${len} bytes, want ${KEY_LEN}` };
        if (type === FrameType.ForwardPacket) {
          if (len < 2 * KEY_LEN) return { refuse: `short forward packet frame (${len} bytes)` };
          if (len - 2 * KEY_LEN > MAX_PACKET_SIZE) return { refuse: `forward packet frame carries ${len - 2 * KEY_LEN} bytes, over the packet limit of ${MAX_PACKET_SIZE}` };
        }
        return 'read';
      default:
        // Unknown or client-irrelevant frames (keep-alive, pong): ignored, as derper does.
        return 'skip';
    }
  }

  private onFrame(type: number, payload: Buffer): void {
    if (this.state === 'login') {
      this.login(payload);
      return;
    }
    switch (type) {
      case FrameType.SendPacket:
        this.host.route(this, payload.subarray(0, KEY_LEN), payload.subarray(KEY_LEN));
        return;
      case FrameType.NotePreferred:
        this.preferred = payload[0] !== 0;
        this.host.notePreferred(this, this.preferred);
        return;
      case FrameType.Ping:
        this.sendControl(frame(FrameType.Pong, payload.subarray(0, 8)));
        return;
      case FrameType.ForwardPacket:
        this.host.forwarded(this, payload.subarray(0, KEY_LEN), payload.subarray(KEY_LEN, 2 * KEY_LEN), payload.subarray(2 * KEY_LEN));
        return;
      case FrameType.WatchConns:
        this.host.watchConns(this);
        return;
      case FrameType.ClosePeer:
        this.host.closePeer(this, Buffer.from(payload));
        return;
    }
  }

  private login(payload: Buffer): void {
    const key = Buffer.from(payload.subarray(0, KEY_LEN));
    const shared = sharedKey(this.host.privateKey, key);
    const msg = open(shared, payload.subarray(KEY_LEN));
    if (msg === null) throw new FrameError('client info box does not open with the key it names (forged, corrupt or sealed to another server key)');
    let info: unknown;
    try {
      info = JSON.parse(Buffer.from(msg).toString('utf8'));
    } catch (e) {
      throw new FrameError(`client info is not JSON: ${(e as Error).message}`);
    }
    if (typeof info !== 'object' || info === null || Array.isArray(info)) throw new FrameError('client info is not a JSON object');
    this.key = key;
    this.id = key.toString('latin1');
    this.info = info as ClientInfo;
    this.shared = shared;
    const refused = this.host.admit(this, this.info);
    if (refused !== null) throw new FrameError(refused);
    clearTimeout(this.loginTimer);
    this.state = 'open';
    const serverInfo = Buffer.from(JSON.stringify({ version: PROTOCOL_VERSION }));
    this.write(frame(FrameType.ServerInfo, seal(this.shared, serverInfo)));
    this.armKeepAlive();
  }

  private armKeepAlive(): void {
    const ms = this.host.limits.keepAliveMs + Math.floor(Math.random() * 5_000);
    this.keepAliveTimer = setTimeout(() => {
      this.sendControl(KEEPALIVE_FRAME);
      this.armKeepAlive();
    }, ms);
    this.keepAliveTimer.unref();
  }

  private canWrite(): boolean {
    return !this.waitingDrain && this.stream.writableLength < this.host.limits.socketBufferBytes;
  }

  /** Writes, batching a tick's frames into one syscall; starts waiting for drain when the buffer is full. */
  private write(f: Buffer): void {
    if (!this.corked) {
      this.corked = true;
      this.stream.cork();
      process.nextTick(() => {
        this.corked = false;
        this.stream.uncork();
      });
    }
    this.stream.write(f);
    if (this.stream.writableLength >= this.host.limits.socketBufferBytes && !this.waitingDrain) {
      this.waitingDrain = true;
      const ms = this.canMesh ? this.host.limits.meshWriteTimeoutMs : this.host.limits.writeTimeoutMs;
      this.writeTimer = setTimeout(() => this.close(new Error(`write timeout: the client read nothing for ${ms} ms`)), ms);
      this.writeTimer.unref();
    }
  }

  private onDrain(): void {
    if (this.state === 'closed') return;
    clearTimeout(this.writeTimer);
    this.waitingDrain = false;
    // Control first, then disco (path discovery), then data, until the buffer is full again.
    while (this.canWrite()) {
      const c = this.control.shift();
      if (c) {
        this.write(c);
        continue;
      }
      const m = this.meshUpdates.entries().next();
      if (!m.done) {
        this.meshUpdates.delete(m.value[0]);
        this.write(m.value[1]);
        continue;
      }
      const f = this.disco.shift() ?? this.data.shift();
      if (!f) break;
      this.write(f);
      this.host.relayed(f.length - 5 - KEY_LEN);
    }
  }
}
