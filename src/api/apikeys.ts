// API keys for the REST API: "hskey-api-<12-char prefix>-<64-char secret>" like headscale's
// newer format. Only the prefix and a sha256 of the whole key are stored. Records are indexed
// by prefix in memory so checking a bearer token costs no database round trip.

import type { Store } from '../db/store.js';
import { AdminError } from '../state/admin.js';
import type { ApiKeyRecord } from '../state/model.js';
import { hashSecret, isLegacyHash, newSecret, secretMatches, secretPrefix } from '../state/secrets.js';

const KIND = 'hskey-api';
/** lastSeen is advisory; writing it on every request would turn reads into writes. */
const LAST_SEEN_WRITE_INTERVAL_MS = 60_000;
/** Another instance sharing the database may have made a key we have not seen yet. */
const RELOAD_INTERVAL_MS = 5_000;

export interface CreatedApiKey {
  /** The full key; shown once, never stored. */
  key: string;
  record: ApiKeyRecord;
}

export interface ApiKeyServiceOptions {
  now?: () => Date;
  log?: (msg: string) => void;
}

/** Identifies a key by its id or by its prefix in any shape a user may paste. */
export type ApiKeyRef = { id?: number; prefix?: string };

export class ApiKeyService {
  private readonly byPrefix = new Map<string, ApiKeyRecord>();
  private lastReload = 0;
  private readonly now: () => Date;
  private readonly log: (msg: string) => void;

  private constructor(
    private readonly store: Store,
    opts: ApiKeyServiceOptions,
  ) {
    this.now = opts.now ?? (() => new Date());
    this.log = opts.log ?? (() => {});
  }

  static async load(store: Store, opts: ApiKeyServiceOptions = {}): Promise<ApiKeyService> {
    const svc = new ApiKeyService(store, opts);
    await svc.reload();
    return svc;
  }

  /** Re-reads the keys (another instance sharing the database changed them). */
  refresh(): Promise<void> {
    return this.reload();
  }

  private async reload(): Promise<void> {
    this.lastReload = this.now().getTime();
    const records = await this.store.listApiKeys();
    this.byPrefix.clear();
    for (const r of records) this.byPrefix.set(r.prefix, r);
  }

  async create(expiration: Date | null): Promise<CreatedApiKey> {
    const secret = newSecret(KIND);
    const record = await this.store.createApiKey({
      prefix: secret.prefix,
      keyHash: secret.hash,
      expiration,
      lastSeen: null,
    });
    this.byPrefix.set(record.prefix, record);
    return { key: secret.token, record };
  }

  list(): ApiKeyRecord[] {
    return [...this.byPrefix.values()].sort((a, b) => a.id - b.id);
  }

  async expire(ref: ApiKeyRef | string): Promise<ApiKeyRecord> {
    const current = this.find(ref);
    const updated = await this.store.updateApiKey(current.id, { expiration: this.now() });
    this.byPrefix.set(updated.prefix, updated);
    return updated;
  }

  async delete(ref: ApiKeyRef | string): Promise<void> {
    const current = this.find(ref);
    await this.store.deleteApiKey(current.id);
    this.byPrefix.delete(current.prefix);
  }

  /** True when `bearer` is a known, unexpired key. Constant-time in the secret. */
  async verify(bearer: string): Promise<boolean> {
    const token = bearer.trim();
    // headscale's oldest API keys, imported, are "<prefix>.<secret>".
    const prefix = secretPrefix(KIND, token) ?? (/^[A-Za-z0-9_-]{1,32}\./.exec(token)?.[0].slice(0, -1) ?? null);
    if (prefix === null) return false;
    let record = this.byPrefix.get(prefix);
    if (!record && this.now().getTime() - this.lastReload >= RELOAD_INTERVAL_MS) {
      await this.reload();
      record = this.byPrefix.get(prefix);
    }
    if (!record || !secretMatches(token, record.keyHash)) return false;
    const now = this.now();
    if (record.expiration && record.expiration.getTime() <= now.getTime()) return false;
    if (isLegacyHash(record.keyHash)) record = await this.restoreHash(record, hashSecret(token));
    this.touch(record, now);
    return true;
  }

  /** An imported key (headscale's bcrypt hash) that proved itself is re-stored our way: later checks are cheap. */
  private async restoreHash(record: ApiKeyRecord, hash: string): Promise<ApiKeyRecord> {
    const next = { ...record, keyHash: hash };
    this.byPrefix.set(record.prefix, next);
    try {
      return await this.store.updateApiKey(record.id, { keyHash: hash });
    } catch (err) {
      this.log(`apikeys: re-storing the imported hash of key ${record.prefix} failed: ${String(err)}`);
      return next;
    }
  }

  private touch(record: ApiKeyRecord, now: Date): void {
    if (record.lastSeen && now.getTime() - record.lastSeen.getTime() < LAST_SEEN_WRITE_INTERVAL_MS) return;
    // Update memory first so concurrent requests don't each issue a write.
    this.byPrefix.set(record.prefix, { ...record, lastSeen: now });
    this.store.updateApiKey(record.id, { lastSeen: now }).then(
      (updated) => {
        // Keep the newest view unless the key was deleted or replaced meanwhile.
        if (this.byPrefix.get(updated.prefix)?.id === updated.id) this.byPrefix.set(updated.prefix, updated);
      },
      (err: unknown) => this.log(`apikeys: recording last use of key ${record.prefix} failed: ${String(err)}`),
    );
  }

  private find(ref: ApiKeyRef | string): ApiKeyRecord {
    const r: ApiKeyRef = typeof ref === 'string' ? { prefix: ref } : ref;
    const hasId = r.id !== undefined && r.id !== 0;
    const hasPrefix = r.prefix !== undefined && r.prefix !== '';
    if (hasId && hasPrefix) throw new AdminError(400, 'provide either id or prefix, not both');
    if (hasId) {
      for (const rec of this.byPrefix.values()) if (rec.id === r.id) return rec;
      throw new AdminError(404, `API key with id ${r.id} not found`);
    }
    if (!hasPrefix) throw new AdminError(400, 'must provide id or prefix');
    const prefix = normalizePrefix(r.prefix!);
    // An imported legacy key's prefix has another length: taken as written.
    const rec = (prefix === null ? undefined : this.byPrefix.get(prefix)) ?? this.byPrefix.get(r.prefix!.trim());
    if (!rec) throw new AdminError(404, `API key with prefix ${JSON.stringify(r.prefix)} not found`);
    return rec;
  }
}

/**
 * Accepts the bare 12-character prefix, the listing form "hskey-api-<prefix>-***",
 * "hskey-api-<prefix>", or a full key, and returns the bare prefix.
 */
export function normalizePrefix(text: string): string | null {
  const t = text.trim();
  if (/^[A-Za-z0-9_-]{12}$/.test(t) && !t.startsWith(`${KIND}-`)) return t;
  const m = /^hskey-api-([A-Za-z0-9_-]{12})(?:-.*)?$/.exec(t);
  return m ? m[1]! : null;
}
