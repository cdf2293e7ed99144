// Registrations waiting for an administrator (or an identity provider), each with an
// expiry, at most `maxEntries` undecided at once. A client without credentials creates
// these, so the count is capped and a full cache refuses new ones instead of evicting
// someone else's. PendingBook is what web login needs of them; PendingRegistrations keeps
// them in this process's memory (one instance, SQLite: nothing survives a restart, a
// waiting client simply gets a new link). With PostgreSQL, src/ha/pending.ts keeps them in
// the database, shared by every instance.

import { randomBytes } from 'node:crypto';
import type { Hostinfo } from '../tailcfg/types.js';
import { Waiters } from '../util/waiters.js';

/** headscale's AuthID form, so ids look alike across both servers' CLIs. */
export const AUTH_ID_PREFIX = 'hskey-authreq-';
const AUTH_ID_HEX = 24;
// Ours are hex; headscale's are URL-safe base64, and `debug create-node --key` takes either.
const AUTH_ID_RE = new RegExp(`^${AUTH_ID_PREFIX}[A-Za-z0-9_-]{${AUTH_ID_HEX}}$`);

export function newAuthId(): string {
  return AUTH_ID_PREFIX + randomBytes(AUTH_ID_HEX / 2).toString('hex');
}

/** Why an auth id is malformed, or null when it is well formed. */
export function authIdProblem(id: string): string | null {
  if (AUTH_ID_RE.test(id)) return null;
  if (!id.startsWith(AUTH_ID_PREFIX)) return `auth id must start with "${AUTH_ID_PREFIX}"`;
  return `auth id must be "${AUTH_ID_PREFIX}" followed by ${AUTH_ID_HEX} letters, digits, "-" or "_"`;
}

export type Verdict = { kind: 'approved'; nodeId: number } | { kind: 'rejected'; reason: string };

export interface PendingRegistration {
  id: string;
  machineKey: string;
  nodeKey: string;
  hostinfo: Hostinfo | null;
  hostname: string;
  ephemeral: boolean;
  /** Key expiry the client asked for (future only), or null for the server's default. */
  requestedExpiry: Date | null;
  createdAt: Date;
  expiresAt: Date;
  /** Set once decided; a decided entry stays until it expires so a late follow-up learns the outcome. */
  verdict: Verdict | null;
}

/** `aborted`: the caller's signal fired; `closed`: the cache was closed (server shutdown). */
export type WaitResult = Verdict | { kind: 'expired' } | { kind: 'aborted' } | { kind: 'closed' };

export class PendingFull extends Error {
  constructor(readonly max: number) {
    super(
      `too many registrations are waiting for approval (${max}, tuning.register_cache_max_entries): try again later, or use a pre-auth key`,
    );
    this.name = 'PendingFull';
  }
}

export class PendingIdTaken extends Error {
  constructor(readonly id: string) {
    super(`a registration with auth id ${id} is already waiting`);
    this.name = 'PendingIdTaken';
  }
}

export interface PendingOptions {
  ttlMs: number;
  maxEntries: number;
  now?: () => number;
}

type Awaitable<T> = T | Promise<T>;

export type PendingInput = Omit<PendingRegistration, 'id' | 'createdAt' | 'expiresAt' | 'verdict'>;

/**
 * The registrations web login works with. A decision is made once: `claim` holds an
 * undecided entry for the caller (who then writes the node) so that nobody else decides
 * it meanwhile; `decide` with that token records the outcome, without one it succeeds
 * only on an unclaimed entry.
 */
export interface PendingBook {
  readonly ttlMs: number;
  /** Undecided entries, as last counted (metrics). */
  readonly undecided: number;
  /** Follow-up requests waiting on decisions here, right now. */
  readonly waiting: number;
  begin(input: PendingInput, chosenId?: string): Awaitable<PendingRegistration>;
  get(id: string): Awaitable<PendingRegistration | undefined>;
  list(): Awaitable<PendingRegistration[]>;
  claim(id: string): Awaitable<string | null>;
  release(id: string, token: string): Awaitable<void>;
  decide(id: string, verdict: Verdict, token?: string): Awaitable<boolean>;
  wait(id: string, signal?: AbortSignal): Promise<WaitResult>;
  close(): void;
}

export class PendingRegistrations implements PendingBook {
  private readonly byId = new Map<string, PendingRegistration>();
  private readonly byMachine = new Map<string, string>();
  private readonly waiters = new Waiters<WaitResult>();
  private readonly claims = new Map<string, string>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly now: () => number;
  private closed = false;

  constructor(private readonly opts: PendingOptions) {
    this.now = opts.now ?? Date.now;
    this.sweeper = setInterval(() => this.sweep(), Math.max(1000, Math.min(opts.ttlMs, 60_000)));
    this.sweeper.unref();
  }

  get size(): number {
    this.sweep();
    return this.byId.size;
  }

  /** Follow-up requests waiting on decisions right now. */
  get waiting(): number {
    return this.waiters.size;
  }

  get ttlMs(): number {
    return this.opts.ttlMs;
  }

  get undecided(): number {
    return this.list().length;
  }

  /**
   * The machine's undecided registration, refreshed with its latest keys, or a new one.
   * One machine holds at most one entry, so repeating `tailscale up` costs no room.
   */
  begin(input: PendingInput, chosenId?: string): PendingRegistration {
    this.sweep();
    // `debug create-node` names the id itself; it must not take over someone else's entry.
    if (chosenId !== undefined && this.byId.has(chosenId)) throw new PendingIdTaken(chosenId);
    const now = this.now();
    const currentId = this.byMachine.get(input.machineKey);
    const current = currentId ? this.byId.get(currentId) : undefined;
    if (current && !current.verdict) {
      Object.assign(current, input, { expiresAt: new Date(now + this.opts.ttlMs) });
      return current;
    }
    if (current) this.remove(current.id, { kind: 'expired' });
    // Decided entries linger only to answer late follow-ups; the cap is on undecided ones,
    // the ones a client without credentials can create.
    let undecided = 0;
    for (const e of this.byId.values()) if (!e.verdict) undecided++;
    if (undecided >= this.opts.maxEntries) throw new PendingFull(this.opts.maxEntries);
    const entry: PendingRegistration = {
      ...input,
      id: chosenId ?? newAuthId(),
      createdAt: new Date(now),
      expiresAt: new Date(now + this.opts.ttlMs),
      verdict: null,
    };
    this.byId.set(entry.id, entry);
    this.byMachine.set(entry.machineKey, entry.id);
    return entry;
  }

  /** A live entry (decided or not); undefined when unknown or expired. */
  get(id: string): PendingRegistration | undefined {
    const e = this.byId.get(id);
    if (!e) return undefined;
    if (e.expiresAt.getTime() <= this.now()) {
      this.remove(id, { kind: 'expired' });
      return undefined;
    }
    return e;
  }

  /** Undecided entries, oldest first. */
  list(): PendingRegistration[] {
    this.sweep();
    return [...this.byId.values()].filter((e) => !e.verdict).sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
  }

  /** Holds an undecided entry for the caller; null when decided, gone or held by someone else. */
  claim(id: string): string | null {
    const e = this.get(id);
    if (!e || e.verdict || this.claims.has(id)) return null;
    const token = randomBytes(12).toString('hex');
    this.claims.set(id, token);
    return token;
  }

  release(id: string, token: string): void {
    if (this.claims.get(id) === token) this.claims.delete(id);
  }

  /** Records the outcome and wakes every follow-up waiting on it. Returns false if already decided, gone, or held by another. */
  decide(id: string, verdict: Verdict, token?: string): boolean {
    const e = this.get(id);
    if (!e || e.verdict) return false;
    const held = this.claims.get(id);
    if (held !== undefined && held !== token) return false;
    this.claims.delete(id);
    e.verdict = verdict;
    this.wake(id, verdict);
    return true;
  }

  /** Resolves when the entry is decided, expires, or `signal` aborts. */
  wait(id: string, signal?: AbortSignal): Promise<WaitResult> {
    if (this.closed) return Promise.resolve({ kind: 'closed' });
    const e = this.get(id);
    if (!e) return Promise.resolve({ kind: 'expired' });
    if (e.verdict) return Promise.resolve(e.verdict);
    if (signal?.aborted) return Promise.resolve({ kind: 'aborted' });
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const w = this.waiters.add(id, resolve, { signal, aborted: { kind: 'aborted' }, cleanup: () => clearTimeout(timer) });
      // The entry's own expiry ends the wait (the client then gets a fresh link); begin()
      // may have pushed that expiry out meanwhile, so look again before giving up.
      const arm = (entry: PendingRegistration) => {
        timer = setTimeout(() => {
          const live = this.get(id);
          if (live && !live.verdict) arm(live);
          else w.done(live?.verdict ?? { kind: 'expired' });
        }, Math.max(0, entry.expiresAt.getTime() - this.now()) + 1);
        timer.unref();
      };
      arm(e);
    });
  }

  close(): void {
    clearInterval(this.sweeper);
    this.closed = true;
    for (const id of [...this.byId.keys()]) this.remove(id, { kind: 'closed' });
  }

  private sweep(): void {
    const now = this.now();
    for (const e of [...this.byId.values()]) if (e.expiresAt.getTime() <= now) this.remove(e.id, { kind: 'expired' });
  }

  private remove(id: string, why: WaitResult): void {
    const e = this.byId.get(id);
    if (!e) return;
    this.byId.delete(id);
    this.claims.delete(id);
    if (this.byMachine.get(e.machineKey) === id) this.byMachine.delete(e.machineKey);
    this.wake(id, why);
  }

  private wake(id: string, r: WaitResult): void {
    this.waiters.wake(id, r);
  }
}
