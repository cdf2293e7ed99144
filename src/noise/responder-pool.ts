// Answers control handshakes on worker threads. A handshake's cryptography (three X25519
// operations, key imports, a fresh key pair for the NodeKeyChallenge, hashing) is a fifth of
// the server's thread while 10,000 clients reconnect after a restart; done here it runs on
// another core, and the server's thread keeps only the framing and the socket work.

import { BatchWorkerPool } from '../util/batch-worker.js';
import { answerControlInitiation, type ControlAnswer } from './control-answer.js';
import { NoiseError, isNoiseError, type NoiseErrorCode } from './errors.js';
import { prepareStaticKey, type StaticKey } from './keys.js';

/** One initiation, as sent to a worker. */
export interface ResponderJob {
  initiation: Uint8Array;
  earlyPayload: boolean;
}

/** The answer to one job as it travels back (an Error does not survive the trip whole). */
export type ResponderReply =
  | { ok: true; answer: ControlAnswer }
  | { ok: false; noise: boolean; code: NoiseErrorCode | undefined; message: string };

export type ResponderOutcome = { ok: true; answer: ControlAnswer } | { ok: false; error: Error };

export interface ResponderPoolOptions {
  /** Worker threads; 0 answers every handshake on the calling thread. */
  workers: number;
  /** A worker failed; its handshakes and all later ones are answered on the calling thread. */
  onWorkerError?(err: Error): void;
}

/** Answers one job; the same code on either thread. */
export function reply(serverKey: StaticKey, j: ResponderJob): ResponderReply {
  try {
    return { ok: true, answer: answerControlInitiation(serverKey, j.initiation, j.earlyPayload) };
  } catch (err) {
    const noise = isNoiseError(err);
    return { ok: false, noise, code: noise ? err.code : undefined, message: (err as Error).message };
  }
}

export class ResponderPool {
  private readonly pool: BatchWorkerPool<ResponderJob, ResponderReply>;

  constructor(serverKey: Uint8Array | StaticKey, opts: ResponderPoolOptions) {
    const key = prepareStaticKey(serverKey);
    this.pool = new BatchWorkerPool({
      name: 'handshake worker pool',
      workers: opts.workers,
      workerURL: new URL('./responder-worker.js', import.meta.url),
      workerData: { serverPrivateKey: key.privateKey },
      local: (j) => reply(key, j),
      onWorkerError: opts.onWorkerError,
    });
  }

  /** Handshakes handed out and not answered yet. */
  get inFlight(): number {
    return this.pool.inFlight;
  }

  /**
   * Answers a framed initiation; `done` is called exactly once, on this thread (synchronously
   * when no worker serves the pool), unless the pool is closed first.
   */
  answer(initiation: Uint8Array, earlyPayload: boolean, done: (o: ResponderOutcome) => void): void {
    this.pool.run({ initiation, earlyPayload }, (r) =>
      done(r.ok ? r : { ok: false, error: r.noise ? new NoiseError(r.code!, r.message) : new Error(r.message) }),
    );
  }

  /** Stops the workers; handshakes still out are never answered (their sockets are the caller's to close). */
  close(): void {
    this.pool.close();
  }
}
