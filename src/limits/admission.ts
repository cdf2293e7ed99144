// Admission control for the control listener: how many connections may be open, how
// many may still be waiting for their first request, how long they may wait, and how
// many handshakes a second (overall and per source address) are answered. Everything a
// client without credentials can make the server hold is bounded here, before any
// request parsing or cryptography is spent on it.

import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { addressKey, type ProxySet } from './address.js';
import { TokenBucket } from './token-bucket.js';

export interface ConnectionLimits {
  /** Open connections on the listener; 0 = no limit. */
  maxConnections: number;
  /** Open connections from one address (IPv6: one /64); 0 = no limit. Trusted proxies are exempt. */
  maxConnectionsPerAddress: number;
  /** Connections that have not yet sent a complete first request; beyond it the longest-waiting one is dropped. 0 = no limit. */
  maxPendingHandshakes: number;
  /** How long a new connection may take to send its first request's headers; 0 = no limit. */
  handshakeTimeoutMs: number;
  /** Noise handshakes answered per second over all clients; 0 = no limit. */
  handshakesPerSecond: number;
  /** Noise handshakes answered per second from one address; 0 = no limit. */
  handshakesPerSecondPerAddress: number;
  /** Reverse proxies: exempt from per-address connection limits; their X-Forwarded-For client is rate-limited instead. */
  trustedProxies?: ProxySet;
}

export const REFUSAL_REASONS = [
  'max_connections',
  'max_connections_per_address',
  'max_pending_handshakes',
  'handshake_timeout',
  'handshake_rate',
  'handshake_rate_per_address',
] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

export interface Refusal {
  reason: RefusalReason;
  remoteAddress: string | undefined;
}

export interface AdmissionOptions {
  onRefused?(r: Refusal): void;
  /** Clock in milliseconds (tests pass their own). */
  now?: () => number;
}

/** Address buckets kept at most; beyond it, idle ones are dropped, then new addresses share the global bucket only. */
const MAX_TRACKED_ADDRESSES = 16_384;
const SWEEP_MS = 500;

export class ConnectionAdmission {
  private open = 0;
  private readonly perAddress = new Map<string, number>();
  /** Sockets still waiting for their first request, in arrival order (so deadline order). */
  private readonly pending = new Map<Socket, number>();
  private readonly global: TokenBucket | null;
  private readonly buckets = new Map<string, TokenBucket>();
  private lastPrune = 0;
  private sweeper: NodeJS.Timeout | null = null;
  private readonly now: () => number;

  constructor(
    private readonly limits: ConnectionLimits,
    private readonly opts: AdmissionOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    // Bursts of twice the rate: a restart brings every client back at once.
    this.global = limits.handshakesPerSecond > 0 ? new TokenBucket(limits.handshakesPerSecond, limits.handshakesPerSecond * 2, this.now()) : null;
  }

  get openConnections(): number {
    return this.open;
  }

  get pendingConnections(): number {
    return this.pending.size;
  }

  /** Counts connections on `server` from their first byte; a request or upgrade settles them. */
  attach(server: Server): void {
    server.on('connection', (s: Socket) => this.admit(s));
    const settle = (req: { socket: Socket }) => this.settle(req.socket);
    server.on('request', settle);
    server.on('upgrade', settle);
    if (this.limits.handshakeTimeoutMs > 0) {
      // Node's own header timer is checked only every 30 s by default; ours sweeps faster,
      // and this one backs it up for sockets this class no longer tracks.
      server.headersTimeout = Math.max(this.limits.handshakeTimeoutMs, 1000);
      this.sweeper = setInterval(() => this.sweep(), Math.min(SWEEP_MS, this.limits.handshakeTimeoutMs));
      this.sweeper.unref();
    }
  }

  /** Accepts or destroys a new socket. Returns whether it was accepted. */
  admit(socket: Socket): boolean {
    const remote = socket.remoteAddress;
    const l = this.limits;
    const key = addressKey(remote);
    const exempt = l.trustedProxies?.has(remote) ?? false;
    let reason: RefusalReason | null = null;
    if (l.maxConnections > 0 && this.open >= l.maxConnections) reason = 'max_connections';
    else if (!exempt && l.maxConnectionsPerAddress > 0 && (this.perAddress.get(key) ?? 0) >= l.maxConnectionsPerAddress) {
      reason = 'max_connections_per_address';
    }
    if (reason) {
      // A reset, not a FIN: the peer learns at once, and no TIME_WAIT is left here.
      socket.resetAndDestroy?.() ?? socket.destroy();
      this.opts.onRefused?.({ reason, remoteAddress: remote });
      return false;
    }
    if (l.maxPendingHandshakes > 0 && this.pending.size >= l.maxPendingHandshakes) {
      // Full of connections that have not spoken yet: drop the one that has waited longest
      // rather than refuse this one. Refusing would let whoever opens connections fastest
      // lock everyone else out; a real client sends its request within a round trip, so
      // it is never the oldest for long.
      const [oldest] = this.pending.keys();
      if (oldest) {
        this.pending.delete(oldest);
        oldest.destroy();
        this.opts.onRefused?.({ reason: 'max_pending_handshakes', remoteAddress: oldest.remoteAddress });
      }
    }
    this.open++;
    this.perAddress.set(key, (this.perAddress.get(key) ?? 0) + 1);
    this.pending.set(socket, this.now() + l.handshakeTimeoutMs);
    socket.once('close', () => {
      this.open--;
      const n = (this.perAddress.get(key) ?? 1) - 1;
      if (n <= 0) this.perAddress.delete(key);
      else this.perAddress.set(key, n);
      this.pending.delete(socket);
    });
    return true;
  }

  /** The socket has sent a complete request: it no longer counts as pending. */
  settle(socket: Socket): void {
    this.pending.delete(socket);
  }

  /**
   * Whether a Noise handshake from this client may be answered now. `forwardedFor` is the
   * X-Forwarded-For header, used only when the connection comes from a trusted proxy.
   */
  admitHandshake(remoteAddress: string | undefined, forwardedFor?: string | string[]): Refusal | null {
    const now = this.now();
    let client = remoteAddress;
    if (forwardedFor !== undefined && this.limits.trustedProxies?.has(remoteAddress)) {
      // The proxy appends the address it saw; entries before it are the client's own claims.
      const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor).split(',');
      const last = hops[hops.length - 1]?.trim();
      if (last) client = last;
    }
    if (this.limits.handshakesPerSecondPerAddress > 0) {
      const bucket = this.bucketFor(addressKey(client), now);
      if (bucket && !bucket.take(now)) return { reason: 'handshake_rate_per_address', remoteAddress: client };
    }
    if (this.global && !this.global.take(now)) return { reason: 'handshake_rate', remoteAddress: client };
    return null;
  }

  private bucketFor(key: string, now: number): TokenBucket | null {
    let b = this.buckets.get(key);
    if (b) return b;
    if (this.buckets.size >= MAX_TRACKED_ADDRESSES && now - this.lastPrune >= 1000) {
      this.lastPrune = now;
      for (const [k, v] of this.buckets) if (v.isFull(now)) this.buckets.delete(k);
    }
    if (this.buckets.size >= MAX_TRACKED_ADDRESSES) return null;
    const rate = this.limits.handshakesPerSecondPerAddress;
    b = new TokenBucket(rate, rate * 2, now);
    this.buckets.set(key, b);
    return b;
  }

  /** Destroys sockets whose first request is overdue. Cost follows the number expired. */
  sweep(): void {
    const now = this.now();
    for (const [socket, deadline] of this.pending) {
      if (deadline > now) break;
      this.pending.delete(socket);
      socket.destroy();
      this.opts.onRefused?.({ reason: 'handshake_timeout', remoteAddress: socket.remoteAddress });
    }
  }

  close(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
  }
}
