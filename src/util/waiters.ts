// Callers waiting for the outcome of something named by a key (a pending login's decision).
// A waiter leaves its key's set however it ends (outcome, abort, close), so none linger.

export interface Waiter<R> {
  /** Ends this wait with `r` (once; later calls do nothing). */
  done(r: R): void;
  /** Still waiting? */
  readonly active: boolean;
}

export interface WaitOptions<R> {
  /** Ends the wait with `aborted` when it fires. */
  signal?: AbortSignal;
  aborted: R;
  /** Runs once when the wait ends (timers of the caller's own). */
  cleanup?: () => void;
}

export class Waiters<R> {
  readonly #sets = new Map<string, Set<Waiter<R>>>();

  /** Waiters right now, over all keys. */
  get size(): number {
    let n = 0;
    for (const set of this.#sets.values()) n += set.size;
    return n;
  }

  has(key: string): boolean {
    return this.#sets.has(key);
  }

  keys(): string[] {
    return [...this.#sets.keys()];
  }

  /** Adds a waiter for `key` that hands its outcome to `resolve`. */
  add(key: string, resolve: (r: R) => void, opts: WaitOptions<R>): Waiter<R> {
    let set = this.#sets.get(key);
    if (!set) this.#sets.set(key, (set = new Set()));
    const own = set;
    let active = true;
    const onAbort = () => w.done(opts.aborted);
    const w: Waiter<R> = {
      get active() {
        return active;
      },
      done: (r) => {
        if (!active) return;
        active = false;
        opts.cleanup?.();
        opts.signal?.removeEventListener('abort', onAbort);
        own.delete(w);
        if (own.size === 0 && this.#sets.get(key) === own) this.#sets.delete(key);
        resolve(r);
      },
    };
    own.add(w);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    return w;
  }

  /** Ends every wait on `key` with `r`. */
  wake(key: string, r: R): void {
    const set = this.#sets.get(key);
    if (!set) return;
    for (const w of [...set]) w.done(r);
  }

  /** Ends every wait with `r`. */
  wakeAll(r: R): void {
    for (const key of this.keys()) this.wake(key, r);
  }
}
