// Records rendered as headscale's v1 messages in protojson form, as its grpc-gateway emits
// them: camelCase names, uint64 ids as decimal strings, timestamps in RFC 3339, and every
// field present (unset messages null, empty lists []), matching EmitUnpopulated.
//
// Node shape follows headscale v0.29 (the newest release): a single `tags` list replaced
// forcedTags/validTags/invalidTags, and tagged nodes report the synthetic "tagged-devices" user.

import type { NodeView } from '../state/admin.js';
import type { ApiKeyRecord, PreAuthKeyRecord, RegisterMethod, UserRecord } from '../state/model.js';

export interface UserJson {
  id: string;
  name: string;
  createdAt: string | null;
  displayName: string;
  email: string;
  providerId: string;
  provider: string;
  profilePicUrl: string;
}

export interface PreAuthKeyJson {
  user: UserJson | null;
  id: string;
  key: string;
  reusable: boolean;
  ephemeral: boolean;
  used: boolean;
  expiration: string | null;
  createdAt: string | null;
  aclTags: string[];
}

export interface NodeJson {
  id: string;
  machineKey: string;
  nodeKey: string;
  discoKey: string;
  ipAddresses: string[];
  name: string;
  user: UserJson | null;
  lastSeen: string | null;
  expiry: string | null;
  preAuthKey: PreAuthKeyJson | null;
  createdAt: string | null;
  registerMethod: string;
  givenName: string;
  online: boolean;
  approvedRoutes: string[];
  availableRoutes: string[];
  subnetRoutes: string[];
  tags: string[];
}

export interface ApiKeyJson {
  id: string;
  prefix: string;
  expiration: string | null;
  createdAt: string | null;
  lastSeen: string | null;
}

/** protojson prints Timestamps with 0, 3, 6 or 9 fractional digits; JS dates have at most 3. */
export function timestampJson(d: Date | null | undefined): string | null {
  if (!d) return null;
  const iso = d.toISOString();
  return iso.endsWith('.000Z') ? `${iso.slice(0, -5)}Z` : iso;
}

export function userJson(u: UserRecord): UserJson {
  return {
    id: String(u.id),
    name: u.name,
    createdAt: timestampJson(u.createdAt),
    displayName: u.displayName,
    email: u.email,
    providerId: u.providerId,
    provider: u.provider,
    profilePicUrl: u.profilePicUrl,
  };
}

/** headscale's stand-in owner for tagged nodes (tags replace the user as identity). */
const TAGGED_DEVICES: UserJson = {
  id: '2147455555',
  name: 'tagged-devices',
  createdAt: null,
  displayName: 'Tagged Devices',
  email: '',
  providerId: '',
  provider: '',
  profilePicUrl: '',
};

/** Listings show the key's prefix only; the full key is passed once, on creation. */
export function preAuthKeyJson(k: PreAuthKeyRecord, owner: UserRecord | null, fullKey?: string): PreAuthKeyJson {
  return {
    user: owner ? userJson(owner) : null,
    id: String(k.id),
    key: fullKey ?? `hskey-auth-${k.prefix}-***`,
    reusable: k.reusable,
    ephemeral: k.ephemeral,
    used: k.used,
    expiration: timestampJson(k.expiration),
    createdAt: timestampJson(k.createdAt),
    aclTags: [...k.tags],
  };
}

const REGISTER_METHODS: Record<RegisterMethod, string> = {
  authkey: 'REGISTER_METHOD_AUTH_KEY',
  cli: 'REGISTER_METHOD_CLI',
  oidc: 'REGISTER_METHOD_OIDC',
};

export function nodeJson(n: NodeView, lookupUser: (id: number) => UserRecord | null): NodeJson {
  const available = n.hostinfo?.RoutableIPs ?? [];
  const approved = new Set(n.approvedRoutes);
  const keyOwner = n.preAuthKey?.userId != null ? lookupUser(n.preAuthKey.userId) : null;
  return {
    id: String(n.id),
    machineKey: n.machineKey,
    nodeKey: n.nodeKey,
    discoKey: n.discoKey,
    ipAddresses: [n.ipv4, n.ipv6].filter((a): a is string => !!a),
    name: n.hostname,
    user: n.tags.length > 0 ? { ...TAGGED_DEVICES } : n.user ? userJson(n.user) : null,
    lastSeen: timestampJson(n.lastSeen),
    expiry: timestampJson(n.expiry),
    preAuthKey: n.preAuthKey ? preAuthKeyJson(n.preAuthKey, keyOwner) : null,
    createdAt: timestampJson(n.createdAt),
    registerMethod: REGISTER_METHODS[n.registerMethod] ?? 'REGISTER_METHOD_UNSPECIFIED',
    givenName: n.givenName,
    online: n.online,
    approvedRoutes: [...n.approvedRoutes],
    availableRoutes: [...available],
    // Routes the node both announces and is allowed to serve. headscale narrows this to the
    // primary among HA peers; without that election every approved announcement counts.
    subnetRoutes: available.filter((r) => approved.has(r)),
    tags: [...n.tags],
  };
}

/** New-format keys show as "hskey-api-<prefix>-***", like headscale's listings. */
export function apiKeyJson(k: ApiKeyRecord): ApiKeyJson {
  return {
    id: String(k.id),
    prefix: `hskey-api-${k.prefix}-***`,
    expiration: timestampJson(k.expiration),
    createdAt: timestampJson(k.createdAt),
    lastSeen: timestampJson(k.lastSeen),
  };
}
