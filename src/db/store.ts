// The persistence boundary. The server keeps the tailnet in memory and writes through
// this interface; SQLite and PostgreSQL (via Prisma driver adapters) both implement it.

import type { ApiKeyRecord, AuditEventRecord, NodeRecord, PreAuthKeyRecord, TailnetSnapshot, UserRecord } from '../state/model.js';

/** oidcGroups may be left out: a user that never logged in through OIDC has none. */
export type NewUser = Omit<UserRecord, 'id' | 'createdAt' | 'updatedAt' | 'oidcGroups'> & { oidcGroups?: string[] };
export type NewPreAuthKey = Omit<PreAuthKeyRecord, 'id' | 'createdAt'>;
export type NewNode = Omit<NodeRecord, 'id' | 'createdAt' | 'updatedAt'>;
export type NewApiKey = Omit<ApiKeyRecord, 'id' | 'createdAt'>;
export type NewAuditEvent = Omit<AuditEventRecord, 'id' | 'createdAt'>;

/** A whole tailnet as an import writes it: records keep their ids (nodes keep their node IDs). */
export interface ImportedTailnet {
  users: UserRecord[];
  preAuthKeys: PreAuthKeyRecord[];
  nodes: NodeRecord[];
  apiKeys: ApiKeyRecord[];
  settings: { key: string; value: string }[];
}

export interface Store {
  /** "sqlite" | "postgres" */
  readonly kind: string;
  /** Applies committed migrations that are not applied yet. */
  migrate(log?: (msg: string) => void): Promise<void>;
  /** Throws when the database does not answer. */
  ping(): Promise<void>;
  loadAll(): Promise<TailnetSnapshot>;
  /** The named records as they are now (missing ids are absent): another instance changed them. */
  loadSome(ids: { users?: number[]; nodes?: number[]; preAuthKeys?: number[] }): Promise<TailnetSnapshot>;

  createUser(u: NewUser): Promise<UserRecord>;
  updateUser(id: number, patch: Partial<NewUser>): Promise<UserRecord>;
  /** Fails (and changes nothing) if the user still owns nodes. */
  deleteUser(id: number): Promise<void>;

  createPreAuthKey(k: NewPreAuthKey): Promise<PreAuthKeyRecord>;
  updatePreAuthKey(id: number, patch: Partial<NewPreAuthKey>): Promise<PreAuthKeyRecord>;
  deletePreAuthKey(id: number): Promise<void>;
  /**
   * Marks a single-use key used, atomically across every instance sharing the
   * database. Resolves true for exactly one caller; false if it was already used.
   */
  claimPreAuthKey(id: number): Promise<boolean>;

  createNode(n: NewNode): Promise<NodeRecord>;
  updateNode(id: number, patch: Partial<NewNode>): Promise<NodeRecord>;
  /** Sets last-seen of many nodes at once (a shutdown closing every stream); unknown ids are skipped. */
  setNodesLastSeen(ids: number[], at: Date): Promise<void>;
  deleteNode(id: number): Promise<void>;

  listApiKeys(): Promise<ApiKeyRecord[]>;
  createApiKey(k: NewApiKey): Promise<ApiKeyRecord>;
  updateApiKey(id: number, patch: Partial<NewApiKey>): Promise<ApiKeyRecord>;
  deleteApiKey(id: number): Promise<void>;

  /** Small key/value settings (the policy in database mode, server-wide flags). */
  getSetting(key: string): Promise<string | null>;
  putSetting(key: string, value: string): Promise<void>;

  /** Appends one admin change to the audit log. */
  appendAudit(e: NewAuditEvent): Promise<AuditEventRecord>;
  /** Newest first; `beforeId` pages back, `since` keeps only later events. */
  listAudit(opts: { limit: number; beforeId?: number; since?: Date }): Promise<AuditEventRecord[]>;

  /**
   * Writes `t` in one transaction. Refused (StoreError 'in_use', nothing written) when the
   * database already holds users, nodes, keys or the given settings, unless `replace`,
   * which first deletes those (the audit log stays).
   */
  importTailnet(t: ImportedTailnet, opts: { replace: boolean; progress?: (msg: string) => void }): Promise<void>;

  close(): Promise<void>;
}
