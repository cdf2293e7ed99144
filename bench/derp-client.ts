// A lean DERP client for load: login, then sending one prebuilt frame as fast as the
// socket takes it, and counting received packets by their headers only.

import net from 'node:net';
import { randomBytes } from 'node:crypto';
import nacl from 'tweetnacl';

function frame(type: number, body: Uint8Array): Buffer {
  const b = Buffer.alloc(5 + body.length);
  b[0] = type;
  b.writeUInt32BE(body.length, 1);
  b.set(body, 5);
  return b;
}

export class LoadClient {
  readonly pub: Buffer;
  private readonly priv: Uint8Array;
  private sock!: net.Socket;
  private pending: Buffer = Buffer.alloc(0);
  private loggedIn!: () => void;
  private stage: 'http' | 'key' | 'info' | 'open' = 'http';
  /** Packets and packet bytes received (frameRecvPacket, without the source key). */
  packets = 0;
  bytes = 0;
  onPacket: ((body: Buffer) => void) | null = null;

  constructor() {
    const kp = nacl.box.keyPair();
    this.pub = Buffer.from(kp.publicKey);
    this.priv = kp.secretKey;
  }

  connect(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.loggedIn = resolve;
      this.sock = net.connect(port, '127.0.0.1', () => {
        this.sock.setNoDelay(true);
        this.sock.write(`GET /derp HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: DERP\r\nConnection: Upgrade\r\n\r\n`);
      });
      this.sock.on('error', reject);
      this.sock.on('data', (d: Buffer) => this.onData(d));
    });
  }

  /** Writes `f` until `stop()` says so, waiting for drain when the socket is full (open loop: the relay drops the excess). */
  async blast(f: Buffer, stop: () => boolean): Promise<number> {
    let sent = 0;
    while (!stop()) {
      let ok = true;
      for (let i = 0; i < 64 && ok; i++, sent++) ok = this.sock.write(f);
      if (!ok) await new Promise<void>((r) => this.sock.once('drain', () => r()));
      else await new Promise<void>((r) => setImmediate(r));
    }
    return sent;
  }

  /**
   * Closed loop: at most `window` packets to `to` in flight (sent, not yet received), so
   * a relay that keeps up never has to drop; what is measured is how fast it relays. A
   * packet lost anyway is written off after 200 ms without progress.
   */
  async windowed(f: Buffer, to: LoadClient, window: number, stop: () => boolean): Promise<number> {
    let sent = 0;
    let base = to.packets;
    while (!stop()) {
      while (sent - (to.packets - base) < window) {
        this.sock.write(f);
        sent++;
      }
      const before = to.packets;
      await new Promise<void>((r) => {
        const t = setTimeout(() => r(), 200);
        to.onPacket = () => {
          if (sent - (to.packets - base) <= window / 2) {
            clearTimeout(t);
            to.onPacket = null;
            r();
          }
        };
      });
      to.onPacket = null;
      if (to.packets === before) base = to.packets - sent; // no progress: forget what is in flight
    }
    return sent;
  }

  sendFrame(dst: Buffer, packet: Buffer): Buffer {
    return frame(0x04, Buffer.concat([dst, packet]));
  }

  write(f: Buffer): void {
    this.sock.write(f);
  }

  pause(): void {
    this.sock.pause();
  }

  close(): void {
    this.sock.destroy();
  }

  private onData(chunk: Buffer): void {
    let d: Buffer = chunk;
    if (this.stage === 'http') {
      this.pending = Buffer.concat([this.pending, d]);
      const end = this.pending.indexOf('\r\n\r\n');
      if (end < 0) return;
      d = this.pending.subarray(end + 4);
      this.pending = Buffer.alloc(0);
      this.stage = 'key';
    }
    this.pending = this.pending.length ? Buffer.concat([this.pending, d]) : d;
    let off = 0;
    const p = this.pending;
    while (p.length - off >= 5) {
      const len = p.readUInt32BE(off + 1);
      if (p.length - off < 5 + len) break;
      const type = p[off]!;
      const body = p.subarray(off + 5, off + 5 + len);
      if (type === 0x05) {
        this.packets++;
        this.bytes += len - 32;
        this.onPacket?.(body);
      } else if (type === 0x01 && this.stage === 'key') {
        const serverKey = body.subarray(8, 40);
        const nonce = randomBytes(24);
        const box = nacl.box(Buffer.from(JSON.stringify({ version: 2, CanAckPings: true })), nonce, serverKey, this.priv);
        this.sock.write(frame(0x02, Buffer.concat([this.pub, nonce, box])));
        this.stage = 'info';
      } else if (type === 0x03 && this.stage === 'info') {
        this.stage = 'open';
        this.loggedIn();
      }
      off += 5 + len;
    }
    this.pending = off === p.length ? Buffer.alloc(0) : Buffer.from(p.subarray(off));
  }
}
