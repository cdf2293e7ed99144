import { EventEmitter } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';
import { connectHttp2 } from '../http2/attach.js';
import type { H2ClientConnection } from '../http2/client.js';
import type { EarlyNoise } from '../tailcfg/types.js';
import { NoiseConn } from '../noise/conn.js';
import { createInitiation, parseServerFrameHeader, peerErrorFromFrame, type ControlInitiation } from '../noise/control-handshake.js';
import { readEarlyPayload } from '../noise/early-payload.js';
import { NoiseError } from '../noise/errors.js';
import { KEY_PREFIX, formatMachinePublic, parseMachinePublic, publicFromPrivate, toRawKey } from '../noise/keys.js';
import { HEADER_LEN, MSG_TYPE_ERROR, MSG_TYPE_RESPONSE, RESPONSE_PAYLOAD_LEN } from '../noise/messages.js';
import { readExact } from '../noise/read-exact.js';
import { WebSocketDuplex } from '../noise/websocket-duplex.js';

// Mirrors src/control/ts2021.ts; duplicated as literals so the client needn't import server code.
const UPGRADE_PROTOCOL = 'tailscale-control-protocol';
const HANDSHAKE_HEADER = 'X-Tailscale-Handshake';
const DEFAULT_VERSION = 113;
const MAX_ERROR_BODY = 4096;

export interface DialControlOptions {
  /** Raw 32 bytes or "privkey:<hex>". */
  machinePrivateKey: Uint8Array | string;
  /** Raw 32 bytes or "mkey:<hex>"; fetched from GET /key?v=N when absent. */
  serverPublicKey?: Uint8Array | string;
  /** Capability version sent in the initiation header; default 113. */
  protocolVersion?: number;
  /** Use GET /ts2021 over WebSocket (as browser clients do) instead of the POST upgrade. */
  webSocket?: boolean;
  /** Limit for the whole dial, default 10 s. */
  timeoutMs?: number;
  /** Gives the dial up early (a caller's own deadline); it fails with the signal's reason. */
  signal?: AbortSignal;
  /**
   * Which HTTP/2 client speaks inside the Noise channel: ours (src/http2/client.ts) or
   * node:http2's. Default 'node' here, so `session` is there for callers that use it
   * directly; TailscaleClient defaults to 'builtin'.
   */
  http2?: Http2Mode;
}

export type Http2Mode = 'builtin' | 'node';

/**
 * One request on a ControlHttp. Events: 'response' (status, headers), 'data' (Buffer),
 * 'end', 'error' (Error; only emitted when listened to), then 'close' (reset code, or null
 * after a normal end) exactly once.
 */
export interface ControlRequest {
  on(event: 'response', listener: (status: number, headers: Record<string, string>) => void): this;
  on(event: 'data', listener: (chunk: Buffer) => void): this;
  on(event: 'end', listener: () => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  on(event: 'close', listener: (code: number | null) => void): this;
  /** Abandons the request (RST_STREAM CANCEL). */
  close(): void;
}

/** The HTTP/2 client a control connection carries, whichever implementation it is. */
export interface ControlHttp {
  readonly mode: Http2Mode;
  /** True once no new request can succeed (closing, GOAWAY received, failed or closed). */
  readonly closed: boolean;
  request(method: string, path: string, body?: Buffer | string, headers?: Record<string, string>): ControlRequest;
  /** Sends a PING; false when it could not be sent. */
  ping(cb: (err: Error | null) => void): boolean;
  /** No new requests; resolves once the open ones are done and the connection has closed. */
  close(): Promise<void>;
  destroy(): void;
}

/** A dialled control connection, with either HTTP/2 client. */
export interface ControlLink {
  http: ControlHttp;
  /** The node:http2 session, in 'node' mode only. */
  session?: http2.ClientHttp2Session;
  conn: NoiseConn;
  /** The server's early payload, or null if it went straight to HTTP/2. */
  earlyNoise: EarlyNoise | null;
  /** Our machine public key, "mkey:<hex>". */
  machineKey: string;
  /** The server key we authenticated, "mkey:<hex>". */
  serverPublicKey: string;
  protocolVersion: number;
  handshakeHash: Buffer;
  close(): Promise<void>;
}

/** A control connection whose HTTP/2 is node:http2's (http2: 'node'). */
export interface ControlConnection extends ControlLink {
  /** HTTP/2 (prior knowledge) over the Noise channel. */
  session: http2.ClientHttp2Session;
}

/** How long a graceful close may take before the connection is cut. */
const CLOSE_GRACE_MS = 5_000;

/** ControlHttp over our own client: requests are the client's streams themselves, no wrapper. */
class BuiltinControlHttp implements ControlHttp {
  readonly mode = 'builtin' as const;

  constructor(
    readonly h2: H2ClientConnection,
    private readonly authority: string,
  ) {}

  get closed(): boolean {
    return this.h2.draining;
  }

  request(method: string, path: string, body?: Buffer | string, headers?: Record<string, string>): ControlRequest {
    const b = body === undefined || Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
    return this.h2.request({ method, path, authority: this.authority, headers }, b);
  }

  ping(cb: (err: Error | null) => void): boolean {
    return this.h2.ping((err) => cb(err));
  }

  close(): Promise<void> {
    const h2 = this.h2;
    if (h2.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => h2.destroy(), CLOSE_GRACE_MS);
      h2.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      h2.close();
    });
  }

  destroy(): void {
    this.h2.destroy();
  }
}

interface ControlRequestEvents {
  response: [status: number, headers: Record<string, string>];
  data: [chunk: Buffer];
  end: [];
  error: [err: Error];
  close: [code: number | null];
}

/** A node:http2 client stream seen as a ControlRequest. */
class NodeControlRequest extends EventEmitter<ControlRequestEvents> implements ControlRequest {
  constructor(private readonly req: http2.ClientHttp2Stream) {
    super();
    req.on('response', (h) => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(h)) if (v !== undefined && !k.startsWith(':')) headers[k] = Array.isArray(v) ? v.join(', ') : String(v);
      this.emit('response', Number(h[':status']), headers);
      // Only now: node:http2 can deliver body chunks before it emits 'response'.
      req.on('data', (d: Buffer) => this.emit('data', d));
    });
    req.on('end', () => this.emit('end'));
    req.on('error', (err: Error) => {
      if (this.listenerCount('error') > 0) this.emit('error', err);
    });
    req.on('close', () => this.emit('close', req.rstCode === undefined || req.rstCode === http2.constants.NGHTTP2_NO_ERROR ? null : req.rstCode));
  }

  close(): void {
    this.req.close(http2.constants.NGHTTP2_CANCEL);
  }
}

class NodeControlHttp implements ControlHttp {
  readonly mode = 'node' as const;

  constructor(readonly session: http2.ClientHttp2Session) {}

  get closed(): boolean {
    return this.session.closed || this.session.destroyed;
  }

  request(method: string, path: string, body?: Buffer | string, headers: Record<string, string> = {}): ControlRequest {
    const req = this.session.request({ ':method': method, ':path': path, ...headers });
    const r = new NodeControlRequest(req);
    req.end(body);
    return r;
  }

  ping(cb: (err: Error | null) => void): boolean {
    try {
      return this.session.ping((err) => cb(err));
    } catch {
      return false; // the session is already closed
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed) {
        resolve();
        return;
      }
      this.session.close(() => resolve());
    });
  }

  destroy(): void {
    this.session.destroy();
  }
}

/** Resolves once the server's SETTINGS arrived; rejects if the connection ends or fails first. */
function whenConnected(h2: H2ClientConnection, failed: Promise<never>): Promise<void> {
  if (h2.connected) return Promise.resolve();
  if (h2.closed) return Promise.race([failed, Promise.reject(new Error("connection closed before the server's HTTP/2 SETTINGS arrived"))]);
  let onConnect = () => {};
  let onClose = (_err: Error | null) => {};
  const p = new Promise<void>((resolve, reject) => {
    onConnect = resolve;
    onClose = (err) => reject(err ?? new Error("connection closed before the server's HTTP/2 SETTINGS arrived"));
    h2.once('connect', onConnect);
    h2.once('close', onClose);
  });
  return Promise.race([p, failed]).finally(() => {
    h2.off('connect', onConnect);
    h2.off('close', onClose);
  });
}

/** GET /key?v=N and return the server's Noise public key (raw). */
export async function fetchServerKey(serverUrl: string, capabilityVersion = DEFAULT_VERSION): Promise<Buffer> {
  const url = new URL(`/key?v=${capabilityVersion}`, serverUrl);
  // A fresh connection every time: a pooled keep-alive socket may belong to a server that restarted.
  const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = (url.protocol === 'https:' ? https : http).get(url, { agent: false }, (res) => {
      readBody(res).then((body) => resolve({ status: res.statusCode ?? 0, text: body }), reject);
    });
    req.on('error', (err) => reject(new Error(`fetching server key from ${url}: ${err.message}`)));
  });
  if (status !== 200) throw new Error(`fetching server key from ${url}: HTTP ${status}: ${text.trim().slice(0, 200)}`);
  let body: { publicKey?: unknown };
  try {
    body = JSON.parse(text) as { publicKey?: unknown };
  } catch {
    throw new Error(`fetching server key from ${url}: response is not JSON`);
  }
  if (typeof body.publicKey !== 'string') throw new Error(`fetching server key from ${url}: response has no publicKey string`);
  return parseMachinePublic(body.publicKey);
}

function readBody(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let n = 0;
    res.on('data', (d: Buffer) => {
      if (n < MAX_ERROR_BODY) parts.push(d);
      n += d.length;
    });
    res.on('end', () => resolve(Buffer.concat(parts).toString('utf8').slice(0, MAX_ERROR_BODY).trim()));
    res.on('error', () => resolve(Buffer.concat(parts).toString('utf8').trim()));
  });
}

/** POST /ts2021 with the initiation in a header; resolves with the switched socket. */
/** `signal`: the dial gave up; the request (and a socket it still upgrades to) is destroyed, never left open. */
function upgradeOverHttp(url: URL, initiation: Buffer, signal: AbortSignal): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const mod = url.protocol === 'https:' ? https : http;
    const req = mod.request({
      host: url.hostname,
      port: url.port || (url.protocol === 'https:' ? 443 : 80),
      method: 'POST',
      path: '/ts2021',
      agent: false,
      headers: {
        Upgrade: UPGRADE_PROTOCOL,
        Connection: 'upgrade',
        [HANDSHAKE_HEADER]: initiation.toString('base64'),
        'Content-Length': '0',
      },
    });
    signal.addEventListener('abort', () => req.destroy(), { once: true });
    req.on('upgrade', (res: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      if (signal.aborted) {
        socket.destroy();
        return;
      }
      const next = String(res.headers.upgrade ?? '');
      if (next !== UPGRADE_PROTOCOL) {
        socket.destroy();
        reject(new Error(`server switched to unexpected protocol ${JSON.stringify(next)}`));
        return;
      }
      if (head.length) socket.unshift(head);
      resolve(socket);
    });
    req.on('response', (res: http.IncomingMessage) => {
      void readBody(res).then((body) =>
        reject(new Error(`server refused the ts2021 upgrade: HTTP ${res.statusCode} ${res.statusMessage ?? ''}: ${body}`)),
      );
    });
    req.on('error', (err) => reject(new Error(`ts2021 upgrade request failed: ${err.message}`)));
    req.end();
  });
}

/** GET /ts2021 as a WebSocket, initiation in the query, as browser clients do. */
function upgradeOverWebSocket(url: URL, initiation: Buffer): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const wsUrl = new URL('/ts2021', url);
    wsUrl.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    wsUrl.searchParams.set(HANDSHAKE_HEADER, initiation.toString('base64'));
    const ws = new WebSocket(wsUrl, [UPGRADE_PROTOCOL], { perMessageDeflate: false });
    ws.once('open', () => {
      if (ws.protocol !== UPGRADE_PROTOCOL) {
        ws.terminate();
        reject(new Error(`server picked WebSocket subprotocol ${JSON.stringify(ws.protocol)}, want ${UPGRADE_PROTOCOL}`));
        return;
      }
      resolve(new WebSocketDuplex(ws));
    });
    ws.once('unexpected-response', (_req, res: http.IncomingMessage) => {
      void readBody(res).then((body) => {
        ws.terminate();
        reject(new Error(`server refused the ts2021 WebSocket upgrade: HTTP ${res.statusCode} ${res.statusMessage ?? ''}: ${body}`));
      });
    });
    ws.once('error', (err) => reject(new Error(`ts2021 WebSocket failed: ${err.message}`)));
  });
}

/** Reads the server's response (or error) frame and completes the handshake. */
async function finishHandshake(stream: Duplex, ci: ControlInitiation): Promise<NoiseConn> {
  const hdr = await readExact(stream, HEADER_LEN, 'the handshake response header');
  const { type, length } = parseServerFrameHeader(hdr);
  if (type === MSG_TYPE_ERROR) {
    throw peerErrorFromFrame(length ? await readExact(stream, length, 'the server error message') : Buffer.alloc(0));
  }
  if (type !== MSG_TYPE_RESPONSE) throw new NoiseError('BAD_TYPE', `unexpected handshake response message type ${type}`);
  if (length !== RESPONSE_PAYLOAD_LEN) throw new NoiseError('BAD_LENGTH', `wrong length ${length} received for handshake response`);
  const body = await readExact(stream, length, 'the handshake response');
  const done = ci.complete(Buffer.concat([hdr, body]));
  return new NoiseConn(stream, {
    send: done.send,
    recv: done.recv,
    protocolVersion: ci.protocolVersion,
    handshakeHash: done.handshakeHash,
  });
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string, onTimeout: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout();
      reject(new Error(`${what} timed out after ${ms} ms`));
    }, ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/**
 * Opens a ts2021 control connection: upgrade, Noise handshake, optional early
 * payload, then an HTTP/2 client over the secured channel (ours, or node:http2's).
 */
export function dialControl(serverUrl: string, opts: DialControlOptions & { http2: 'builtin' }): Promise<ControlLink>;
export function dialControl(serverUrl: string, opts: DialControlOptions & { http2?: 'node' }): Promise<ControlConnection>;
export function dialControl(serverUrl: string, opts: DialControlOptions): Promise<ControlLink>;
export async function dialControl(serverUrl: string, opts: DialControlOptions): Promise<ControlLink> {
  const url = new URL(serverUrl);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`control URL must be http:// or https://, got ${url.protocol}`);
  }
  const mode = opts.http2 ?? 'node';
  const version = opts.protocolVersion ?? DEFAULT_VERSION;
  const machinePriv = toRawKey(opts.machinePrivateKey, KEY_PREFIX.machinePrivate);
  const serverPub =
    opts.serverPublicKey === undefined ? await fetchServerKey(serverUrl, version) : toRawKey(opts.serverPublicKey, KEY_PREFIX.machinePublic);
  const ci = createInitiation(machinePriv, serverPub, version);

  let stream: Duplex | undefined;
  let conn: NoiseConn | undefined;
  // A dial that times out while its TCP connect or upgrade is still under way must not leave
  // that socket to finish later: it would hold a connection on the server that no one uses.
  const upgrading = new AbortController();
  const abort = () => {
    upgrading.abort();
    conn?.destroy();
    stream?.destroy();
  };
  const setup = async (): Promise<{ http: ControlHttp; session?: http2.ClientHttp2Session; earlyNoise: EarlyNoise | null; conn: NoiseConn }> => {
    stream = await (opts.webSocket ? upgradeOverWebSocket(url, ci.initiationBytes) : upgradeOverHttp(url, ci.initiationBytes, upgrading.signal));
    conn = await finishHandshake(stream, ci);
    const earlyNoise = await readEarlyPayload(conn);
    const c = conn;
    if (mode === 'builtin') {
      // A protocol failure before the server's SETTINGS fails the dial with its message.
      let failDial: (err: Error) => void = () => {};
      const failed = new Promise<never>((_, reject) => (failDial = reject));
      failed.catch(() => {});
      const h2 = connectHttp2(c, { onError: (err) => failDial(err) });
      await whenConnected(h2, failed);
      return { http: new BuiltinControlHttp(h2, url.host), earlyNoise, conn: c };
    }
    const session = http2.connect(`http://${url.host}`, { createConnection: () => c });
    await new Promise<void>((resolve, reject) => {
      session.once('connect', () => resolve());
      session.once('error', reject);
    });
    return { http: new NodeControlHttp(session), session, earlyNoise, conn: c };
  };
  try {
    const signal = opts.signal;
    const work = signal
      ? Promise.race([
          setup(),
          new Promise<never>((_, reject) => {
            const fail = () => reject(signal.reason instanceof Error ? signal.reason : new Error('ts2021 dial aborted'));
            if (signal.aborted) fail();
            else signal.addEventListener('abort', fail, { once: true });
          }),
        ])
      : setup();
    const { http: h, session, earlyNoise, conn: c } = await withTimeout(work, opts.timeoutMs ?? 10_000, 'ts2021 dial', abort);
    // Errors after setup surface on the HTTP/2 client; keep the raw stream from crashing the process.
    c.on('error', () => {});
    session?.on('error', () => {});
    return {
      http: h,
      session,
      conn: c,
      earlyNoise,
      machineKey: formatMachinePublic(publicFromPrivate(machinePriv)),
      serverPublicKey: formatMachinePublic(serverPub),
      protocolVersion: version,
      handshakeHash: c.handshakeHash as Buffer,
      close: async () => {
        await h.close();
        c.destroy();
      },
    };
  } catch (err) {
    abort();
    throw err;
  }
}
