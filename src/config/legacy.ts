// Keys that older headscale releases used. A headscale user keeps their config file, so old
// spellings are moved to today's keys (with a warning saying what to write instead) rather
// than rejected. When both old and new are present, the new key wins.

import { parseAddress } from '../util/netaddr.js';
import { ConfigError } from './errors.js';

type Raw = Record<string, unknown>;

const MOVES: Array<[from: string, to: string]> = [
  ['acl_policy_path', 'policy.path'],
  ['dns_config.magic_dns', 'dns.magic_dns'],
  ['dns_config.base_domain', 'dns.base_domain'],
  ['dns_config.override_local_dns', 'dns.override_local_dns'],
  ['dns_config.nameservers', 'dns.nameservers.global'],
  ['dns_config.restricted_nameservers', 'dns.nameservers.split'],
  ['dns_config.domains', 'dns.search_domains'],
  ['dns_config.extra_records', 'dns.extra_records'],
  ['db_type', 'database.type'],
  ['db_path', 'database.sqlite.path'],
  ['db_host', 'database.postgres.host'],
  ['db_port', 'database.postgres.port'],
  ['db_name', 'database.postgres.name'],
  ['db_user', 'database.postgres.user'],
  ['db_pass', 'database.postgres.pass'],
  ['db_ssl', 'database.postgres.ssl'],
];

/** Dropped by headscale without replacement; kept only to say so instead of "unknown key". */
const REMOVED: Array<[key: string, why: string]> = [
  ['dns_config.use_username_in_magic_dns', 'removed from headscale; MagicDNS names are <node>.<base_domain>'],
  ['dns.use_username_in_magic_dns', 'removed from headscale; MagicDNS names are <node>.<base_domain>'],
];

function isObj(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function has(raw: Raw, path: string[]): boolean {
  let cur: unknown = raw;
  for (const k of path) {
    if (!isObj(cur) || !(k in cur)) return false;
    cur = cur[k];
  }
  return true;
}

function get(raw: Raw, path: string[]): unknown {
  let cur: unknown = raw;
  for (const k of path) cur = isObj(cur) ? cur[k] : undefined;
  return cur;
}

function set(raw: Raw, path: string[], value: unknown): void {
  let cur = raw;
  for (const k of path.slice(0, -1)) {
    if (!isObj(cur[k])) cur[k] = {};
    cur = cur[k] as Raw;
  }
  cur[path[path.length - 1]!] = value;
}

function remove(raw: Raw, path: string[]): void {
  const parent = get(raw, path.slice(0, -1));
  if (isObj(parent)) delete parent[path[path.length - 1]!];
  // Drop a section the move emptied, so it is not reported as unknown.
  if (path.length > 1 && isObj(parent) && Object.keys(parent).length === 0) remove(raw, path.slice(0, -1));
}

/** Rewrites old keys in `raw` (in place) and returns the warnings to show. */
export function migrateLegacyKeys(raw: Raw): string[] {
  const warnings: string[] = [];

  for (const [key, why] of REMOVED) {
    const p = key.split('.');
    if (has(raw, p)) {
      warnings.push(`${key}: ${why} (ignored)`);
      remove(raw, p);
    }
  }

  // ip_prefixes was a list mixing both families; today each family has its own key.
  if (has(raw, ['ip_prefixes'])) {
    const list = raw['ip_prefixes'];
    if (!Array.isArray(list)) throw new ConfigError('ip_prefixes', 'expected a list of prefixes');
    if (has(raw, ['prefixes'])) {
      warnings.push('ip_prefixes is deprecated and ignored because prefixes is set');
    } else {
      const seen = new Set<number>();
      list.forEach((item, i) => {
        const text = String(item);
        const addr = parseAddress(text.split('/')[0] ?? '');
        if (!addr) throw new ConfigError(`ip_prefixes[${i}]`, `${JSON.stringify(text)} is not an IP prefix`);
        if (seen.has(addr.family)) throw new ConfigError(`ip_prefixes[${i}]`, `only one IPv${addr.family} prefix is supported`);
        seen.add(addr.family);
        set(raw, ['prefixes', addr.family === 4 ? 'v4' : 'v6'], text);
      });
      warnings.push('ip_prefixes is deprecated; use prefixes.v4 and prefixes.v6 (value applied)');
    }
    delete raw['ip_prefixes'];
  }

  for (const [from, to] of MOVES) {
    const f = from.split('.');
    if (!has(raw, f)) continue;
    const t = to.split('.');
    if (has(raw, t)) {
      warnings.push(`${from} is deprecated and ignored because ${to} is set`);
    } else {
      set(raw, t, get(raw, f));
      warnings.push(`${from} is deprecated; use ${to} (value applied)`);
    }
    remove(raw, f);
  }

  // headscale renamed ephemeral_node_inactivity_timeout to node.ephemeral.inactivity_timeout;
  // both are current spellings here, the newer one winning like in headscale.
  if (has(raw, ['node', 'ephemeral', 'inactivity_timeout'])) {
    raw['ephemeral_node_inactivity_timeout'] = get(raw, ['node', 'ephemeral', 'inactivity_timeout']);
    remove(raw, ['node', 'ephemeral', 'inactivity_timeout']);
  }

  return warnings;
}
