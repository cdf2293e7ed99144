import { Duplex } from 'node:stream';
import type { WebSocket, RawData } from 'ws';

/**
 * Presents an open WebSocket as a byte stream: each write is sent as one
 * binary message and received binary messages are concatenated, the way
 * Tailscale's wsconn treats them. Text messages are a protocol error.
 */
export class WebSocketDuplex extends Duplex {
  readonly ws: WebSocket;
  readonly remoteAddress: string | undefined;

  constructor(ws: WebSocket, remoteAddress?: string) {
    super({ allowHalfOpen: false });
    this.ws = ws;
    this.remoteAddress = remoteAddress;
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (this.destroyed) return;
      if (!isBinary) {
        this.destroy(new Error('received a text WebSocket message; the control protocol uses binary messages only'));
        return;
      }
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer);
      if (!this.push(buf)) ws.pause();
    });
    ws.on('close', () => {
      if (!this.destroyed) this.push(null);
      // The WebSocket is gone either way; release our writable side too.
      if (!this.destroyed) this.destroy();
    });
    ws.on('error', (err) => this.destroy(err));
  }

  override _read(): void {
    if (this.ws.isPaused) this.ws.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.ws.readyState !== this.ws.OPEN) {
      cb(new Error('write after the WebSocket closed'));
      return;
    }
    this.ws.send(chunk, { binary: true }, (err) => cb(err ?? null));
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.close(1000);
    cb();
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) {
      if (err) this.ws.terminate();
      else this.ws.close(1000);
    }
    cb(err);
  }
}
