// One mesh link (derp.server.mesh_with; derper's --mesh-with and derphttp's
// RunWatchConnectionLoop): a DERP connection from this relay to another relay of the region,
// logged in with this relay's key and the mesh key, that watches the other relay's
// connections. Every key the peer announces present becomes reachable through this link;
// packets for it go out as frameForwardPacket, with the same bounded queues as a client
// connection. On any failure the link forgets what it learned and reconnects with backoff.
// A link whose far end turns out to be this relay itself stops for good.

import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { open, seal, sharedKey } from './box.js';
import type { ConnLimits } from './conn.js';
import {
  FrameType,
  HEADER_LEN,
  KEY_LEN,
  MAGIC,
  MAX_CLIENT_INFO_LEN,
  MAX_PACKET_SIZE,
  MAX_PING_LEN,
  PROTOCOL_VERSION,
  forwardPacketFrame,
  frame,
  looksLikeDisco,
} from './frames.js';
import type { MeshKey } from './mesh-key.js';
import { FrameError, FrameReader, type FrameDecision } from './reader.js';
import { shortKey, type DerpRelay, type PacketForwarder } from './relay.js';
import type { DerpStats } from './stats.js';

export interface MeshClientOptions {
  /** The other relay: http(s)://host[:port], optionally with /derp. */
  url: string;
  relay: DerpRelay;
  meshKey: MeshKey;
  stats: DerpStats;
  limits: ConnLimits;
  log: { info(m: string): void; debug(m: string): void };
  /** Reconnect delays: doubled from min to max after each failure (derper: a fixed 5 s). */
  backoffMs?: { min: number; max: number };
  /** From dialing to watching; default 10 s. */
  loginTimeoutMs?: number;
  /** Extra TLS options for https:// (a test CA). */
  tls?: tls.ConnectionOptions;
}

export type MeshLinkState = 'connecting' | 'watching' | 'waiting' | 'self' | 'closed';

/** derper keeps its mesh links alive with a keep-alive frame every 60 s (plus jitter): silence this long means the link is dead. */
const IDLE_TIMEOUT_MS = 150_000;
/** From dialing to watching (derper gives a client 10 s for its login). */
const LOGIN_TIMEOUT_MS = 10_000;
const MAX_SERVER_KEY_LEN = 1024;
const MAX_NOTICE_LEN = 1024;
const MAX_RESTARTING_LEN = 64;

export class MeshClient implements PacketForwarder {
  readonly name: string;
  state: MeshLinkState = 'waiting';
  /** The far relay's public key, once seen. */
  peerKey: Buffer | null = null;
  private readonly target: { secure: boolean; host: string; port: number; path: string };
  private sock: Duplex | null = null;
  private reader: FrameReader | null = null;
  private phase: 'headers' | 'serverKey' | 'serverInfo' | 'open' = 'headers';
  private headerBuf = Buffer.alloc(0);
  private shared: Uint8Array | null = null;
  /** Keys the peer announced on the current connection. */
  private readonly present = new Map<string, Buffer>();
  private readonly disco: Buffer[] = [];
  private readonly data: Buffer[] = [];
  private waitingDrain = false;
  private corked = false;
  private writeTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private loginTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private delayMs: number;
  private nextDelayMs: number | null = null;
  private failuresLogged = false;
  private readonly backoff: { min: number; max: number };

  constructor(private readonly opts: MeshClientOptions) {
    this.target = parseMeshUrl(opts.url);
    this.name = `mesh(${opts.url})`;
    this.backoff = opts.backoffMs ?? { min: 1_000, max: 30_000 };
    this.delayMs = this.backoff.min;
  }

  /** Keys currently reachable through this link. */
  get keyCount(): number {
    return this.present.size;
  }

  start(): void {
    if (this.state !== 'waiting') return;
    this.connect();
  }

  close(): void {
    if (this.state === 'closed') return;
    const was = this.state;
    this.state = 'closed';
    clearTimeout(this.retryTimer);
    this.teardown();
    if (was === 'watching') this.opts.log.debug(`${this.name}: closed`);
  }

  forwardPacket(src: Buffer, dst: Buffer, packet: Buffer): void {
    const disco = looksLikeDisco(packet);
    if (this.state !== 'watching' || !this.sock) {
      this.opts.stats.dropped('gone_disconnected', disco ? 'disco' : 'other', packet.length);
      return;
    }
    const f = forwardPacketFrame(src, dst, packet);
    if (this.canWrite()) {
      this.write(f);
      return;
    }
    const q = disco ? this.disco : this.data;
    if (q.length >= this.opts.limits.queueDepth) {
      const old = q.shift()!;
      this.opts.stats.dropped('queue_head', disco ? 'disco' : 'other', old.length - HEADER_LEN - 2 * KEY_LEN);
    }
    q.push(f);
  }

  private connect(): void {
    this.state = 'connecting';
    this.phase = 'headers';
    this.headerBuf = Buffer.alloc(0);
    const { secure, host, port, path } = this.target;
    const sock: Duplex = secure
      ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host, ALPNProtocols: ['http/1.1'], ...this.opts.tls })
      : net.connect({ host, port });
    this.sock = sock;
    (sock as net.Socket).setNoDelay?.(true);
    (sock as net.Socket).setKeepAlive?.(true, 60_000);
    this.reader = new FrameReader(
      (t, l) => this.decide(t, l),
      (t, p) => this.onFrame(t, p),
    );
    sock.once(secure ? 'secureConnect' : 'connect', () => {
      sock.write(`GET ${path} HTTP/1.1\r\nHost: ${hostHeader(host, port, secure)}\r\nUpgrade: DERP\r\nConnection: Upgrade\r\nUser-Agent: switchboard-derp-mesh\r\n\r\n`);
    });
    sock.on('data', (d: Buffer) => this.onData(sock, d));
    sock.on('drain', () => this.onDrain());
    sock.on('error', (e) => this.fail(sock, e));
    sock.on('close', () => this.fail(sock, new Error('connection closed')));
    this.armIdle();
    const loginMs = this.opts.loginTimeoutMs ?? LOGIN_TIMEOUT_MS;
    this.loginTimer = setTimeout(() => this.fail(sock, new Error(`not logged in within ${loginMs} ms`)), loginMs);
    this.loginTimer.unref();
  }

  private onData(sock: Duplex, d: Buffer): void {
    if (sock !== this.sock) return;
    this.armIdle();
    try {
      if (this.phase === 'headers') {
        this.headerBuf = Buffer.concat([this.headerBuf, d]);
        const end = this.headerBuf.indexOf('\r\n\r\n');
        if (end < 0) {
          if (this.headerBuf.length > 16 << 10) throw new FrameError('HTTP response headers over 16 KiB');
          return;
        }
        const head = this.headerBuf.subarray(0, end).toString('latin1');
        const status = /^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1];
        if (status !== '101') throw new FrameError(`upgrade refused: ${head.split('\r\n')[0]}`);
        this.phase = 'serverKey';
        d = this.headerBuf.subarray(end + 4);
        this.headerBuf = Buffer.alloc(0);
      }
      this.reader!.push(d);
    } catch (e) {
      this.fail(sock, e instanceof Error ? e : new Error(String(e)));
    }
  }

  private decide(type: number, len: number): FrameDecision {
    if (this.phase === 'serverKey') {
      if (type !== FrameType.ServerKey) return { refuse: `expected the server key frame first, got frame type 0x${type.toString(16)}` };
      if (len < MAGIC.length + KEY_LEN || len > MAX_SERVER_KEY_LEN) return { refuse: `server key frame of ${len} bytes` };
      return 'read';
    }
    if (this.phase === 'serverInfo') {
      if (type !== FrameType.ServerInfo) return { refuse: `expected the server info frame, got frame type 0x${type.toString(16)}` };
      if (len > MAX_CLIENT_INFO_LEN) return { refuse: `server info frame of ${len} bytes` };
      return 'read';
    }
    switch (type) {
      case FrameType.PeerPresent:
      case FrameType.PeerGone:
        if (len < KEY_LEN || len > MAX_NOTICE_LEN) return { refuse: `peer notice frame (type 0x${type.toString(16)}) of ${len} bytes` };
        return 'read';
      case FrameType.Ping:
        if (len < 8 || len > MAX_PING_LEN) return { refuse: `ping frame of ${len} bytes` };
        return 'read';
      case FrameType.Restarting:
        return len <= MAX_RESTARTING_LEN ? 'read' : 'skip';
      default:
        // Keep-alives, health, packets addressed to the relay's key: nothing to do.
        if (len > MAX_PACKET_SIZE + 2 * KEY_LEN) return { refuse: `frame type 0x${type.toString(16)} of ${len} bytes` };
        return 'skip';
    }
  }

  private onFrame(type: number, p: Buffer): void {
    const relay = this.opts.relay;
    switch (this.phase) {
      case 'serverKey': {
        if (!p.subarray(0, MAGIC.length).equals(MAGIC)) throw new FrameError('server key frame without the DERP magic');
        const key = Buffer.from(p.subarray(MAGIC.length, MAGIC.length + KEY_LEN));
        this.peerKey = key;
        if (key.equals(relay.publicKey)) {
          this.opts.log.info(`derp.server.mesh_with: ${this.opts.url} is this relay itself; not meshing with it`);
          this.state = 'self';
          this.teardown();
          return;
        }
        this.shared = sharedKey(relay.privateKey, key);
        const info = Buffer.from(JSON.stringify({ version: PROTOCOL_VERSION, meshKey: this.opts.meshKey.text }));
        this.sock!.write(frame(FrameType.ClientInfo, Buffer.concat([relay.publicKey, seal(this.shared, info)])));
        this.phase = 'serverInfo';
        return;
      }
      case 'serverInfo': {
        if (open(this.shared!, p) === null) throw new FrameError('server info box does not open (not the relay that sent the server key)');
        this.sock!.write(frame(FrameType.WatchConns));
        this.phase = 'open';
        this.state = 'watching';
        clearTimeout(this.loginTimer);
        this.delayMs = this.backoff.min;
        this.failuresLogged = false;
        this.opts.log.info(`${this.name}: connected to relay ${shortKey(this.peerKey!)}, watching its connections`);
        return;
      }
      case 'headers':
        return;
      case 'open':
        break;
    }
    switch (type) {
      case FrameType.PeerPresent: {
        const key = Buffer.from(p.subarray(0, KEY_LEN));
        // Our own link shows up among the peer's clients; it is no destination.
        if (key.equals(relay.publicKey)) return;
        const id = key.toString('latin1');
        if (!this.present.has(id)) this.present.set(id, key);
        relay.addForwarder(key, this);
        return;
      }
      case FrameType.PeerGone: {
        const key = Buffer.from(p.subarray(0, KEY_LEN));
        this.present.delete(key.toString('latin1'));
        relay.removeForwarder(key, this);
        return;
      }
      case FrameType.Ping:
        this.write(frame(FrameType.Pong, p.subarray(0, 8)));
        return;
      case FrameType.Restarting:
        // The peer says when to come back; that replaces the backoff once.
        if (p.length >= 4) this.nextDelayMs = Math.min(p.readUInt32BE(0), this.backoff.max);
        return;
    }
  }

  private fail(sock: Duplex, err: Error): void {
    if (sock !== this.sock) return;
    const was = this.state;
    this.teardown();
    if (was === 'closed' || was === 'self') return;
    if (was === 'watching') this.opts.log.info(`${this.name}: lost the link: ${err.message}; reconnecting`);
    else if (!this.failuresLogged) {
      this.failuresLogged = true;
      this.opts.log.info(`${this.name}: cannot connect: ${err.message}; retrying with backoff (further failures at debug level)`);
    } else this.opts.log.debug(`${this.name}: cannot connect: ${err.message}`);
    this.state = 'waiting';
    const base = this.nextDelayMs ?? this.delayMs;
    this.nextDelayMs = null;
    this.delayMs = Math.min(this.delayMs * 2, this.backoff.max);
    this.retryTimer = setTimeout(() => this.connect(), Math.round(base * (0.75 + Math.random() * 0.5)));
    this.retryTimer.unref();
  }

  /** Drops the socket and everything learned over it. */
  private teardown(): void {
    clearTimeout(this.writeTimer);
    clearTimeout(this.idleTimer);
    clearTimeout(this.loginTimer);
    this.waitingDrain = false;
    this.reader?.stop();
    this.reader = null;
    const sock = this.sock;
    this.sock = null;
    sock?.destroy();
    for (const q of [this.disco, this.data]) {
      for (const f of q) this.opts.stats.dropped('gone_disconnected', q === this.disco ? 'disco' : 'other', f.length - HEADER_LEN - 2 * KEY_LEN);
      q.length = 0;
    }
    for (const key of this.present.values()) this.opts.relay.removeForwarder(key, this);
    this.present.clear();
  }

  private armIdle(): void {
    clearTimeout(this.idleTimer);
    const sock = this.sock;
    this.idleTimer = setTimeout(() => {
      if (sock) this.fail(sock, new Error(`nothing heard for ${IDLE_TIMEOUT_MS / 1000} s`));
    }, IDLE_TIMEOUT_MS);
    this.idleTimer.unref();
  }

  private canWrite(): boolean {
    return this.sock !== null && !this.waitingDrain && this.sock.writableLength < this.opts.limits.socketBufferBytes;
  }

  private write(f: Buffer): void {
    const sock = this.sock;
    if (!sock) return;
    if (!this.corked) {
      this.corked = true;
      sock.cork();
      process.nextTick(() => {
        this.corked = false;
        sock.uncork();
      });
    }
    sock.write(f);
    if (sock.writableLength >= this.opts.limits.socketBufferBytes && !this.waitingDrain) {
      this.waitingDrain = true;
      const ms = this.opts.limits.meshWriteTimeoutMs;
      this.writeTimer = setTimeout(() => this.fail(sock, new Error(`write timeout: the peer read nothing for ${ms} ms`)), ms);
      this.writeTimer.unref();
    }
  }

  private onDrain(): void {
    if (!this.sock) return;
    clearTimeout(this.writeTimer);
    this.waitingDrain = false;
    while (this.canWrite()) {
      const f = this.disco.shift() ?? this.data.shift();
      if (!f) break;
      this.write(f);
    }
  }
}

/** A mesh_with entry as host, port and path; throws naming the problem. */
export function parseMeshUrl(url: string): { secure: boolean; host: string; port: number; path: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`${JSON.stringify(url)} is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`${JSON.stringify(url)} must be an http:// or https:// URL`);
  if (u.search !== '' || u.hash !== '' || u.username !== '' || u.password !== '') throw new Error(`${JSON.stringify(url)} must not carry a query, fragment or credentials`);
  const secure = u.protocol === 'https:';
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const port = u.port === '' ? (secure ? 443 : 80) : Number(u.port);
  const path = u.pathname === '/' || u.pathname === '' ? '/derp' : u.pathname;
  return { secure, host, port, path };
}

function hostHeader(host: string, port: number, secure: boolean): string {
  const h = host.includes(':') ? `[${host}]` : host;
  return port === (secure ? 443 : 80) ? h : `${h}:${port}`;
}
