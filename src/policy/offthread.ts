// Checks policies on a worker thread. Parsing and compiling a policy at the size limit
// against a large tailnet takes seconds; done on the server's thread, one API call would
// freeze every client's session and /health for that long. The worker answers refused or
// accepted; an accepted policy is compiled once more on the main thread when it is applied.

import { Worker } from 'node:worker_threads';
import { PolicyError, type Policy, type PolicyIssue, type TailnetInput } from '../acl/index.js';

export interface CheckJob {
  id: number;
  text: string;
  input: TailnetInput;
  baseURL: string;
}

export type CheckAnswer =
  | { id: number; ok: true; policy: Policy | null }
  | { id: number; ok: false; policy: true; message: string; issues: PolicyIssue[] }
  | { id: number; ok: false; policy: false; message: string };

/** A check that takes longer than this is abandoned (the worker is replaced) and refused. */
export const CHECK_TIMEOUT_MS = 60_000;

export class PolicyChecker {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (p: Policy | null) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();

  constructor(private readonly timeoutMs = CHECK_TIMEOUT_MS) {}

  /**
   * Resolves with the parsed policy (null: empty text) when it compiles against `input`;
   * rejects with its PolicyError otherwise.
   */
  check(text: string, input: TailnetInput, baseURL: string): Promise<Policy | null> {
    const w = this.ensureWorker();
    const id = this.nextId++;
    return new Promise<Policy | null>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.failAll(new PolicyError(`the policy took longer than ${this.timeoutMs / 1000} s to check and is refused as too complex`));
      }, this.timeoutMs);
      this.waiting.set(id, { resolve, reject, timer });
      w.postMessage({ id, text, input, baseURL } satisfies CheckJob);
    });
  }

  close(): Promise<number> | undefined {
    const w = this.worker;
    this.worker = null;
    this.failAll(new Error('server shutting down'), false);
    return w?.terminate();
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(new URL('./check-worker.js', import.meta.url));
    w.unref(); // an idle checker never keeps the process alive
    w.on('message', (a: CheckAnswer) => {
      const job = this.waiting.get(a.id);
      if (!job) return;
      this.waiting.delete(a.id);
      clearTimeout(job.timer);
      if (a.ok) job.resolve(a.policy);
      else job.reject(a.policy ? new PolicyError(a.message, a.issues) : new Error(a.message));
    });
    w.on('error', (err) => this.failAll(new Error(`policy check failed: ${err.message}`)));
    w.on('exit', () => {
      if (this.worker === w) this.worker = null;
    });
    this.worker = w;
    return w;
  }

  /** Rejects every waiting check and drops the worker (a stuck one is terminated). */
  private failAll(err: Error, terminate = true): void {
    for (const job of this.waiting.values()) {
      clearTimeout(job.timer);
      job.reject(err);
    }
    this.waiting.clear();
    if (terminate && this.worker) {
      void this.worker.terminate();
      this.worker = null;
    }
  }
}
