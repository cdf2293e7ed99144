// OIDC sign-ins between the redirect to the provider and the callback. The callback may
// reach another instance than the redirect did, so a flow is kept in a form any instance
// can open but a stored copy alone cannot: keyed by sha256 of the state (the browser holds
// the state, in the callback URL and a cookie) and sealed (AES-256-GCM) under a key derived
// from the state. FlowBook holds them; MemoryFlows in this process (one instance, SQLite),
// src/ha/oidc-flows.ts in PostgreSQL for all instances.

import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';

/** What a login waits for between the redirect and the callback; used once. */
export interface Flow {
  authId: string;
  nonce: string;
  verifier: string | null;
}

type Awaitable<T> = T | Promise<T>;

export interface FlowBook {
  /** Stores a flow for `ttlMs`; false when `max` are already in progress. */
  put(key: string, sealed: Buffer, ttlMs: number, max: number): Awaitable<boolean>;
  /** Removes and returns the live flow under `key`: a second take finds nothing. */
  take(key: string): Awaitable<Buffer | undefined>;
}

/** The key a flow is stored under: only comparison is needed, so a hash. */
export function flowKey(state: string): string {
  return createHash('sha256').update(state).digest('hex');
}

function sealKey(state: string): Buffer {
  return Buffer.from(hkdfSync('sha256', state, Buffer.alloc(0), 'switchboard oidc flow', 32));
}

export function sealFlow(state: string, flow: Flow): Buffer {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', sealKey(state), iv);
  const body = Buffer.concat([c.update(JSON.stringify(flow), 'utf8'), c.final()]);
  return Buffer.concat([iv, c.getAuthTag(), body]);
}

/** The flow, or null when `sealed` was not made with this state (or was altered). */
export function openFlow(state: string, sealed: Buffer): Flow | null {
  if (sealed.length < 28) return null;
  try {
    const d = createDecipheriv('aes-256-gcm', sealKey(state), sealed.subarray(0, 12));
    d.setAuthTag(sealed.subarray(12, 28));
    const text = Buffer.concat([d.update(sealed.subarray(28)), d.final()]).toString('utf8');
    const v = JSON.parse(text) as Partial<Flow>;
    if (typeof v.authId !== 'string' || typeof v.nonce !== 'string' || (v.verifier !== null && typeof v.verifier !== 'string')) return null;
    return { authId: v.authId, nonce: v.nonce, verifier: v.verifier };
  } catch {
    return null;
  }
}

export class MemoryFlows implements FlowBook {
  private readonly flows = new Map<string, { sealed: Buffer; expiresAt: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  put(key: string, sealed: Buffer, ttlMs: number, max: number): boolean {
    this.prune();
    if (this.flows.size >= max) return false;
    this.flows.set(key, { sealed, expiresAt: this.now() + ttlMs });
    return true;
  }

  take(key: string): Buffer | undefined {
    const f = this.flows.get(key);
    this.flows.delete(key);
    return f && f.expiresAt >= this.now() ? f.sealed : undefined;
  }

  private prune(): void {
    const now = this.now();
    for (const [k, f] of this.flows) if (f.expiresAt < now) this.flows.delete(k);
  }
}
