// Map streams open here, a slice per turn of the event loop, instead of all the requests
// that became readable in one turn opening at once. After a restart thousands of streams
// open within seconds, each building and compressing a full map (~2 ms); opened on the
// spot, one turn could run for a second while dials wait for their handshake. A dial has
// 10 s before tailscaled gives up and backs off further; a map poll waits far longer. So
// while handshakes are waiting, opens get a short slice and the handshakes the rest; and
// while the map hub is behind (changes already made not yet told to the streams up), the
// same short slice, since a new stream's first map is worth less than an old one's delta.

import { Deque } from '../util/deque.js';

export interface StreamOpenQueueOptions {
  /** Opens run for at most this long per turn (ms)... */
  sliceMs?: number;
  /** ...or this long while `busy()` says more urgent work waits (ms). */
  busySliceMs?: number;
  /** True while work that must not wait behind opens is queued (handshakes, deltas owed to streams up). */
  busy?: () => boolean;
  now?: () => number;
}

export const DEFAULT_OPEN_SLICE_MS = 10;
/** Enough to keep streams opening (a few per turn), short beside the handshakes' 10 ms. */
export const DEFAULT_BUSY_OPEN_SLICE_MS = 3;

interface Pending {
  run: () => void;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class StreamOpenQueue {
  private readonly items = new Deque<Pending>();
  private scheduled = false;
  private readonly sliceMs: number;
  private readonly busySliceMs: number;
  private readonly now: () => number;

  constructor(private readonly opts: StreamOpenQueueOptions = {}) {
    this.sliceMs = opts.sliceMs ?? DEFAULT_OPEN_SLICE_MS;
    this.busySliceMs = opts.busySliceMs ?? DEFAULT_BUSY_OPEN_SLICE_MS;
    this.now = opts.now ?? (() => performance.now());
  }

  get length(): number {
    return this.items.length;
  }

  /**
   * Runs `run` on a later turn, in arrival order; settles when it has run (rejects with what
   * it threw). `run` is synchronous so the slice can measure it.
   */
  run(run: () => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.items.push({ run, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.drain());
  }

  private drain(): void {
    this.scheduled = false;
    const start = this.now();
    const slice = this.opts.busy?.() ? this.busySliceMs : this.sliceMs;
    for (let p = this.items.shift(); p; p = this.items.shift()) {
      try {
        p.run();
        p.resolve();
      } catch (err) {
        p.reject(err);
      }
      if (this.now() - start >= slice) break;
    }
    if (this.items.length > 0) this.schedule();
  }
}
