// One simulated node of the load generator: a real control client (Noise, HTTP/2, register
// with a pre-auth key, streamed zstd maps), but what it keeps of its netmap is a digest:
// per peer, the sequence number carried in its first endpoint and whether it is online.
// Everything the benchmark measures is appended to the worker's shared ObservationLog.

import type { Duplex } from 'node:stream';
import { MapFrameReader } from '../../src/client/frames.js';
import { dialControl, type ControlHttp, type ControlRequest } from '../../src/client/transport.js';
import { formatDiscoPublic, formatNodePublic, generatePrivateKey, publicFromPrivate } from '../../src/noise/keys.js';
import type { Hostinfo, MapRequest, MapResponse, Node, RegisterResponse } from '../../src/tailcfg/types.js';

const CAPABILITY_VERSION = 113;
/**
 * What the simulated nodes copy from tailscaled (control/controlclient, util/backoff,
 * control/controlhttp): a map poll that brings nothing for two minutes is abandoned; a
 * Noise dial without a dial plan gets 5 s plus 5 s for the upgrade and handshake, end to
 * end (measured on the generator thread's run time, see runTimeDeadline); after each
 * failed dial or map poll the client waits min(n² × 10 ms, 30 s) × [0.5, 1.5) with n the
 * failures since its last full netmap (a full netmap resets n to 0).
 */
const FIRST_MAP_TIMEOUT_MS = 120_000;
export const DIAL_TIMEOUT_MS = 10_000;
const MAX_BACKOFF_MS = 30_000;

/**
 * The time this thread's event loop was free to run, in ms: a stall (GC, or the machine's
 * other work starving the generator) counts as at most two ticks. A dial's 10 s are
 * measured on it, so that a starved generator does not time out answers that are already
 * in its socket buffer: a real client has its own CPU.
 */
const TICK_MS = 250;
let runTime = 0;
let lastTick = performance.now();
setInterval(() => {
  const t = performance.now();
  runTime += Math.min(t - lastTick, 2 * TICK_MS);
  lastTick = t;
}, TICK_MS).unref();
const runNow = () => runTime + Math.min(performance.now() - lastTick, 2 * TICK_MS);

/** Aborts `ac` once `ms` of this thread's run time have passed; returns a cancel function. */
function runTimeDeadline(ms: number, ac: AbortController): () => void {
  const start = runNow();
  let timer: NodeJS.Timeout;
  const arm = (wait: number) => {
    timer = setTimeout(() => {
      const left = ms - (runNow() - start);
      if (left > 1) arm(left);
      else ac.abort(new Error(`ts2021 dial timed out after ${ms} ms`));
    }, wait);
  };
  arm(ms);
  return () => clearTimeout(timer);
}

/** tailscaled's wait after its n-th consecutive failure (util/backoff: n² × 10 ms, capped, jittered ±50 %). */
export function backoffDelayMs(failures: number, random: number = Math.random()): number {
  return Math.min(failures * failures * 10, MAX_BACKOFF_MS) * (0.5 + random);
}

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across worker threads. */
export const now = (): number => performance.timeOrigin + performance.now();

/**
 * Endpoints of node `idx` after `seq` changes: the sequence number travels as the port of
 * the first endpoint, so an observer can tell which change it is looking at.
 */
export function endpointsOf(idx: number, seq: number): string[] {
  return [`10.${(idx >> 16) & 255}.${(idx >> 8) & 255}.${idx & 255}:${20000 + seq}`, `192.0.2.1:${40000 + (idx % 20000)}`];
}

function seqOf(endpoints: readonly string[] | null | undefined): number {
  const e = endpoints?.[0];
  if (!e) return -1;
  const port = Number(e.slice(e.lastIndexOf(':') + 1));
  return Number.isFinite(port) ? port - 20000 : -1;
}

/** Flat arrays of numbers (cheap to keep and to post to the coordinator). */
export class ObservationLog {
  /** [observerId, peerId, t]: a peer appeared in the observer's netmap after its first map. */
  peerSeen: number[] = [];
  /** [observerId, peerId, seq, t]: the observer saw the peer's endpoints with change `seq`. */
  endpointSeen: number[] = [];
  /** [nodeId, seq, t]: a node sent change `seq` of its endpoints. */
  endpointSent: number[] = [];
  /** [observerId, t]: a frame carried PacketFilters (after the first map). */
  filterSeen: number[] = [];
  frames = { full: 0, delta: 0, keepalive: 0 };
  bytes = 0;
  /** Dials by outcome: connected, refused (nothing listening), timedOut (the 10 s limit), failed (anything else). */
  dials = { connected: 0, refused: 0, timedOut: 0, failed: 0 };

  take(): { peerSeen: number[]; endpointSeen: number[]; endpointSent: number[]; filterSeen: number[] } {
    const out = { peerSeen: this.peerSeen, endpointSeen: this.endpointSeen, endpointSent: this.endpointSent, filterSeen: this.filterSeen };
    this.peerSeen = [];
    this.endpointSeen = [];
    this.endpointSent = [];
    this.filterSeen = [];
    return out;
  }
}

export interface SimNodeOptions {
  idx: number;
  url: string;
  serverKey: string;
  hostinfo: Hostinfo;
  log: ObservationLog;
}

export class SimNode {
  readonly idx: number;
  private readonly machinePrivateKey = generatePrivateKey();
  private readonly nodeKey = formatNodePublic(publicFromPrivate(generatePrivateKey()));
  private readonly discoKey = formatDiscoPublic(publicFromPrivate(generatePrivateKey()));
  private readonly hostinfo: Hostinfo;
  /** Tailnet node ID, learnt from the first map. */
  nodeId = 0;
  seq = 0;
  /** peer ID → seq * 2 + (online ? 1 : 0). */
  readonly digest = new Map<number, number>();
  /** When the current stream's first map arrived; 0 while there is none. */
  streamUpAt = 0;
  /** Reconnect on its own when the stream ends (tailscaled's behaviour). */
  autoReconnect = false;
  /** Stopped reading (the slow-readers profile): takes no part in anything after. */
  stopped = false;
  private http: ControlHttp | null = null;
  private socket: Duplex | null = null;
  private closeLink: (() => void) | null = null;
  private stream: ControlRequest | null = null;
  private everMapped = false;
  private dialing = false;
  /** Failed dials and map polls since the last full netmap (tailscaled's backoff counter). */
  private failures = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  /** Called with the first-map latency (ms since the map request) of each stream. */
  onFirstMap: ((ms: number, reconnect: boolean) => void) | null = null;

  constructor(private readonly o: SimNodeOptions) {
    this.idx = o.idx;
    this.hostinfo = { ...o.hostinfo, Hostname: `load${o.idx}`, BackendLogID: generatePrivateKey().toString('hex') };
  }

  /** Dials the control connection (Noise over HTTP/2) unless it is up. */
  async connect(): Promise<ControlHttp> {
    if (this.http && !this.http.closed) return this.http;
    const dials = this.o.log.dials;
    let link;
    this.dialing = true;
    const ac = new AbortController();
    const cancel = runTimeDeadline(DIAL_TIMEOUT_MS, ac);
    try {
      link = await dialControl(this.o.url, {
        machinePrivateKey: this.machinePrivateKey,
        serverPublicKey: this.o.serverKey,
        protocolVersion: CAPABILITY_VERSION,
        http2: 'builtin',
        // The limit is the run-time deadline; this wall-clock one only backs it up.
        timeoutMs: DIAL_TIMEOUT_MS * 6,
        signal: ac.signal,
      });
    } catch (err) {
      const m = (err as Error).message;
      if (m.includes('ECONNREFUSED')) dials.refused++;
      else if (m.includes('timed out')) dials.timedOut++;
      else dials.failed++;
      throw err;
    } finally {
      cancel();
      this.dialing = false;
    }
    dials.connected++;
    this.http = link.http;
    this.socket = link.conn.inner;
    this.closeLink = () => {
      link.http.destroy();
      link.conn.destroy();
    };
    return link.http;
  }

  private async post(path: string, body: unknown): Promise<{ status: number; body: Buffer }> {
    const http = await this.connect();
    return new Promise((resolve, reject) => {
      const req = http.request('POST', path, JSON.stringify(body), { 'content-type': 'application/json' });
      let status = 0;
      const chunks: Buffer[] = [];
      req.on('response', (s) => (status = s));
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => resolve({ status, body: Buffer.concat(chunks) }));
      req.on('error', reject);
      req.on('close', (code) => reject(new Error(`POST ${path}: stream closed early (code ${code})`)));
    });
  }

  async register(authKey: string): Promise<void> {
    const res = await this.post('/machine/register', {
      Version: CAPABILITY_VERSION,
      NodeKey: this.nodeKey,
      Hostinfo: this.hostinfo,
      Ephemeral: false,
      Auth: { AuthKey: authKey },
    });
    if (res.status !== 200) throw new Error(`register load${this.idx}: HTTP ${res.status}: ${res.body.toString().trim()}`);
    const r = JSON.parse(res.body.toString()) as RegisterResponse;
    if (!r.MachineAuthorized) throw new Error(`register load${this.idx}: not authorized: ${r.Error}`);
  }

  private mapRequest(stream: boolean): MapRequest {
    const endpoints = endpointsOf(this.idx, this.seq);
    return {
      Version: CAPABILITY_VERSION,
      Compress: 'zstd',
      KeepAlive: true,
      NodeKey: this.nodeKey,
      DiscoKey: this.discoKey,
      Stream: stream,
      Hostinfo: this.hostinfo,
      Endpoints: endpoints,
      EndpointTypes: endpoints.map(() => 1),
      OmitPeers: !stream,
    };
  }

  /** A lite update with the next endpoints, as tailscaled sends when its endpoints move. */
  async changeEndpoints(): Promise<void> {
    this.seq++;
    this.o.log.endpointSent.push(this.nodeId, this.seq, now());
    const res = await this.post('/machine/map', this.mapRequest(false));
    if (res.status !== 200) throw new Error(`lite update load${this.idx}: HTTP ${res.status}`);
  }

  /** Opens the map stream; resolves with the first map (rejects if the stream fails first). */
  async startStream(): Promise<void> {
    const reconnect = this.everMapped;
    const http = await this.connect();
    const t0 = now();
    const req = http.request('POST', '/machine/map', JSON.stringify(this.mapRequest(true)), { 'content-type': 'application/json' });
    this.stream = req;
    this.streamUpAt = 0;
    const link = this.closeLink;
    await new Promise<void>((resolve, reject) => {
      let first = true;
      let done = false;
      // tailscaled gives up on a map poll that brings nothing for two minutes, and redials.
      const watchdog = setTimeout(() => {
        if (!first) return;
        req.close();
        end(new Error(`load${this.idx}: no first map within ${FIRST_MAP_TIMEOUT_MS} ms`));
      }, FIRST_MAP_TIMEOUT_MS);
      watchdog.unref();
      const end = (err: Error | null) => {
        if (done) return;
        done = true;
        clearTimeout(watchdog);
        if (this.stream === req) {
          this.stream = null;
          this.streamUpAt = 0;
        }
        if (first) reject(err ?? new Error(`load${this.idx}: map stream ended before the first map`));
        if (this.closeLink === link) this.dropLink(); // not a newer connection's
        if (this.autoReconnect) this.scheduleReconnect();
      };
      req.on('response', (status) => {
        if (status !== 200) {
          end(new Error(`load${this.idx}: map stream HTTP ${status}`));
          req.close();
          return;
        }
        const reader = new MapFrameReader(true);
        req.on('data', (chunk: Buffer) => {
          this.o.log.bytes += chunk.length;
          let maps: MapResponse[];
          try {
            maps = reader.push(chunk);
          } catch (err) {
            req.close();
            end(err as Error);
            return;
          }
          const t = now();
          for (const m of maps) {
            if (m.KeepAlive && !m.Peers && !m.PeersChanged && !m.PeersChangedPatch) {
              this.o.log.frames.keepalive++;
              continue;
            }
            if (m.Peers) this.o.log.frames.full++;
            else this.o.log.frames.delta++;
            this.apply(m, t, first);
            if (first) {
              first = false;
              this.everMapped = true;
              this.failures = 0;
              this.streamUpAt = t;
              this.onFirstMap?.(t - t0, reconnect);
              resolve();
            }
          }
        });
      });
      req.on('end', () => end(null));
      req.on('error', (err) => end(err));
      req.on('close', () => end(null));
    });
  }

  private apply(m: MapResponse, t: number, firstOfStream: boolean): void {
    if (m.Node) this.nodeId = m.Node.ID;
    const log = this.o.log;
    const me = this.nodeId;
    const put = (p: Node) => {
      const before = this.digest.get(p.ID);
      const seq = seqOf(p.Endpoints);
      this.digest.set(p.ID, seq * 2 + (p.Online ? 1 : 0));
      if (before === undefined) {
        if (this.everMapped || !firstOfStream) log.peerSeen.push(me, p.ID, t);
      } else if (before >> 1 !== seq) log.endpointSeen.push(me, p.ID, seq, t);
    };
    if (m.Peers) {
      const keep = new Set<number>();
      for (const p of m.Peers) {
        keep.add(p.ID);
        put(p);
      }
      for (const id of [...this.digest.keys()]) if (!keep.has(id)) this.digest.delete(id);
    }
    for (const p of m.PeersChanged ?? []) put(p);
    for (const id of m.PeersRemoved ?? []) this.digest.delete(id);
    for (const c of m.PeersChangedPatch ?? []) {
      const v = this.digest.get(c.NodeID);
      if (v === undefined) continue;
      let seq = v >> 1;
      let online = v & 1;
      if (c.Endpoints !== undefined) {
        const s = seqOf(c.Endpoints);
        if (s !== seq) log.endpointSeen.push(me, c.NodeID, s, t);
        seq = s;
      }
      if (c.Online !== undefined && c.Online !== null) online = c.Online ? 1 : 0;
      this.digest.set(c.NodeID, seq * 2 + online);
    }
    for (const [id, online] of Object.entries(m.OnlineChange ?? {})) {
      const v = this.digest.get(Number(id));
      if (v !== undefined) this.digest.set(Number(id), (v & ~1) | (online ? 1 : 0));
    }
    if ((m.PacketFilters || m.PacketFilter) && !firstOfStream) log.filterSeen.push(me, t);
  }

  /** For the report of nodes that did not come back: what this one is doing. */
  get phase(): 'streaming' | 'waiting-first-map' | 'dialing' | 'reconnect-scheduled' | 'idle' {
    if (this.stream) return this.streamUpAt ? 'streaming' : 'waiting-first-map';
    if (this.dialing) return 'dialing';
    return this.reconnectTimer ? 'reconnect-scheduled' : 'idle';
  }

  /** Peers the digest shows online. */
  onlinePeers(): number {
    let n = 0;
    for (const v of this.digest.values()) n += v & 1;
    return n;
  }

  private scheduleReconnect(): void {
    if (this.reconnectTimer) return;
    this.failures++;
    const delay = backoffDelayMs(this.failures);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (!this.autoReconnect || this.stream) return;
      // A stream that fails after it opened schedules the next attempt itself; a dial that fails does not.
      this.startStream().catch(() => {
        if (this.autoReconnect && !this.stream) this.scheduleReconnect();
      });
    }, delay);
  }

  /** Stops reading the socket (a frozen machine): the server's writes back up. */
  stopReading(): void {
    this.stopped = true;
    this.autoReconnect = false;
    this.socket?.pause();
  }

  private dropLink(): void {
    this.closeLink?.();
    this.closeLink = null;
    this.http = null;
    this.socket = null;
  }

  /** Closes the connection; with autoReconnect on, the node comes back by itself. */
  disconnect(): void {
    this.stream?.close();
    this.stream = null;
    this.dropLink();
  }

  /** A client restart: the connection goes, a new one comes straight back (no re-register). */
  async restart(): Promise<void> {
    const auto = this.autoReconnect;
    this.autoReconnect = false;
    this.disconnect();
    this.failures = 0; // a new tailscaled process starts its backoff afresh
    try {
      await this.startStream();
    } catch (err) {
      // It keeps trying, as after any failed map poll (the step still counts the failure).
      this.autoReconnect = auto;
      if (auto && !this.stream) this.scheduleReconnect();
      throw err;
    } finally {
      this.autoReconnect = auto;
    }
  }

  /**
   * Dials until it works, as tailscaled's login loop does (a failed dial waits the backoff
   * and tries again); gives up after `giveUpMs`.
   */
  async connectRetrying(giveUpMs: number): Promise<void> {
    const t0 = now();
    for (let failures = 1; ; failures++) {
      try {
        await this.connect();
        return;
      } catch (err) {
        if (now() - t0 > giveUpMs) throw err;
        await new Promise((r) => setTimeout(r, backoffDelayMs(failures)));
      }
    }
  }

  close(): void {
    this.autoReconnect = false;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.disconnect();
  }
}
