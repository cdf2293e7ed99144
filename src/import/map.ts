// headscale's rows, as any release from 0.23 on left them, mapped to our records. The data
// repairs headscale's own later migrations make (NULL/'null' tags, zero-time expiries,
// dangling key references, routes in their old table, owners of tagged nodes) are made here
// too, so an older database imports as the newest headscale would see it. Every row that
// cannot be imported is a problem naming its table and id; what was changed on the way is
// a note. Nothing here writes.

import type { ImportedTailnet } from '../db/store.js';
import type { ApiKeyRecord, NodeRecord, PreAuthKeyRecord, RegisterMethod, UserRecord } from '../state/model.js';
import { BCRYPT_MARK, hashSecret, plaintextKeyPrefix, UNUSABLE_MARK } from '../state/secrets.js';
import { validateTag, validateUserName } from '../state/names.js';
import { isValidLabel, sanitizeHostname } from '../dns/names.js';
import { canonicalAddress, parseAddress, parsePrefix, prefixContains } from '../util/netaddr.js';
import { canonicalPrefix } from '../util/prefix.js';
import type { Hostinfo } from '../tailcfg/types.js';
import type { HeadscaleSource, Row } from './source.js';
import { checkSchemaVersion, type SchemaVersion } from './schema.js';
import { bool, int, intOrNull, isZeroTime, json, stringList, text, time, ValueError } from './values.js';

export interface MapOptions {
  /** The target server's address ranges (config prefixes.v4/v6); null when that family is off. */
  prefixV4: string | null;
  prefixV6: string | null;
  now?: Date;
}

export interface ImportPlan {
  source: string;
  schema: SchemaVersion;
  /** headscale's own record of its version (database_versions), when it kept one. */
  headscaleVersion: string | null;
  tailnet: ImportedTailnet;
  /** The policies row imported, if any. */
  policy: { id: number; text: string } | null;
  counts: Record<string, number>;
  /** Rows that stop the import: "<table> row <id>: <what>". */
  problems: string[];
  /** What was repaired or left out on the way. */
  notes: string[];
  /** Hostinfo.RequestTags of nodes from before headscale granted them into tags (requesttags.ts). */
  pendingRequestTags: { nodeId: number; ownerId: number | null; tags: string[] }[];
}

export const POLICY_SETTING = 'policy';
export const POLICY_UPDATED_SETTING = 'policy_updated_at';

const MACHINE_KEY = /^mkey:[0-9a-f]{64}$/;
const NODE_KEY = /^nodekey:[0-9a-f]{64}$/;
const DISCO_KEY = /^discokey:[0-9a-f]{64}$/;
const REGISTER_METHODS: readonly string[] = ['authkey', 'cli', 'oidc'];

/** Runs `fn` for one row; a ValueError (or any throw) becomes a problem naming the row. */
function perRow<T>(problems: string[], table: string, row: Row, fn: (where: string) => T): T | null {
  const id = row['id'] ?? '?';
  const where = `${table} row ${String(id)}`;
  try {
    return fn(where);
  } catch (err) {
    problems.push(`${where}: ${err instanceof ValueError || err instanceof Error ? err.message : String(err)}`);
    return null;
  }
}

function hashOf(v: unknown): string | null {
  const h = Buffer.isBuffer(v) ? v.toString('utf8') : text(v);
  if (h === '') return null;
  if (h.startsWith('$2')) return BCRYPT_MARK + h;
  if (h.startsWith('$sha256$')) return h;
  return null;
}

export async function readHeadscale(src: HeadscaleSource, opts: MapOptions): Promise<ImportPlan> {
  const now = opts.now ?? new Date();
  const problems: string[] = [];
  const notes: string[] = [];
  const tables = await src.tables();
  const has = (t: string) => tables.includes(t);
  const rowsOf = async (t: string) => (has(t) ? src.rows(t) : []);

  const migrations = (await rowsOf('migrations')).map((r) => text(r['id']));
  const versions = await rowsOf('database_versions');
  const headscaleVersion = versions.length > 0 ? text(versions[versions.length - 1]!['version']) : null;
  const schema = checkSchemaVersion(tables, migrations, headscaleVersion);

  // ---- users (gorm soft-deletes them: a deleted_at row is gone for headscale) ----
  const users: UserRecord[] = [];
  const userIds = new Set<number>();
  const byName = new Map<string, number>();
  for (const r of await rowsOf('users')) {
    if (time(r['deleted_at'], 'deleted_at') !== null) {
      notes.push(`users row ${String(r['id'])}: deleted in headscale; not imported`);
      continue;
    }
    const u = perRow(problems, 'users', r, () => {
      const id = int(r['id'], 'id');
      const name = text(r['name']);
      const bad = validateUserName(name);
      if (bad) throw new ValueError(`name ${JSON.stringify(name)} ${bad}`);
      const other = byName.get(name);
      if (other !== undefined) throw new ValueError(`name ${JSON.stringify(name)} is also users row ${other}'s; Switchboard user names are unique`);
      byName.set(name, id);
      const created = time(r['created_at'], 'created_at') ?? now;
      return {
        id,
        name,
        displayName: text(r['display_name']),
        email: text(r['email']),
        providerId: text(r['provider_identifier']),
        provider: text(r['provider']),
        profilePicUrl: text(r['profile_pic_url']),
        oidcGroups: [], // headscale keeps no groups; the next OIDC login fills them
        createdAt: created,
        updatedAt: time(r['updated_at'], 'updated_at') ?? created,
      } satisfies UserRecord;
    });
    if (u) {
      users.push(u);
      userIds.add(u.id);
    }
  }
  const needUser = (id: number | null, col: string) => {
    if (id !== null && !userIds.has(id)) throw new ValueError(`${col} ${id} names no (undeleted) user`);
  };

  // ---- pre-auth keys ----
  const keys: PreAuthKeyRecord[] = [];
  const keyById = new Map<number, PreAuthKeyRecord>();
  const keyPrefixes = new Map<string, number>();
  let bcryptKeys = 0;
  let plaintextKeys = 0;
  for (const r of await rowsOf('pre_auth_keys')) {
    const k = perRow(problems, 'pre_auth_keys', r, (where) => {
      const id = int(r['id'], 'id');
      const userId = intOrNull(r['user_id'], 'user_id');
      needUser(userId, 'user_id');
      const tags = [...new Set(stringList(r['tags'], 'tags'))].sort();
      for (const t of tags) {
        const bad = validateTag(t);
        if (bad) throw new ValueError(`tag ${JSON.stringify(t)}: ${bad}`);
      }
      let expiration = time(r['expiration'], 'expiration');
      // Go's zero time is in the past: such a key was expired in headscale and stays so.
      if (isZeroTime(expiration)) expiration = new Date(0);
      const revoked = time(r['revoked'], 'revoked');
      if (revoked) {
        // A revoked key cannot be used; an expiry at the revocation says the same here.
        expiration = expiration && expiration < revoked ? expiration : revoked;
        notes.push(`${where}: revoked in headscale; imported as expired at ${revoked.toISOString()}`);
      }
      const plaintext = text(r['key']);
      const storedPrefix = text(r['prefix']);
      const stored = hashOf(r['hash']);
      let prefix: string;
      let keyHash: string;
      if (storedPrefix !== '' && stored !== null) {
        if (!/^[A-Za-z0-9_-]{12}$/.test(storedPrefix)) throw new ValueError(`prefix ${JSON.stringify(storedPrefix)} is not 12 URL-safe characters`);
        prefix = storedPrefix;
        keyHash = stored;
        bcryptKeys++;
      } else if (plaintext !== '') {
        // Stored our way: only a hash of the key is kept.
        prefix = plaintextKeyPrefix(plaintext);
        keyHash = hashSecret(plaintext);
        plaintextKeys++;
      } else {
        // Nothing to check a presented key against: unusable in headscale, and here.
        prefix = storedPrefix || `imported-${id}`;
        keyHash = `${UNUSABLE_MARK}${id}`;
        notes.push(`${where}: no key or usable hash stored; imported as a key that matches nothing (nodes keep their reference)`);
      }
      const other = keyPrefixes.get(prefix);
      if (other !== undefined) throw new ValueError(`prefix ${prefix} is also pre_auth_keys row ${other}'s`);
      keyPrefixes.set(prefix, id);
      if (userId === null && tags.length === 0) {
        notes.push(`${where}: neither a user nor tags; it cannot register a node`);
      }
      return {
        id,
        prefix,
        keyHash,
        userId,
        reusable: bool(r['reusable'], 'reusable'),
        ephemeral: bool(r['ephemeral'], 'ephemeral'),
        used: bool(r['used'], 'used'),
        tags,
        expiration,
        createdAt: time(r['created_at'], 'created_at') ?? now,
      } satisfies PreAuthKeyRecord;
    });
    if (k) {
      keys.push(k);
      keyById.set(k.id, k);
    }
  }

  // ---- routes: before headscale 0.26 approved routes lived in their own table ----
  const nodeCols = has('nodes') ? await src.columns('nodes') : [];
  const routesByNode = new Map<number, string[]>();
  if (!nodeCols.includes('approved_routes')) {
    for (const r of await rowsOf('routes')) {
      perRow(problems, 'routes', r, () => {
        if (time(r['deleted_at'], 'deleted_at') !== null || !bool(r['enabled'], 'enabled')) return;
        const nodeId = int(r['node_id'], 'node_id');
        const p = canonicalPrefix(text(r['prefix']));
        if (!p) throw new ValueError(`prefix ${JSON.stringify(text(r['prefix']))} is not an IP prefix`);
        routesByNode.set(nodeId, [...(routesByNode.get(nodeId) ?? []), p]);
      });
    }
  }

  // ---- nodes ----
  const v4 = opts.prefixV4 ? parsePrefix(opts.prefixV4) : null;
  const v6 = opts.prefixV6 ? parsePrefix(opts.prefixV6) : null;
  const taken = new Map<string, number>();
  const claim = (kind: string, value: string, id: number) => {
    const other = taken.get(`${kind}\u0000${value}`);
    if (other !== undefined) throw new ValueError(`${kind} ${value} is also nodes row ${other}'s`);
    taken.set(`${kind}\u0000${value}`, id);
  };
  const requestTagsMigrated = schema.migrations.includes('202601121700-migrate-hostinfo-request-tags') || schema.migrations.includes('SCHEMA_INIT');
  const nodes: NodeRecord[] = [];
  const pendingRequestTags: ImportPlan['pendingRequestTags'] = [];
  let tagged = 0;
  for (const r of await rowsOf('nodes')) {
    const n = perRow(problems, 'nodes', r, (where) => {
      const id = int(r['id'], 'id');
      const machineKey = text(r['machine_key']);
      const nodeKey = text(r['node_key']);
      const discoKey = text(r['disco_key']);
      if (!MACHINE_KEY.test(machineKey)) throw new ValueError(`machine_key ${JSON.stringify(machineKey.slice(0, 80))} is not "mkey:<64 hex>"`);
      if (!NODE_KEY.test(nodeKey)) throw new ValueError(`node_key ${JSON.stringify(nodeKey.slice(0, 80))} is not "nodekey:<64 hex>"`);
      if (discoKey !== '' && !DISCO_KEY.test(discoKey)) throw new ValueError(`disco_key ${JSON.stringify(discoKey.slice(0, 80))} is not "discokey:<64 hex>"`);
      claim('machine_key', machineKey, id);
      claim('node_key', nodeKey, id);

      const address = (col: 'ipv4' | 'ipv6', family: 4 | 6, pool: ReturnType<typeof parsePrefix> | null, setting: string) => {
        const raw = text(r[col]).trim();
        if (raw === '') return null;
        const a = parseAddress(raw);
        if (!a || a.family !== family) throw new ValueError(`${col} ${JSON.stringify(raw)} is not an IPv${family} address`);
        if (!pool || !prefixContains(pool, a)) {
          throw new ValueError(`${col} ${raw} is outside this server's ${setting} (${pool ? setting === 'prefixes.v4' ? opts.prefixV4 : opts.prefixV6 : 'off'}); set ${setting} in the config to headscale's prefix`);
        }
        const canon = canonicalAddress(raw)!;
        claim(col, canon, id);
        return canon;
      };
      const ipv4 = address('ipv4', 4, v4, 'prefixes.v4');
      const ipv6 = address('ipv6', 6, v6, 'prefixes.v6');
      if (ipv4 === null && ipv6 === null) notes.push(`${where}: has no address; it gets one when it next connects`);

      const hostinfoValue = json(r['host_info'], 'host_info', {});
      const hostinfo = (hostinfoValue ?? {}) as Hostinfo;
      if (typeof hostinfo !== 'object' || Array.isArray(hostinfo)) throw new ValueError('host_info is not a JSON object');
      const hostname = text(r['hostname']);
      let givenName = text(r['given_name']);
      if (!isValidLabel(givenName)) {
        const fixed = sanitizeHostname(givenName || hostname);
        notes.push(`${where}: given_name ${JSON.stringify(givenName)} is not a DNS label; imported as ${JSON.stringify(fixed)}`);
        givenName = fixed;
      }
      claim('given_name', givenName, id);

      const tags = [...new Set(stringList(r[nodeCols.includes('tags') ? 'tags' : 'forced_tags'], 'tags'))].sort();
      for (const t of tags) {
        const bad = validateTag(t);
        if (bad) throw new ValueError(`tag ${JSON.stringify(t)}: ${bad}`);
      }
      const requested = (hostinfo as { RequestTags?: unknown }).RequestTags;
      if (!requestTagsMigrated && Array.isArray(requested) && requested.length > 0) {
        const asked = requested.filter((t): t is string => typeof t === 'string' && validateTag(t) === null);
        // Checked against the owner headscale had recorded, before tagged nodes lost theirs.
        if (asked.length > 0) pendingRequestTags.push({ nodeId: id, ownerId: intOrNull(r['user_id'], 'user_id'), tags: asked });
      }

      let authKeyId = intOrNull(r['auth_key_id'], 'auth_key_id');
      if (authKeyId !== null && !keyById.has(authKeyId)) {
        // headscale's 202502070949 migration does the same.
        if (authKeyId !== 0) notes.push(`${where}: auth_key_id ${authKeyId} names no pre-auth key; dropped`);
        authKeyId = null;
      }
      const key = authKeyId !== null ? keyById.get(authKeyId)! : null;

      let userId = intOrNull(r['user_id'], 'user_id');
      if (tags.length > 0) {
        // Tagged nodes are owned by their tags (headscale 0.29's 202602201200).
        userId = null;
        tagged++;
      } else if (userId === null) {
        // headscale 0.29.0 wrongly detached some; its 202606181200 recovers them from the key.
        if (key?.userId != null) userId = key.userId;
        else throw new ValueError('has neither tags nor a user (headscale lost its owner); give it one in headscale (`headscale nodes move`) and import again');
      }
      needUser(userId, 'user_id');

      let registerMethod = text(r['register_method']);
      if (registerMethod === '') {
        registerMethod = key ? 'authkey' : 'cli';
        notes.push(`${where}: register_method empty; imported as ${registerMethod}`);
      }
      if (!REGISTER_METHODS.includes(registerMethod)) throw new ValueError(`register_method ${JSON.stringify(registerMethod)} is not one of ${REGISTER_METHODS.join(', ')}`);

      let expiry = time(r['expiry'], 'expiry');
      // Zero time means none (headscale's 202605221435); tagged nodes never expire (its 202607241200).
      if (isZeroTime(expiry) || tags.length > 0) expiry = null;
      let lastSeen = time(r['last_seen'], 'last_seen');
      if (isZeroTime(lastSeen)) lastSeen = null;

      const routes = nodeCols.includes('approved_routes') ? stringList(r['approved_routes'], 'approved_routes') : (routesByNode.get(id) ?? []);
      const approvedRoutes = [...new Set(routes.map((p) => {
        const c = canonicalPrefix(p);
        if (!c) throw new ValueError(`approved route ${JSON.stringify(p)} is not an IP prefix`);
        return c;
      }))].sort();

      const created = time(r['created_at'], 'created_at') ?? now;
      return {
        id,
        machineKey,
        nodeKey,
        discoKey,
        endpoints: stringList(r['endpoints'], 'endpoints'),
        hostinfo,
        ipv4,
        ipv6,
        hostname,
        givenName,
        userId,
        registerMethod: registerMethod as RegisterMethod,
        tags,
        authKeyId,
        // headscale has no column for it: a node is ephemeral when its key was.
        ephemeral: key?.ephemeral ?? false,
        expiry,
        lastSeen,
        approvedRoutes,
        createdAt: created,
        updatedAt: time(r['updated_at'], 'updated_at') ?? created,
      } satisfies NodeRecord;
    });
    if (n) nodes.push(n);
  }
  for (const nodeId of routesByNode.keys()) {
    if (!nodes.some((n) => n.id === nodeId) && !problems.some((p) => p.startsWith(`nodes row ${nodeId}:`))) {
      notes.push(`routes of node ${nodeId}: that node does not exist; dropped`);
    }
  }

  // ---- API keys ----
  const apiKeys: ApiKeyRecord[] = [];
  const apiPrefixes = new Map<string, number>();
  for (const r of await rowsOf('api_keys')) {
    const k = perRow(problems, 'api_keys', r, () => {
      const id = int(r['id'], 'id');
      const prefix = text(r['prefix']);
      if (!/^[A-Za-z0-9_-]{1,32}$/.test(prefix)) throw new ValueError(`prefix ${JSON.stringify(prefix)} is not a key prefix`);
      const other = apiPrefixes.get(prefix);
      if (other !== undefined) throw new ValueError(`prefix ${prefix} is also api_keys row ${other}'s`);
      apiPrefixes.set(prefix, id);
      const keyHash = hashOf(r['hash']);
      if (keyHash === null) throw new ValueError('hash is neither bcrypt nor "$sha256$"; the key could never be checked');
      let expiration = time(r['expiration'], 'expiration');
      if (isZeroTime(expiration)) expiration = new Date(0);
      return {
        id,
        prefix,
        keyHash,
        expiration,
        lastSeen: time(r['last_seen'], 'last_seen'),
        createdAt: time(r['created_at'], 'created_at') ?? now,
      } satisfies ApiKeyRecord;
    });
    if (k) apiKeys.push(k);
  }

  // ---- policy (policy.mode: database): the newest undeleted row, as headscale reads it ----
  let policy: ImportPlan['policy'] = null;
  for (const r of await rowsOf('policies')) {
    perRow(problems, 'policies', r, () => {
      if (time(r['deleted_at'], 'deleted_at') !== null) return;
      const id = int(r['id'], 'id');
      if (!policy || id > policy.id) policy = { id, text: text(r['data']) };
    });
  }
  const settings: ImportedTailnet['settings'] = [];
  if (policy !== null) {
    const p: { id: number; text: string } = policy;
    settings.push({ key: POLICY_SETTING, value: p.text }, { key: POLICY_UPDATED_SETTING, value: now.toISOString() });
  }

  for (const t of ['oauth_clients', 'oauth_access_tokens']) {
    const n = (await rowsOf(t)).length;
    if (n > 0) notes.push(`${t}: ${n} row(s) not imported (Switchboard has no OAuth clients); make API keys instead`);
  }

  return {
    source: src.what,
    schema,
    headscaleVersion,
    tailnet: { users, preAuthKeys: keys, nodes, apiKeys, settings },
    policy,
    counts: {
      users: users.length,
      nodes: nodes.length,
      'tagged nodes': tagged,
      'ephemeral nodes': nodes.filter((n) => n.ephemeral).length,
      'pre-auth keys': keys.length,
      'pre-auth keys hashed by headscale': bcryptKeys,
      'pre-auth keys in plain text (now hashed)': plaintextKeys,
      'API keys': apiKeys.length,
      'approved routes': nodes.reduce((s, n) => s + n.approvedRoutes.length, 0),
    },
    problems,
    notes,
    pendingRequestTags,
  };
}
