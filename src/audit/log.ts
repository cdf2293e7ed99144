// The audit log: who changed what through the admin API, and when, kept in the database.
// The actor is the API key's public prefix or "local socket"; the detail keeps only fields
// that name things (users, tags, routes, expiry), never keys or policy text.

import type { Store } from '../db/store.js';
import type { AuditEventRecord } from '../state/model.js';

export const LOCAL_SOCKET = 'local socket';

export function apiKeyActor(prefix: string): string {
  return `api key hskey-api-${prefix}`;
}

/** Request fields worth keeping; anything else (keys, policy text, unknown fields) is dropped. */
const KEPT_FIELDS = new Set([
  'name', 'newName', 'user', 'id', 'displayName', 'email', 'pictureUrl', 'tags', 'aclTags', 'routes',
  'reusable', 'ephemeral', 'expiration', 'expiry', 'disableExpiry', 'prefix', 'confirmed',
]);
const MAX_VALUE_CHARS = 512;

export function auditDetail(...sources: unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const src of sources) {
    if (!src || typeof src !== 'object' || Array.isArray(src)) continue;
    for (const [k, v] of Object.entries(src as Record<string, unknown>)) {
      if (!KEPT_FIELDS.has(k) || v === undefined) continue;
      const text = JSON.stringify(v);
      out[k] = text.length > MAX_VALUE_CHARS ? `${text.slice(0, MAX_VALUE_CHARS)}…` : v;
    }
  }
  return out;
}

export class AuditLog {
  constructor(private readonly store: Store) {}

  record(e: { actor: string; action: string; target: string; detail: Record<string, unknown> }): Promise<AuditEventRecord> {
    return this.store.appendAudit(e);
  }

  list(opts: { limit: number; beforeId?: number; since?: Date }): Promise<AuditEventRecord[]> {
    return this.store.listAudit(opts);
  }
}
