// Pure work (cryptography, compression) done on worker threads, batched: the jobs asked for
// in one turn of the event loop travel to a worker as one message and come back as one, so
// the messaging costs little against the work. With no workers, or once a worker has
// failed, jobs run on the calling thread, synchronously: a broken worker costs speed, never
// a result. Both sides run the same function, so the result cannot depend on where it ran.

import { parentPort, Worker } from 'node:worker_threads';

export interface BatchPoolOptions<J, R> {
  /** Worker threads; 0 runs every job on the calling thread. */
  workers: number;
  /** The worker's module: it calls serveBatches with the same function as `local`. */
  workerURL: URL;
  workerData?: unknown;
  /** Runs one job here (no workers, or after a failure). Must not throw: failures are results. */
  local(job: J): R;
  /** Names the pool in errors. */
  name: string;
  /** A worker failed; its jobs and all later ones run on the calling thread. */
  onWorkerError?(err: Error): void;
}

interface Pending<J, R> {
  id: number;
  job: J;
  done: (r: R) => void;
}

interface Slot<J, R> {
  worker: Worker;
  outstanding: Map<number, Pending<J, R>>;
}

/** A batch as it travels: jobs with their ids one way, results with the same ids back. */
type Wire<T> = { ids: number[]; items: T[] };

export class BatchWorkerPool<J, R> {
  private readonly slots: Slot<J, R>[] = [];
  private queued: Pending<J, R>[] = [];
  private flushScheduled = false;
  private nextId = 1;
  private next = 0;
  private failed = false;
  private closed = false;

  constructor(private readonly opts: BatchPoolOptions<J, R>) {
    if (!Number.isInteger(opts.workers) || opts.workers < 0) {
      throw new RangeError(`${opts.name}: workers must be a non-negative integer, got ${opts.workers}`);
    }
  }

  /** Jobs handed out and not answered yet. */
  get inFlight(): number {
    let n = this.queued.length;
    for (const s of this.slots) n += s.outstanding.size;
    return n;
  }

  /**
   * Runs `job`; `done` is called exactly once, on this thread (synchronously when no worker
   * serves the pool), unless the pool is closed first. Results come back in the order asked.
   */
  run(job: J, done: (r: R) => void): void {
    if (this.closed) throw new Error(`${this.opts.name} is closed`);
    const p: Pending<J, R> = { id: this.nextId++, job, done };
    if (this.opts.workers === 0 || this.failed) {
      done(this.opts.local(job));
      return;
    }
    this.queued.push(p);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // After the current turn's synchronous work, so its jobs go out together.
      queueMicrotask(() => this.flush());
    }
  }

  /** Stops the workers; jobs still out are never answered. */
  close(): void {
    this.closed = true;
    this.queued = [];
    for (const s of this.slots.splice(0)) {
      s.outstanding.clear();
      void s.worker.terminate();
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.closed || this.queued.length === 0) return;
    const jobs = this.queued;
    this.queued = [];
    if (this.failed) {
      for (const p of jobs) p.done(this.opts.local(p.job));
      return;
    }
    // One worker per turn's batch, in turn: results of one batch come back in order, and a
    // session's later frames (always asked for in a later turn or later in the same batch) after.
    const slot = this.slot(this.next);
    this.next = (this.next + 1) % this.opts.workers;
    for (const p of jobs) slot.outstanding.set(p.id, p);
    slot.worker.postMessage({ ids: jobs.map((p) => p.id), items: jobs.map((p) => p.job) } satisfies Wire<J>);
  }

  private slot(i: number): Slot<J, R> {
    const existing = this.slots[i];
    if (existing) return existing;
    // Started on first use: a server that never needs one never starts a thread.
    const worker = new Worker(this.opts.workerURL, { workerData: this.opts.workerData });
    worker.unref(); // an idle pool never keeps the process alive
    const slot: Slot<J, R> = { worker, outstanding: new Map() };
    worker.on('message', (m: Wire<R>) => {
      for (let i = 0; i < m.ids.length; i++) {
        const p = slot.outstanding.get(m.ids[i]!);
        if (!p) continue;
        slot.outstanding.delete(p.id);
        p.done(m.items[i]!);
      }
    });
    worker.on('error', (err) => this.fail(slot, err));
    worker.on('exit', (code) => {
      if (!this.closed) this.fail(slot, new Error(`${this.opts.name} worker exited with code ${code}`));
    });
    this.slots[i] = slot;
    return slot;
  }

  /** A worker is gone: what it held, and everything after, runs here, in the order asked. */
  private fail(slot: Slot<J, R>, err: Error): void {
    if (this.closed || !this.slots.includes(slot)) return;
    this.failed = true;
    this.opts.onWorkerError?.(err);
    const held: Pending<J, R>[] = [];
    for (const s of this.slots.splice(0)) {
      held.push(...s.outstanding.values());
      s.outstanding.clear();
      void s.worker.terminate();
    }
    held.sort((a, b) => a.id - b.id);
    for (const p of held) p.done(this.opts.local(p.job));
  }
}

/**
 * The worker's side: answers each batch with `fn` over its jobs. `transfer` names the
 * buffers of a result that may be moved to the main thread instead of copied.
 */
export function serveBatches<J, R>(fn: (job: J) => R, transfer?: (r: R) => ArrayBuffer[]): void {
  const port = parentPort;
  if (port === null) throw new Error('serveBatches runs in a worker thread only');
  port.on('message', (m: Wire<J>) => {
    const items = m.items.map(fn);
    port.postMessage({ ids: m.ids, items } satisfies Wire<R>, transfer ? items.flatMap(transfer) : []);
  });
}
