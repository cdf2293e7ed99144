// A small DERP client for the tests, written from the protocol description rather than
// from the server's code (its own framing and boxes), so the two cannot share a mistake.

import net from 'node:net';
import { randomBytes } from 'node:crypto';
import nacl from 'tweetnacl';
import WebSocket from 'ws';

export const T = {
  ServerKey: 0x01,
  ClientInfo: 0x02,
  ServerInfo: 0x03,
  SendPacket: 0x04,
  RecvPacket: 0x05,
  KeepAlive: 0x06,
  NotePreferred: 0x07,
  PeerGone: 0x08,
  PeerPresent: 0x09,
  ForwardPacket: 0x0a,
  WatchConns: 0x10,
  ClosePeer: 0x11,
  Ping: 0x12,
  Pong: 0x13,
} as const;

export interface Frame {
  type: number;
  body: Buffer;
}

export function encodeFrame(type: number, body: Uint8Array = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(5);
  h[0] = type;
  h.writeUInt32BE(body.length, 1);
  return Buffer.concat([h, body]);
}

export function newNodeKey(): { priv: Buffer; pub: Buffer } {
  const kp = nacl.box.keyPair();
  return { priv: Buffer.from(kp.secretKey), pub: Buffer.from(kp.publicKey) };
}

export function sealTo(priv: Uint8Array, theirPub: Uint8Array, msg: Uint8Array): Buffer {
  const nonce = randomBytes(24);
  return Buffer.concat([nonce, nacl.box(msg, nonce, theirPub, priv)]);
}

/** A disco-looking packet: "TS💬", a 32-byte key, a 24-byte nonce, then bytes. */
export function discoPacket(): Buffer {
  return Buffer.concat([Buffer.from('TS💬', 'utf8'), randomBytes(32 + 24 + 16)]);
}

interface Transport {
  write(b: Buffer): void;
  destroy(): void;
  pause(): void;
  resume(): void;
}

export interface ConnectOptions {
  key?: { priv: Buffer; pub: Buffer };
  /** Skip the login: the test drives it with raw(). */
  noLogin?: boolean;
  websocket?: boolean;
  /** Sends Derp-Fast-Start: 1 and the client info in the same write as the request. */
  fastStart?: { serverKey: Buffer };
  /** The client info to seal (default: version 2, CanAckPings); e.g. with a meshKey. */
  info?: object;
}

export class DerpTestClient {
  readonly frames: Frame[] = [];
  headers = '';
  serverKey: Buffer = Buffer.alloc(0);
  serverInfo: unknown = null;
  closed = false;
  readonly closedPromise: Promise<void>;
  private buf = Buffer.alloc(0);
  private gotHeaders = false;
  private waiters: Array<() => void> = [];
  private t!: Transport;
  private resolveClosed!: () => void;

  constructor(readonly key: { priv: Buffer; pub: Buffer }) {
    this.closedPromise = new Promise((r) => (this.resolveClosed = r));
  }

  static async connect(base: string, o: ConnectOptions = {}): Promise<DerpTestClient> {
    const c = new DerpTestClient(o.key ?? newNodeKey());
    const u = new URL(base);
    if (o.websocket) {
      const ws = new WebSocket(`ws://${u.host}/derp`, 'derp');
      ws.binaryType = 'nodebuffer';
      c.gotHeaders = true;
      // Attached before 'open': the server key can arrive in the same read as the 101.
      ws.on('message', (d: Buffer) => c.onData(d));
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      c.t = { write: (b) => ws.send(b), destroy: () => ws.terminate(), pause: () => ws.pause(), resume: () => ws.resume() };
      ws.on('close', () => c.onClose());
    } else {
      const sock = net.connect(Number(u.port), u.hostname);
      await new Promise<void>((resolve, reject) => {
        sock.once('connect', () => resolve());
        sock.once('error', reject);
      });
      sock.on('error', () => {});
      c.t = { write: (b) => sock.write(b), destroy: () => sock.destroy(), pause: () => sock.pause(), resume: () => sock.resume() };
      sock.on('data', (d: Buffer) => c.onData(d));
      sock.on('close', () => c.onClose());
      let req = `GET /derp HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: DERP\r\nConnection: Upgrade\r\n`;
      if (o.fastStart) {
        req += 'Derp-Fast-Start: 1\r\n\r\n';
        c.gotHeaders = true;
        c.serverKey = o.fastStart.serverKey;
        sock.write(Buffer.concat([Buffer.from(req), c.clientInfoFrame()]));
      } else sock.write(req + '\r\n');
    }
    if (o.noLogin) return c;
    if (!o.fastStart) {
      const sk = await c.next(T.ServerKey);
      assertMagic(sk.body);
      c.serverKey = sk.body.subarray(8, 40);
      c.raw(c.clientInfoFrame(o.info));
    } else {
      // The server sends its key frame all the same; the client already knows the key.
      const sk = await c.next(T.ServerKey);
      if (!sk.body.subarray(8, 40).equals(c.serverKey)) throw new Error('server key differs from the expected one');
    }
    const si = await c.next(T.ServerInfo);
    const opened = nacl.box.open(si.body.subarray(24), si.body.subarray(0, 24), c.serverKey, c.key.priv);
    if (!opened) throw new Error('server info box does not open');
    c.serverInfo = JSON.parse(Buffer.from(opened).toString());
    return c;
  }

  clientInfoFrame(info: object = { version: 2, CanAckPings: true }, sealKey: Uint8Array = this.key.priv): Buffer {
    return encodeFrame(T.ClientInfo, Buffer.concat([this.key.pub, sealTo(sealKey, this.serverKey, Buffer.from(JSON.stringify(info)))]));
  }

  raw(b: Buffer): void {
    this.t.write(b);
  }

  send(dst: Buffer, packet: Buffer): void {
    this.raw(encodeFrame(T.SendPacket, Buffer.concat([dst, packet])));
  }

  pause(): void {
    this.t.pause();
  }

  resume(): void {
    this.t.resume();
  }

  close(): void {
    this.t.destroy();
  }

  /** The next frame of `type` (others are skipped and kept), within timeoutMs. */
  async next(type?: number, timeoutMs = 5_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.frames.findIndex((f) => type === undefined || f.type === type);
      if (i >= 0) return this.frames.splice(i, 1)[0]!;
      if (this.closed) throw new Error(`connection closed while waiting for frame type ${type}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no frame of type ${type} within ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** Resolves true when the server closes the connection within timeoutMs. */
  async closedWithin(timeoutMs: number): Promise<boolean> {
    return Promise.race([this.closedPromise.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs))]);
  }

  private onData(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    if (!this.gotHeaders) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      this.headers = this.buf.subarray(0, end).toString();
      this.buf = this.buf.subarray(end + 4);
      this.gotHeaders = true;
    }
    while (this.buf.length >= 5) {
      const len = this.buf.readUInt32BE(1);
      if (this.buf.length < 5 + len) break;
      this.frames.push({ type: this.buf[0]!, body: Buffer.from(this.buf.subarray(5, 5 + len)) });
      this.buf = this.buf.subarray(5 + len);
    }
    this.wake();
  }

  private onClose(): void {
    this.closed = true;
    this.resolveClosed();
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

function assertMagic(body: Buffer): void {
  const magic = Buffer.from([0x44, 0x45, 0x52, 0x50, 0xf0, 0x9f, 0x94, 0x91]);
  if (body.length < 40 || !body.subarray(0, 8).equals(magic)) throw new Error(`server key frame without DERP magic: ${body.toString('hex')}`);
}
