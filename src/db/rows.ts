// Converting between database rows and the model's records. String lists and hostinfo are
// JSON text columns (both providers support text; PostgreSQL arrays would not port to SQLite).

import type { Hostinfo } from '../tailcfg/types.js';
import type { ApiKeyRecord, NodeRecord, PreAuthKeyRecord, RegisterMethod, UserRecord } from '../state/model.js';
import type { NewApiKey, NewNode, NewPreAuthKey, NewUser } from './store.js';
import type { ApiKeyRow, NodeRow, PreAuthKeyRow, UserRow } from './db.js';
import type { Prisma } from './generated/sqlite/client.js';

const REGISTER_METHODS: readonly RegisterMethod[] = ['authkey', 'cli', 'oidc'];

function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${where} holds invalid JSON: ${JSON.stringify(text.slice(0, 80))}`);
  }
}

function stringList(text: string, where: string): string[] {
  const v = parseJson(text, where);
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw new Error(`${where} is not a JSON list of strings`);
  return v;
}

function hostinfoOf(text: string, where: string): Hostinfo {
  const v = parseJson(text, where);
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${where} is not a JSON object`);
  return v as Hostinfo;
}

function registerMethodOf(s: string, where: string): RegisterMethod {
  if (!(REGISTER_METHODS as readonly string[]).includes(s)) throw new Error(`${where} is "${s}", not one of ${REGISTER_METHODS.join(', ')}`);
  return s as RegisterMethod;
}

/** Copies only the fields present in `patch`, so an update touches exactly those columns. */
function pick<T extends object, K extends keyof T>(patch: T, keys: readonly K[]): Pick<T, K> {
  const out = {} as Pick<T, K>;
  for (const k of keys) if (patch[k] !== undefined) out[k] = patch[k];
  return out;
}

export function userFromRow(r: UserRow): UserRecord {
  return {
    id: r.id,
    name: r.name,
    displayName: r.displayName,
    email: r.email,
    providerId: r.providerId,
    provider: r.provider,
    profilePicUrl: r.profilePicUrl,
    oidcGroups: stringList(r.oidcGroups, `users.oidc_groups of user ${r.id}`),
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
  };
}

export function userToData(u: Partial<NewUser>): Prisma.UserUncheckedUpdateInput {
  const { oidcGroups, ...rest } = u;
  return {
    ...pick(rest, ['name', 'displayName', 'email', 'providerId', 'provider', 'profilePicUrl'] as const),
    ...(oidcGroups !== undefined ? { oidcGroups: JSON.stringify(oidcGroups) } : {}),
  };
}

export function preAuthKeyFromRow(r: PreAuthKeyRow): PreAuthKeyRecord {
  return {
    id: r.id,
    prefix: r.prefix,
    keyHash: r.keyHash,
    userId: r.userId,
    reusable: r.reusable,
    ephemeral: r.ephemeral,
    used: r.used,
    tags: stringList(r.tags, `pre_auth_keys.tags of key ${r.id}`),
    expiration: r.expiration,
    createdAt: r.createdAt,
  };
}

export function preAuthKeyToData(k: Partial<NewPreAuthKey>): Prisma.PreAuthKeyUncheckedUpdateInput {
  const { tags, ...rest } = k;
  return {
    ...pick(rest, ['prefix', 'keyHash', 'userId', 'reusable', 'ephemeral', 'used', 'expiration'] as const),
    ...(tags !== undefined ? { tags: JSON.stringify(tags) } : {}),
  };
}

export function nodeFromRow(r: NodeRow): NodeRecord {
  const where = (col: string) => `nodes.${col} of node ${r.id}`;
  return {
    id: r.id,
    machineKey: r.machineKey,
    nodeKey: r.nodeKey,
    discoKey: r.discoKey,
    endpoints: stringList(r.endpoints, where('endpoints')),
    hostinfo: hostinfoOf(r.hostinfo, where('host_info')),
    ipv4: r.ipv4,
    ipv6: r.ipv6,
    hostname: r.hostname,
    givenName: r.givenName,
    userId: r.userId,
    registerMethod: registerMethodOf(r.registerMethod, where('register_method')),
    tags: stringList(r.tags, where('tags')),
    authKeyId: r.authKeyId,
    ephemeral: r.ephemeral,
    expiry: r.expiry,
    lastSeen: r.lastSeen,
    approvedRoutes: stringList(r.approvedRoutes, where('approved_routes')),
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
  };
}

export function nodeToData(n: Partial<NewNode>): Prisma.NodeUncheckedUpdateInput {
  const { endpoints, hostinfo, tags, approvedRoutes, registerMethod, ...rest } = n;
  if (registerMethod !== undefined) registerMethodOf(registerMethod, 'registerMethod');
  return {
    ...pick(rest, ['machineKey', 'nodeKey', 'discoKey', 'ipv4', 'ipv6', 'hostname', 'givenName', 'userId', 'authKeyId', 'ephemeral', 'expiry', 'lastSeen'] as const),
    ...(registerMethod !== undefined ? { registerMethod } : {}),
    ...(endpoints !== undefined ? { endpoints: JSON.stringify(endpoints) } : {}),
    ...(hostinfo !== undefined ? { hostinfo: JSON.stringify(hostinfo) } : {}),
    ...(tags !== undefined ? { tags: JSON.stringify(tags) } : {}),
    ...(approvedRoutes !== undefined ? { approvedRoutes: JSON.stringify(approvedRoutes) } : {}),
  };
}

export function apiKeyFromRow(r: ApiKeyRow): ApiKeyRecord {
  return {
    id: r.id,
    prefix: r.prefix,
    keyHash: r.keyHash,
    expiration: r.expiration,
    lastSeen: r.lastSeen,
    createdAt: r.createdAt,
  };
}

export function apiKeyToData(k: Partial<NewApiKey>): Prisma.ApiKeyUncheckedUpdateInput {
  return pick(k, ['prefix', 'keyHash', 'expiration', 'lastSeen'] as const);
}
