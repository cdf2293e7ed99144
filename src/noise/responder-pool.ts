// Answers control handshakes on worker threads. A handshake's cryptography (three X25519
// operations, key imports, a fresh key pair for the NodeKeyChallenge, hashing) is a fifth of
// the server's thread while 10,000 clients reconnect after a restart; done here it runs on
// another core, and the server's thread keeps only the framing and the socket work.
//
// Jobs asked for in one turn of the event loop travel to a worker as one message, and come
// back as one. With no workers, or once a worker has failed, jobs are answered on the calling
// thread, synchronously, so a broken worker costs speed, never a handshake.

import { Worker } from 'node:worker_threads';
import { answerControlInitiation, type ControlAnswer } from './control-answer.js';
import { NoiseError, isNoiseError, type NoiseErrorCode } from './errors.js';
import type { StaticKey } from './keys.js';

/** One initiation, as sent to a worker. */
export interface ResponderJob {
  id: number;
  initiation: Uint8Array;
  earlyPayload: boolean;
}

/** A worker's answer to one job. */
export type ResponderReply =
  | { id: number; ok: true; answer: ControlAnswer }
  | { id: number; ok: false; noise: boolean; code: NoiseErrorCode | undefined; message: string };

export type ResponderOutcome = { ok: true; answer: ControlAnswer } | { ok: false; error: Error };

export interface ResponderPoolOptions {
  /** Worker threads; 0 answers every handshake on the calling thread. */
  workers: number;
  /** A worker failed; its jobs and all later ones are answered on the calling thread. */
  onWorkerError?(err: Error): void;
}

interface Pending {
  job: ResponderJob;
  done: (o: ResponderOutcome) => void;
}

interface Slot {
  worker: Worker;
  /** Jobs sent to this worker and not answered yet. */
  outstanding: Map<number, Pending>;
}

export class ResponderPool {
  private readonly slots: Slot[] = [];
  private queued: Pending[] = [];
  private flushScheduled = false;
  private nextId = 1;
  private next = 0;
  private failed = false;
  private closed = false;

  constructor(
    private readonly serverKey: StaticKey,
    private readonly opts: ResponderPoolOptions,
  ) {
    if (!Number.isInteger(opts.workers) || opts.workers < 0) throw new RangeError(`workers must be a non-negative integer, got ${opts.workers}`);
  }

  /** Jobs handed out and not answered yet. */
  get inFlight(): number {
    let n = this.queued.length;
    for (const s of this.slots) n += s.outstanding.size;
    return n;
  }

  /**
   * Answers a framed initiation; `done` is called exactly once, on this thread (synchronously
   * when no worker serves the pool), unless the pool is closed first.
   */
  answer(initiation: Uint8Array, earlyPayload: boolean, done: (o: ResponderOutcome) => void): void {
    if (this.closed) throw new Error('responder pool is closed');
    const p: Pending = { job: { id: this.nextId++, initiation, earlyPayload }, done };
    if (this.opts.workers === 0 || this.failed) {
      this.answerHere(p);
      return;
    }
    this.queued.push(p);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // After the current turn's synchronous work, so its jobs go out together.
      queueMicrotask(() => this.flush());
    }
  }

  /** Stops the workers; jobs still out are never answered (their sockets are the caller's to close). */
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
    if (this.failed) {
      for (const p of this.queued.splice(0)) this.answerHere(p);
      return;
    }
    const jobs = this.queued;
    this.queued = [];
    // Spread the turn's jobs over the workers, starting where the last turn left off.
    const n = Math.min(this.opts.workers, jobs.length);
    const per = Math.ceil(jobs.length / n);
    for (let i = 0; i < n; i++) {
      const part = jobs.slice(i * per, (i + 1) * per);
      if (part.length === 0) break;
      const slot = this.slot(this.next);
      this.next = (this.next + 1) % this.opts.workers;
      for (const p of part) slot.outstanding.set(p.job.id, p);
      slot.worker.postMessage(part.map((p) => p.job));
    }
  }

  private slot(i: number): Slot {
    const existing = this.slots[i];
    if (existing) return existing;
    // Started on first use: a server that never sees a handshake never starts a thread.
    const worker = new Worker(new URL('./responder-worker.js', import.meta.url), {
      workerData: { serverPrivateKey: this.serverKey.privateKey },
    });
    worker.unref(); // an idle pool never keeps the process alive
    const slot: Slot = { worker, outstanding: new Map() };
    worker.on('message', (replies: ResponderReply[]) => {
      for (const r of replies) {
        const p = slot.outstanding.get(r.id);
        if (!p) continue;
        slot.outstanding.delete(r.id);
        p.done(r.ok ? { ok: true, answer: r.answer } : { ok: false, error: r.noise ? new NoiseError(r.code!, r.message) : new Error(r.message) });
      }
    });
    worker.on('error', (err) => this.fail(slot, err));
    worker.on('exit', (code) => {
      if (!this.closed) this.fail(slot, new Error(`handshake worker exited with code ${code}`));
    });
    this.slots[i] = slot;
    return slot;
  }

  /** A worker is gone: what it held, and everything after, is answered here. */
  private fail(slot: Slot, err: Error): void {
    if (this.closed || !this.slots.includes(slot)) return;
    this.failed = true;
    this.opts.onWorkerError?.(err);
    for (const s of this.slots.splice(0)) {
      const held = [...s.outstanding.values()];
      s.outstanding.clear();
      void s.worker.terminate();
      for (const p of held) this.answerHere(p);
    }
  }

  private answerHere(p: Pending): void {
    let outcome: ResponderOutcome;
    try {
      outcome = { ok: true, answer: answerControlInitiation(this.serverKey, p.job.initiation, p.job.earlyPayload) };
    } catch (err) {
      if (!isNoiseError(err) && !(err instanceof Error)) throw err;
      outcome = { ok: false, error: err };
    }
    p.done(outcome);
  }
}
