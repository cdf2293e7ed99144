// Native ts2021 upgrades wait here for their Noise handshake instead of running inside the
// socket's read callback. After a restart every client comes back within a second or two,
// and one turn of the event loop could hold thousands of readable upgrades: answered on
// the spot, that turn runs for seconds, no connection is accepted meanwhile (the listen
// queue overflows, and a dropped SYN is retried only after 1, 3, 7 s), and the streams
// already up wait too. So the work is done in slices, yielding to I/O between them, and an
// upgrade that waited longer than its client does (tailscaled gives a dial 10 s in all)
// is dropped without spending cryptography on an answer no one reads.
//
// A handshake may finish later (its cryptography runs on a worker thread): then a turn starts
// at most `maxInFlight` of them, and the rest wait here, in the order below, for a place.
//
// Order is adaptive LIFO: first come first served while the queue is short, newest first
// once the oldest has waited longer than `lifoAfterMs`. Under overload a FIFO queue answers
// only dials whose client is about to give up (or already has), so the work is wasted and
// each of those clients backs off further; the newest dials still have most of their 10 s,
// so answering them first completes connections. The old ones expire at the head unanswered.

import type { Duplex } from 'node:stream';
import { Deque } from '../util/deque.js';

export interface HandshakeQueueOptions {
  /** Handshakes are answered for at most this long per turn of the event loop (ms). */
  sliceMs?: number;
  /** An upgrade queued longer than this is dropped unanswered (ms). */
  maxWaitMs?: number;
  /** Once the oldest upgrade has waited longer than this, the newest is served first (ms). */
  lifoAfterMs?: number;
  /** Clock in milliseconds (tests pass their own). */
  now?: () => number;
  /** Called for each upgrade dropped: its socket was closed meanwhile, or it waited too long. */
  onDropped?(reason: 'closed' | 'expired'): void;
  /**
   * True while changes already made wait to reach the streams that are up (the map hub
   * is behind): then a turn answers handshakes for `yieldSliceMs` only, so new
   * connections do not delay what existing clients are owed; they have seconds to spare.
   */
  yieldTo?: () => boolean;
  /** The slice while `yieldTo()` holds (ms). */
  yieldSliceMs?: number;
  /** Handshakes started and not finished yet, at most (the ones finishing on another thread). */
  maxInFlight?: number;
  /** The same while `yieldTo()` holds: each finished handshake still costs this thread a connection's setup. */
  yieldInFlight?: number;
}

/** Slices short enough that accepts and reads keep up; long enough to amortise the yield. */
export const DEFAULT_SLICE_MS = 10;
/** Below tailscaled's 10 s dial limit, which also covers TCP connect and the answer's way back. */
export const DEFAULT_MAX_WAIT_MS = 8_000;
/** A queue whose oldest waited this long is not keeping up; serving it in order only feeds the backlog. */
export const DEFAULT_LIFO_AFTER_MS = 1_000;
/** A handshake or two per turn: connections keep completing while the hub catches up. */
export const DEFAULT_YIELD_SLICE_MS = 2;
/** Enough to keep a worker busy between two turns; few enough that their setups fit a slice. */
export const DEFAULT_MAX_IN_FLIGHT = 64;
export const DEFAULT_YIELD_IN_FLIGHT = 4;

interface Waiting {
  at: number;
  socket: Duplex;
  run: (done: () => void) => void;
}

export class HandshakeQueue {
  private readonly items = new Deque<Waiting>();
  private scheduled = false;
  private closed = false;
  private readonly sliceMs: number;
  private readonly maxWaitMs: number;
  private readonly lifoAfterMs: number;
  private readonly now: () => number;
  private inFlight = 0;

  constructor(private readonly opts: HandshakeQueueOptions = {}) {
    this.sliceMs = opts.sliceMs ?? DEFAULT_SLICE_MS;
    this.maxWaitMs = opts.maxWaitMs ?? DEFAULT_MAX_WAIT_MS;
    this.lifoAfterMs = opts.lifoAfterMs ?? DEFAULT_LIFO_AFTER_MS;
    this.now = opts.now ?? (() => performance.now());
  }

  /** Upgrades not answered yet: waiting for their turn, or started and not finished. */
  get length(): number {
    return this.items.length + this.inFlight;
  }

  /**
   * Runs `run` for `socket` on a later turn, unless the socket is gone or has waited too long
   * by then. `run` calls `done` once when the handshake is finished, there or later.
   */
  enqueue(socket: Duplex, run: (done: () => void) => void): void {
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
    for (const w of this.items.drain()) w.socket.destroy();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.drain());
  }

  private drain(): void {
    this.scheduled = false;
    const start = this.now();
    const yielding = this.opts.yieldTo?.() ?? false;
    const slice = yielding ? (this.opts.yieldSliceMs ?? DEFAULT_YIELD_SLICE_MS) : this.sliceMs;
    const maxInFlight = yielding ? (this.opts.yieldInFlight ?? DEFAULT_YIELD_IN_FLIGHT) : (this.opts.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT);
    for (let oldest = this.items.first(); oldest && this.inFlight < maxInFlight; oldest = this.items.first()) {
      // Entries are in arrival order, so the expired ones are at the head.
      if (oldest.socket.destroyed || start - oldest.at > this.maxWaitMs) {
        this.items.shift();
        this.drop(oldest);
        continue;
      }
      const w = start - oldest.at > this.lifoAfterMs && this.items.length > 1 ? this.items.pop()! : this.items.shift()!;
      if (w.socket.destroyed) {
        this.drop(w);
        continue;
      }
      this.start(w);
      if (this.now() - start >= slice) break;
    }
    // Full of handshakes in flight: the next to finish schedules the next turn.
    if (this.items.length > 0 && this.inFlight < maxInFlight) this.schedule();
  }

  private start(w: Waiting): void {
    this.inFlight++;
    let finished = false;
    w.run(() => {
      if (finished) return;
      finished = true;
      this.inFlight--;
      if (this.items.length > 0 && !this.closed) this.schedule();
    });
  }

  private drop(w: Waiting): void {
    if (w.socket.destroyed) {
      this.opts.onDropped?.('closed');
      return;
    }
    w.socket.destroy();
    this.opts.onDropped?.('expired');
  }
}
