// Native ts2021 upgrades wait here for their Noise handshake instead of running inside the
// socket's read callback. After a restart every client comes back within a second or two,
// and one turn of the event loop could hold thousands of readable upgrades: answered on
// the spot, that turn runs for seconds, no connection is accepted meanwhile (the listen
// queue overflows, and a dropped SYN is retried only after 1, 3, 7 s), and the streams
// already up wait too. So the work is done in slices, yielding to I/O between them, and an
// upgrade that waited longer than its client does (tailscaled gives a dial 10 s in all)
// is dropped without spending cryptography on an answer no one reads.

import type { Duplex } from 'node:stream';

export interface HandshakeQueueOptions {
  /** Handshakes are answered for at most this long per turn of the event loop (ms). */
  sliceMs?: number;
  /** An upgrade queued longer than this is dropped unanswered (ms). */
  maxWaitMs?: number;
  /** Clock in milliseconds (tests pass their own). */
  now?: () => number;
  /** Called for each upgrade dropped: its socket was closed meanwhile, or it waited too long. */
  onDropped?(reason: 'closed' | 'expired'): void;
}

/** Slices short enough that accepts and reads keep up; long enough to amortise the yield. */
export const DEFAULT_SLICE_MS = 10;
/** Below tailscaled's 10 s dial limit, which also covers TCP connect and the answer's way back. */
export const DEFAULT_MAX_WAIT_MS = 8_000;

interface Waiting {
  at: number;
  socket: Duplex;
  run: () => void;
}

export class HandshakeQueue {
  private items: Waiting[] = [];
  private head = 0;
  private scheduled = false;
  private closed = false;
  private readonly sliceMs: number;
  private readonly maxWaitMs: number;
  private readonly now: () => number;

  constructor(private readonly opts: HandshakeQueueOptions = {}) {
    this.sliceMs = opts.sliceMs ?? DEFAULT_SLICE_MS;
    this.maxWaitMs = opts.maxWaitMs ?? DEFAULT_MAX_WAIT_MS;
    this.now = opts.now ?? (() => performance.now());
  }

  /** Upgrades waiting for their turn. */
  get length(): number {
    return this.items.length - this.head;
  }

  /** Runs `run` for `socket` on a later turn, unless the socket is gone or has waited too long by then. */
  enqueue(socket: Duplex, run: () => void): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    this.items.push({ at: this.now(), socket, run });
    this.schedule();
  }

  /** Drops everything queued (the server is stopping). */
  close(): void {
    this.closed = true;
    for (let i = this.head; i < this.items.length; i++) this.items[i]!.socket.destroy();
    this.items = [];
    this.head = 0;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.drain());
  }

  private drain(): void {
    this.scheduled = false;
    const start = this.now();
    while (this.head < this.items.length) {
      const w = this.items[this.head]!;
      this.items[this.head++] = undefined as unknown as Waiting; // let it be collected
      if (w.socket.destroyed) {
        this.opts.onDropped?.('closed');
        continue;
      }
      if (start - w.at > this.maxWaitMs) {
        w.socket.destroy();
        this.opts.onDropped?.('expired');
        continue;
      }
      w.run();
      if (this.now() - start >= this.sliceMs) break;
    }
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else {
      // Compact now and then, so a long storm does not keep every answered entry's slot.
      if (this.head > 4096 && this.head * 2 > this.items.length) {
        this.items = this.items.slice(this.head);
        this.head = 0;
      }
      this.schedule();
    }
  }
}
