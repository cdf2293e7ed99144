// The tailnet's records as the server holds them in memory and persists them.
// Keys are stored in their prefixed text form ("nodekey:…", "mkey:…", "discokey:…").

import type { Hostinfo } from '../tailcfg/types.js';

export interface UserRecord {
  id: number;
  /** Unique login name, e.g. "odin" or "odin@example.com". */
  name: string;
  displayName: string;
  email: string;
  /** OIDC issuer + subject when the user came from OIDC; empty otherwise. */
  providerId: string;
  /** "" | "oidc" */
  provider: string;
  profilePicUrl: string;
  /** The groups claim of the user's last OIDC login, as the provider spells them (policy groups map from these). */
  oidcGroups: string[];
  createdAt: Date;
  updatedAt: Date;
}

export interface PreAuthKeyRecord {
  id: number;
  /** Non-secret prefix shown in listings ("hskey-auth-<prefix>-…"). */
  prefix: string;
  /** sha256 hex of the full key; the key itself is never stored. */
  keyHash: string;
  /** Owning user; null for a key that only makes tagged nodes. */
  userId: number | null;
  reusable: boolean;
  ephemeral: boolean;
  used: boolean;
  tags: string[];
  expiration: Date | null;
  createdAt: Date;
}

export type RegisterMethod = 'authkey' | 'cli' | 'oidc';

export interface NodeRecord {
  id: number;
  machineKey: string;
  nodeKey: string;
  discoKey: string;
  endpoints: string[];
  hostinfo: Hostinfo;
  ipv4: string | null;
  ipv6: string | null;
  /** Hostname the client reported. */
  hostname: string;
  /** DNS label unique in the tailnet (MagicDNS name is `<givenName>.<base_domain>`). */
  givenName: string;
  userId: number | null;
  registerMethod: RegisterMethod;
  tags: string[];
  authKeyId: number | null;
  ephemeral: boolean;
  /** Node key expiry; null never expires. A time in the past means logged out/expired. */
  expiry: Date | null;
  lastSeen: Date | null;
  approvedRoutes: string[];
  createdAt: Date;
  updatedAt: Date;
}

export interface TailnetSnapshot {
  users: UserRecord[];
  nodes: NodeRecord[];
  preAuthKeys: PreAuthKeyRecord[];
}

export interface ApiKeyRecord {
  id: number;
  /** Non-secret prefix shown in listings and used to look the key up. */
  prefix: string;
  /** sha256 hex of the full key. */
  keyHash: string;
  expiration: Date | null;
  lastSeen: Date | null;
  createdAt: Date;
}

/** One admin change, as the audit log keeps it. */
export interface AuditEventRecord {
  id: number;
  createdAt: Date;
  /** "api key hskey-api-<prefix>" or "local socket". */
  actor: string;
  /** The API operation, e.g. "DeleteNode". */
  action: string;
  /** Method and path, e.g. "DELETE /api/v1/node/3". */
  target: string;
  /** Selected request fields; never secrets. */
  detail: Record<string, unknown>;
}
