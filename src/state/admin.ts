// What the admin surfaces (REST API, CLI over the unix socket) may do to the tailnet.
// The tailnet implements it; the API layer only translates HTTP to these calls.
// Errors thrown are AdminError with an HTTP-ish status so every surface reports them alike.

import type { NodeRecord, PreAuthKeyRecord, UserRecord } from './model.js';

export class AdminError extends Error {
  constructor(
    readonly status: 400 | 404 | 409 | 500 | 501,
    message: string,
  ) {
    super(message);
    this.name = 'AdminError';
  }
}

export interface NodeView extends NodeRecord {
  online: boolean;
  user: UserRecord | null;
  preAuthKey: PreAuthKeyRecord | null;
}

export interface CreatedPreAuthKey {
  /** The full secret key; shown once, never stored. */
  key: string;
  record: PreAuthKeyRecord;
}

export interface AdminService {
  listUsers(filter?: { id?: number; name?: string; email?: string }): UserRecord[];
  createUser(input: { name: string; displayName?: string; email?: string; pictureUrl?: string }): Promise<UserRecord>;
  renameUser(id: number, newName: string): Promise<UserRecord>;
  /** Refused with 409 while the user owns nodes. */
  deleteUser(id: number): Promise<void>;

  listPreAuthKeys(userId?: number): PreAuthKeyRecord[];
  createPreAuthKey(input: {
    userId: number | null;
    reusable: boolean;
    ephemeral: boolean;
    expiration: Date | null;
    tags: string[];
  }): Promise<CreatedPreAuthKey>;
  /** Expires the key now (identified by id or by the full key / its prefix). */
  expirePreAuthKey(ref: { id?: number; key?: string; userId?: number }): Promise<PreAuthKeyRecord>;
  deletePreAuthKey(ref: { id?: number; key?: string; userId?: number }): Promise<void>;

  listNodes(filter?: { userId?: number }): NodeView[];
  getNode(id: number): NodeView;
  deleteNode(id: number): Promise<void>;
  /** Expires the node key now (or at `at`), forcing re-authentication. */
  expireNode(id: number, at?: Date): Promise<NodeView>;
  /** Sets the node's given name (its MagicDNS label). */
  renameNode(id: number, newName: string): Promise<NodeView>;
  setNodeTags(id: number, tags: string[]): Promise<NodeView>;
  setApprovedRoutes(id: number, routes: string[]): Promise<NodeView>;
  moveNode(id: number, userId: number): Promise<NodeView>;
  /** Assigns missing addresses and drops those of unconfigured families; the changes made. */
  backfillNodeIPs(): Promise<string[]>;
  /** Clears the node's key expiry: it never expires. */
  disableNodeExpiry(id: number): Promise<NodeView>;
}
