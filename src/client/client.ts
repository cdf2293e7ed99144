// A Tailscale control client in TypeScript: what tailscaled does towards its control
// server (register, lite updates, streamed map polls), for tests and benchmarks.

import type { ClientHttp2Session } from 'node:http2';
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { formatDiscoPublic, formatMachinePublic, formatNodePublic, generatePrivateKey, publicFromPrivate } from '../noise/keys.js';
import type { Hostinfo, MapRequest, MapResponse, RegisterRequest, RegisterResponse } from '../tailcfg/types.js';
import { MapFrameReader } from './frames.js';
import { NetMap } from './netmap.js';
import { dialControl, type ControlHttp, type ControlRequest, type Http2Mode } from './transport.js';

export const CLIENT_CAPABILITY_VERSION = 113;

export interface ClientOptions {
  serverUrl: string;
  hostname: string;
  machinePrivateKey?: Buffer;
  nodePrivateKey?: Buffer;
  discoPrivateKey?: Buffer;
  webSocket?: boolean;
  capabilityVersion?: number;
  /** HTTP/2 client inside the Noise channel: ours (default) or node:http2's. */
  http2?: Http2Mode;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`HTTP ${status}: ${body.trim()}`);
  }
}

/** Events: 'map' (MapResponse, after the netmap applied it), 'end' (Error | null). */
export class TailscaleClient extends EventEmitter {
  readonly machinePrivateKey: Buffer;
  nodePrivateKey: Buffer;
  readonly discoPrivateKey: Buffer;
  readonly netmap = new NetMap();
  hostinfo: Hostinfo;
  endpoints: string[] = [];
  private http: ControlHttp | null = null;
  /** The node:http2 session in 'node' mode (some tests reach into it). */
  private session: ClientHttp2Session | null = null;
  private connecting: Promise<void> | null = null;
  private closeTransport: (() => void) | null = null;
  private transportSocket: Duplex | null = null;
  private streamAbort: (() => void) | null = null;
  /** Resolves when the current stream ends. */
  streamDone: Promise<Error | null> = Promise.resolve(null);
  readonly version: number;

  constructor(readonly opts: ClientOptions) {
    super();
    this.machinePrivateKey = opts.machinePrivateKey ?? generatePrivateKey();
    this.nodePrivateKey = opts.nodePrivateKey ?? generatePrivateKey();
    this.discoPrivateKey = opts.discoPrivateKey ?? generatePrivateKey();
    this.version = opts.capabilityVersion ?? CLIENT_CAPABILITY_VERSION;
    this.hostinfo = {
      IPNVersion: '1.80.3-switchboard-test',
      BackendLogID: generatePrivateKey().toString('hex'),
      OS: 'linux',
      Hostname: opts.hostname,
      GoArch: 'amd64',
    };
  }

  get machineKey(): string {
    return formatMachinePublic(publicFromPrivate(this.machinePrivateKey));
  }

  get nodeKey(): string {
    return formatNodePublic(publicFromPrivate(this.nodePrivateKey));
  }

  get discoKey(): string {
    return formatDiscoPublic(publicFromPrivate(this.discoPrivateKey));
  }

  async connect(): Promise<void> {
    if (this.http && !this.http.closed) return;
    // Concurrent callers share one dial.
    this.connecting ??= this.dial().finally(() => (this.connecting = null));
    return this.connecting;
  }

  private async dial(): Promise<void> {
    const t = await dialControl(this.opts.serverUrl, {
      machinePrivateKey: this.machinePrivateKey,
      protocolVersion: this.version,
      webSocket: this.opts.webSocket,
      http2: this.opts.http2 ?? 'builtin',
    });
    this.http = t.http;
    this.session = t.session ?? null;
    this.transportSocket = t.conn.inner;
    this.closeTransport = () => void t.close();
  }

  private request(path: string, body: unknown): ControlRequest {
    const payload = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    return this.http!.request('POST', path, payload, { 'content-type': 'application/json' });
  }

  /** POSTs JSON inside the Noise channel; resolves with status and body. */
  /** `signal` cancels the request (RST_STREAM), as a client giving up on a long poll does. */
  async post(path: string, body: unknown, signal?: AbortSignal): Promise<{ status: number; body: Buffer }> {
    await this.connect();
    return new Promise((resolve, reject) => {
      const req = this.request(path, body);
      signal?.addEventListener('abort', () => req.close(), { once: true });
      let status = 0;
      const chunks: Buffer[] = [];
      req.on('response', (st) => (status = st));
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => resolve({ status, body: Buffer.concat(chunks) }));
      req.on('error', reject);
      req.on('close', (code) => reject(new Error(`POST ${path}: stream closed before the response ended${code === null ? '' : ` (code ${code})`}`)));
    });
  }

  /** `followup`: the AuthURL of an earlier answer, to wait for its decision (web login). */
  async register(
    opts: { authKey?: string; expiry?: Date; oldNodeKey?: string; ephemeral?: boolean; followup?: string; signal?: AbortSignal } = {},
  ): Promise<RegisterResponse> {
    const req: RegisterRequest = {
      Version: this.version,
      NodeKey: this.nodeKey,
      Hostinfo: this.hostinfo,
      Ephemeral: opts.ephemeral ?? false,
    };
    if (opts.oldNodeKey) req.OldNodeKey = opts.oldNodeKey;
    if (opts.authKey) req.Auth = { AuthKey: opts.authKey };
    if (opts.followup) req.Followup = opts.followup;
    if (opts.expiry) req.Expiry = opts.expiry.toISOString();
    const res = await this.post('/machine/register', req, opts.signal);
    if (res.status !== 200) throw new HttpError(res.status, res.body.toString());
    return JSON.parse(res.body.toString()) as RegisterResponse;
  }

  /** Replaces the node key (as `tailscale up --force-reauth` does), registering with OldNodeKey. */
  async rotateNodeKey(): Promise<RegisterResponse> {
    const old = this.nodeKey;
    this.nodePrivateKey = generatePrivateKey();
    return this.register({ oldNodeKey: old });
  }

  async logout(): Promise<RegisterResponse> {
    return this.register({ expiry: new Date(Date.now() - 1000) });
  }

  private mapRequest(stream: boolean, omitPeers: boolean): MapRequest {
    return {
      Version: this.version,
      Compress: 'zstd',
      KeepAlive: true,
      NodeKey: this.nodeKey,
      DiscoKey: this.discoKey,
      Stream: stream,
      Hostinfo: this.hostinfo,
      Endpoints: this.endpoints,
      EndpointTypes: this.endpoints.map(() => 1),
      OmitPeers: omitPeers,
    };
  }

  /** A lite update: tells the server our endpoints/hostinfo without asking for a map. */
  async liteUpdate(): Promise<void> {
    const res = await this.post('/machine/map', this.mapRequest(false, true));
    if (res.status !== 200) throw new HttpError(res.status, res.body.toString());
  }

  /** One non-streaming full map. */
  async fetchMap(): Promise<MapResponse> {
    const res = await this.post('/machine/map', this.mapRequest(false, false));
    if (res.status !== 200) throw new HttpError(res.status, res.body.toString());
    const size = res.body.readUInt32LE(0);
    const { decompress } = await import('zstd-napi');
    return JSON.parse(decompress(res.body.subarray(4, 4 + size)).toString()) as MapResponse;
  }

  /**
   * Opens the streaming poll. Resolves once the first map has been applied.
   * Every later frame updates `netmap` and is emitted as 'map'.
   */
  async startStream(): Promise<MapResponse> {
    await this.connect();
    const req = this.request('/machine/map', this.mapRequest(true, false));
    this.streamAbort = () => req.close();
    const pending: { resolve: ((m: MapResponse) => void) | null; reject: ((e: Error) => void) | null } = { resolve: null, reject: null };
    const firstMap = new Promise<MapResponse>((resolve, reject) => {
      pending.resolve = resolve;
      pending.reject = reject;
    });
    const settle = (m: MapResponse | null, err: Error | null) => {
      const { resolve, reject } = pending;
      pending.resolve = pending.reject = null;
      if (m) resolve?.(m);
      else if (err) reject?.(err);
    };
    // Event-driven rather than an async iterator: a fleet of a thousand clients in one
    // process pays for every promise per frame.
    this.streamDone = new Promise<Error | null>((resolveDone) => {
      let done = false;
      const finish = (err: Error | null) => {
        if (done) return;
        done = true;
        this.emit('end', err);
        settle(null, err ?? new Error('map stream ended before the first map'));
        resolveDone(err);
      };
      req.on('response', (status) => {
        if (status !== 200) {
          const chunks: Buffer[] = [];
          req.on('data', (c) => chunks.push(c));
          req.on('end', () => finish(new HttpError(status, Buffer.concat(chunks).toString())));
          return;
        }
        const reader = new MapFrameReader(true);
        req.on('data', (chunk) => {
          let maps: MapResponse[];
          try {
            maps = reader.push(chunk);
          } catch (err) {
            req.close();
            finish(err as Error);
            return;
          }
          for (const m of maps) {
            this.netmap.apply(m);
            if (!m.KeepAlive) settle(m, null);
            this.emit('map', m);
          }
        });
        req.on('end', () => {
          try {
            reader.finish();
          } catch (err) {
            finish(err as Error);
            return;
          }
          finish(null);
        });
      });
      req.on('error', (err) => finish(err));
      req.on('close', () => finish(new Error('map stream closed before it ended')));
    });
    return firstMap;
  }

  /** Waits until `pred(netmap)` holds, checking after every map frame. */
  waitFor(pred: (nm: NetMap) => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
    if (pred(this.netmap)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onMap = () => {
        if (pred(this.netmap)) {
          cleanup();
          resolve();
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.off('map', onMap);
      };
      this.on('map', onMap);
    });
  }

  /**
   * Stops reading from the network without closing anything, as a machine that froze or lost
   * its link. Pausing the socket is enough in both modes: NoiseConn only decrypts (and hands
   * our HTTP/2 client) what the socket delivers.
   */
  simulateHang(): void {
    this.transportSocket?.pause();
  }

  /** Reads again after simulateHang(). */
  resumeAfterHang(): void {
    this.transportSocket?.resume();
  }

  stopStream(): void {
    this.streamAbort?.();
    this.streamAbort = null;
  }

  close(): void {
    this.stopStream();
    this.closeTransport?.();
    this.http = null;
    this.session = null;
    this.closeTransport = null;
  }
}
