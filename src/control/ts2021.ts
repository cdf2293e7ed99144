import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { MIN_CAPABILITY_VERSION } from '../tailcfg/types.js';
import { NoiseConn } from '../noise/conn.js';
import { answerControlInitiation, asBuffer, resumeCiphers, type ControlAnswer } from '../noise/control-answer.js';
import { checkInitiationFraming } from '../noise/control-handshake.js';
import { isNoiseError } from '../noise/errors.js';
import { formatMachinePublic, prepareStaticKey, type KeyPair, type StaticKey } from '../noise/keys.js';
import { ResponderPool } from '../noise/responder-pool.js';
import { WebSocketDuplex } from '../noise/websocket-duplex.js';
import { HandshakeQueue, type HandshakeQueueOptions } from './handshake-queue.js';

/** Names fixed by controlhttpcommon. */
export const TS2021_PATH = '/ts2021';
export const UPGRADE_PROTOCOL = 'tailscale-control-protocol';
export const HANDSHAKE_HEADER = 'X-Tailscale-Handshake';

// A 101-byte initiation is 136 base64 characters; anything far beyond is junk.
const MAX_HANDSHAKE_B64 = 1024;
const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** An established control connection, handed to the caller to serve HTTP/2 on. */
export interface Ts2021Connection {
  /** Plaintext stream; give it to `http2Server.emit('connection', conn)`. */
  conn: NoiseConn;
  /** The client's machine key, "mkey:<hex>". */
  machineKey: string;
  machinePublicKey: Buffer;
  /** Version from the initiation header (the client's capability version). */
  protocolVersion: number;
  handshakeHash: Buffer;
  /** The NodeKeyChallenge key pair announced in the early payload (private half for verifying). */
  challenge: KeyPair;
  /** Whether the early payload was sent (protocol version >= 49). */
  earlyNoiseSent: boolean;
  transport: 'upgrade' | 'websocket';
  remoteAddress: string | undefined;
}

/** A refused ts2021 attempt, for logging. */
export interface Ts2021Rejection {
  status: number;
  message: string;
  remoteAddress: string | undefined;
}

export interface Ts2021Options {
  /** The server's Noise static private key (raw 32 bytes, or prepared with prepareStaticKey). */
  serverPrivateKey: Uint8Array | StaticKey;
  onConnection(c: Ts2021Connection): void;
  onReject?(r: Ts2021Rejection): void;
  /** Errors on an established connection (bad records, resets...). The connection is already destroyed. */
  onConnectionError?(err: Error, c: Ts2021Connection): void;
  /** Default MIN_CAPABILITY_VERSION (113). */
  minProtocolVersion?: number;
  /** Send the early payload over WebSocket too (Tailscale's server doesn't; clients accept it). Default true. */
  earlyNoiseOverWebSocket?: boolean;
  /**
   * Asked before any handshake work is done; a message refuses the attempt with 429 and
   * Retry-After (the caller counts and logs its own refusals: onReject is not called).
   */
  admitHandshake?(req: IncomingMessage): string | null;
  /** How native upgrades wait for their handshake (handshake-queue.ts); onDropped counts the ones given up. */
  queue?: HandshakeQueueOptions;
  /**
   * Worker threads that answer native upgrades' handshakes (responder-pool.ts); 0, the
   * default, answers them on this thread. WebSocket handshakes are answered here either way.
   */
  handshakeWorkers?: number;
  /** A handshake worker failed; handshakes go on, on this thread. */
  onWorkerError?(err: Error): void;
}

export type HandshakeCheck =
  | { ok: true; result: ControlAnswer }
  | { ok: false; status: 400; message: string };

type Refusal = { ok: false; status: 400; message: string };

/**
 * Validates a base64 handshake's encoding, framing and version, without cryptography.
 * Never throws: every problem comes back as a 400 with a message naming it.
 */
export function preflightHandshake(
  b64: string | string[] | undefined | null,
  minProtocolVersion: number = MIN_CAPABILITY_VERSION,
  source = `${HANDSHAKE_HEADER} header`,
): { ok: true; initiation: Buffer } | Refusal {
  const bad = (message: string): Refusal => ({ ok: false, status: 400, message });
  if (b64 === undefined || b64 === null || b64 === '') return bad(`missing ${source}`);
  if (Array.isArray(b64)) return bad(`more than one ${source}`);
  if (b64.length > MAX_HANDSHAKE_B64) {
    return bad(`${source} too large: ${b64.length} characters, a handshake initiation is 136`);
  }
  if (!STRICT_BASE64.test(b64)) return bad(`invalid ${source}: not padded standard base64`);
  const bytes = Buffer.from(b64, 'base64');
  let version: number;
  try {
    version = checkInitiationFraming(bytes);
  } catch (err) {
    return bad(`invalid handshake initiation in ${source}: ${(err as Error).message}`);
  }
  if (version < minProtocolVersion) {
    return bad(
      `client protocol version ${version} is too old: this server requires capability version ${minProtocolVersion} or newer; please upgrade Tailscale`,
    );
  }
  return { ok: true, initiation: bytes };
}

/** The 400 message for a handshake the responder refused. */
const responderRefusal = (err: Error): string => (isNoiseError(err) ? `noise handshake failed: ${err.message}` : `ts2021 upgrade failed: ${err.message}`);

/**
 * Validates a base64 handshake and runs the responder on this thread. Never throws on bad
 * input: every problem comes back as a 400 with a message naming it.
 */
export function checkHandshake(
  b64: string | string[] | undefined | null,
  serverPrivateKey: Uint8Array | StaticKey,
  minProtocolVersion: number = MIN_CAPABILITY_VERSION,
  source = `${HANDSHAKE_HEADER} header`,
  earlyPayload = true,
): HandshakeCheck {
  const pre = preflightHandshake(b64, minProtocolVersion, source);
  if (!pre.ok) return pre;
  try {
    return { ok: true, result: answerControlInitiation(prepareStaticKey(serverPrivateKey), pre.initiation, earlyPayload) };
  } catch (err) {
    if (!isNoiseError(err)) throw err;
    return { ok: false, status: 400, message: responderRefusal(err) };
  }
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  404: 'Not Found',
  405: 'Method Not Allowed',
  429: 'Too Many Requests',
  503: 'Service Unavailable',
};

/** Answers an upgrade request on its raw socket (no HTTP response object exists yet) and closes it. */
export function rawHttpError(socket: Duplex, status: number, message: string, extraHeaders = ''): void {
  const body = message + '\n';
  socket.end(
    `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `${extraHeaders}Connection: close\r\n\r\n${body}`,
  );
}

// The Date header only changes once a second; formatting it per upgrade is waste.
let dateSecond = -1;
let switchingHeader = Buffer.alloc(0);

function switchingProtocols(): Buffer {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    switchingHeader = Buffer.from(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${UPGRADE_PROTOCOL}\r\nConnection: upgrade\r\nDate: ${new Date(now).toUTCString()}\r\n\r\n`,
      'latin1',
    );
  }
  return switchingHeader;
}

function offersSubprotocol(header: string | undefined): boolean {
  return (header ?? '').split(',').some((p) => p.trim() === UPGRADE_PROTOCOL);
}

export type WebSocketCheck = HandshakeCheck | { ok: false; status: 405 | 429; message: string };

/** Extra header lines for a refusal's raw answer: a 429 says when to come back. */
export function refusalHeaders(status: number): string {
  return status === 429 ? 'Retry-After: 1\r\n' : '';
}

const UPGRADE_HELP =
  `ts2021 requires an HTTP upgrade (Upgrade: ${UPGRADE_PROTOCOL} with Connection: upgrade, or a WebSocket); ` +
  'if this server is behind a reverse proxy, make it pass Upgrade and Connection through\n';

export interface Ts2021Handler {
  /** Call from http.Server 'upgrade'. Returns false if the request isn't for /ts2021. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /**
   * For a WebSocket server of the caller's (Fastify's): checks a WebSocket upgrade of
   * /ts2021 before it is accepted. A refusal is reported to onReject; answer it with its status.
   */
  checkWebSocket(req: IncomingMessage): WebSocketCheck;
  /** Serves Noise on a WebSocket accepted after checkWebSocket said ok. */
  acceptWebSocket(ws: WebSocket, req: IncomingMessage, result: ControlAnswer): void;
  /** The 400 body for a plain request to /ts2021. */
  requestHelp(): string;
  /** Call from http.Server 'request': explains that /ts2021 needs an upgrade. Returns false for other paths. */
  handleRequest(req: IncomingMessage, res: ServerResponse): boolean;
  /** Native upgrades waiting for their handshake (other work yields to them). */
  readonly pendingHandshakes: number;
  /** Stops the WebSocket helper; established connections are left alone. */
  close(): void;
}

export function createTs2021Handler(opts: Ts2021Options): Ts2021Handler {
  const minVersion = opts.minProtocolVersion ?? MIN_CAPABILITY_VERSION;
  // Import the static key once; per-handshake import would double the cost.
  const serverKey = prepareStaticKey(opts.serverPrivateKey);
  const queue = new HandshakeQueue(opts.queue);
  const responders = new ResponderPool(serverKey, { workers: opts.handshakeWorkers ?? 0, onWorkerError: opts.onWorkerError });
  const earlyOverWebSocket = opts.earlyNoiseOverWebSocket ?? true;
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false, // Noise records don't compress
    maxPayload: 1 << 20,
    handleProtocols: (protocols) => (protocols.has(UPGRADE_PROTOCOL) ? UPGRADE_PROTOCOL : false),
  });

  const reject = (socket: Duplex, remoteAddress: string | undefined, status: number, message: string) => {
    opts.onReject?.({ status, message, remoteAddress });
    rawHttpError(socket, status, message);
  };

  /**
   * Wraps the secured stream and hands it over. `preamble` (what precedes the
   * records: the 101 and the Noise response) is written together with the
   * early payload record, so a native upgrade answers in one socket write.
   */
  const establish = (
    inner: Duplex,
    a: ControlAnswer,
    transport: 'upgrade' | 'websocket',
    remoteAddress: string | undefined,
    initialData: Buffer | undefined,
    preamble: Buffer[],
  ) => {
    const challenge: KeyPair = { privateKey: asBuffer(a.challengePrivate), publicKey: asBuffer(a.challengePublic) };
    // The early record was sealed with the send cipher's first nonce; NoiseConn continues after it.
    if (a.earlyRecord !== null) preamble.push(asBuffer(a.earlyRecord));
    if (preamble.length === 1) inner.write(preamble[0]);
    else if (preamble.length > 1) inner.write(Buffer.concat(preamble));
    const { send, recv } = resumeCiphers(a);
    const clientMachineKey = asBuffer(a.clientMachineKey);
    const handshakeHash = asBuffer(a.handshakeHash);
    const conn = new NoiseConn(inner, {
      send,
      recv,
      protocolVersion: a.protocolVersion,
      peerPublicKey: clientMachineKey,
      handshakeHash,
      initialData,
    });
    const info: Ts2021Connection = {
      conn,
      machineKey: formatMachinePublic(clientMachineKey),
      machinePublicKey: clientMachineKey,
      protocolVersion: a.protocolVersion,
      handshakeHash,
      challenge,
      earlyNoiseSent: a.earlyRecord !== null,
      transport,
      remoteAddress,
    };
    // Always listen, so a hostile peer's garbage can never become an uncaught error.
    conn.on('error', (err) => opts.onConnectionError?.(err, info));
    opts.onConnection(info);
  };

  /** Answers a native upgrade; `done` is called once the handshake is answered or refused. */
  const upgradeNative = (req: IncomingMessage, socket: Duplex, head: Buffer, remoteAddress: string | undefined, done: () => void) => {
    if (req.method !== 'POST') {
      done();
      reject(socket, remoteAddress, 405, `ts2021 upgrade must use POST, got ${req.method}`);
      return;
    }
    const pre = preflightHandshake(req.headers[HANDSHAKE_HEADER.toLowerCase()], minVersion);
    if (!pre.ok) {
      done();
      reject(socket, remoteAddress, pre.status, pre.message);
      return;
    }
    const initialData = head.length ? Buffer.from(head) : undefined;
    responders.answer(pre.initiation, true, (outcome) => {
      done();
      if (socket.destroyed) {
        opts.queue?.onDropped?.('closed');
        return;
      }
      if (!outcome.ok) {
        reject(socket, remoteAddress, 400, responderRefusal(outcome.error));
        return;
      }
      try {
        (socket as Duplex & { setNoDelay?: (v: boolean) => void }).setNoDelay?.(true);
        // The 101, the Noise response and the early payload go out in one write,
        // so in one segment (this used to take a cork, three writes and a nextTick).
        const preamble = [switchingProtocols(), asBuffer(outcome.answer.responseBytes)];
        establish(socket, outcome.answer, 'upgrade', remoteAddress, initialData, preamble);
      } catch (err) {
        // Called from a worker's message: nothing may escape to the event loop.
        reject(socket, remoteAddress, 400, `ts2021 upgrade failed: ${(err as Error).message}`);
      }
    });
  };

  const checkWebSocket = (req: IncomingMessage, url: URL): WebSocketCheck => {
    if (req.method !== 'GET') return { ok: false, status: 405, message: `ts2021 WebSocket upgrade must use GET, got ${req.method}` };
    if (!offersSubprotocol(req.headers['sec-websocket-protocol'])) {
      return { ok: false, status: 400, message: `client must speak the ${UPGRADE_PROTOCOL} WebSocket subprotocol` };
    }
    // Browsers can't set headers on WebSockets, so the handshake rides in the query.
    // A '+' left unescaped arrives as a space; put it back rather than fail.
    const param = url.searchParams.get(HANDSHAKE_HEADER)?.replace(/ /g, '+');
    return checkHandshake(param, serverKey, minVersion, `${HANDSHAKE_HEADER} query parameter`, earlyOverWebSocket);
  };

  const acceptWebSocket = (ws: WebSocket, remoteAddress: string | undefined, result: ControlAnswer) => {
    const duplex = new WebSocketDuplex(ws, remoteAddress);
    // Its own message, as before; the early payload record follows in a second one.
    duplex.write(asBuffer(result.responseBytes));
    establish(duplex, result, 'websocket', remoteAddress, undefined, []);
  };

  const upgradeWebSocket = (req: IncomingMessage, socket: Duplex, head: Buffer, url: URL, remoteAddress: string | undefined) => {
    const check = checkWebSocket(req, url);
    if (!check.ok) {
      reject(socket, remoteAddress, check.status, check.message);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => acceptWebSocket(ws, remoteAddress, check.result));
  };

  return {
    handleUpgrade(req, socket, head) {
      // Clients ask for exactly "/ts2021"; only other forms need the URL parser.
      const url = req.url === TS2021_PATH ? null : new URL(req.url ?? '/', 'http://unused');
      if (url !== null && url.pathname !== TS2021_PATH) return false;
      const remoteAddress = req.socket?.remoteAddress;
      // Until a NoiseConn owns the socket, a reset must not become an uncaught error.
      socket.on('error', () => socket.destroy());
      const refused = opts.admitHandshake?.(req) ?? null;
      if (refused !== null) {
        // Refused before the handshake is even decoded: a flood costs no cryptography.
        rawHttpError(socket, 429, refused, refusalHeaders(429));
        return true;
      }
      try {
        const next = String(req.headers.upgrade ?? '').toLowerCase();
        if (next === UPGRADE_PROTOCOL) {
          queue.enqueue(socket, (done) => {
            try {
              upgradeNative(req, socket, head, remoteAddress, done);
            } catch (err) {
              done();
              reject(socket, remoteAddress, 400, `ts2021 upgrade failed: ${(err as Error).message}`);
            }
          });
        }
        else if (next === 'websocket') upgradeWebSocket(req, socket, head, url ?? new URL(TS2021_PATH, 'http://unused'), remoteAddress);
        else if (next === '') reject(socket, remoteAddress, 400, 'missing next protocol in Upgrade header');
        else reject(socket, remoteAddress, 400, `unknown next protocol ${JSON.stringify(next.slice(0, 64))} in Upgrade header; want ${UPGRADE_PROTOCOL}`);
      } catch (err) {
        // Defensive: nothing above should throw, but never let it escape the server.
        reject(socket, remoteAddress, 400, `ts2021 upgrade failed: ${(err as Error).message}`);
      }
      return true;
    },

    checkWebSocket(req) {
      const refused = opts.admitHandshake?.(req) ?? null;
      if (refused !== null) return { ok: false, status: 429, message: refused };
      const check = checkWebSocket(req, new URL(req.url ?? '/', 'http://unused'));
      if (!check.ok) opts.onReject?.({ status: check.status, message: check.message, remoteAddress: req.socket?.remoteAddress });
      return check;
    },

    acceptWebSocket(ws, req, result) {
      acceptWebSocket(ws, req.socket?.remoteAddress, result);
    },

    requestHelp: () => UPGRADE_HELP,

    handleRequest(req, res) {
      const url = new URL(req.url ?? '/', 'http://unused');
      if (url.pathname !== TS2021_PATH) return false;
      const body = UPGRADE_HELP;
      res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
      return true;
    },

    get pendingHandshakes() {
      return queue.length;
    },

    close() {
      queue.close();
      responders.close();
      wss.close();
    },
  };
}
