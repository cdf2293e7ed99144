// Checks that need more than a key's type: ranges, cross-key rules, files that must exist.
// The rules follow headscale's own start-up checks so a file it accepts is accepted here.
// Normalises a few values in place (canonical prefixes, base_domain without trailing dot).

import { existsSync, statSync } from 'node:fs';
import { formatPrefix, isHostname, maskPrefix, parseAddress, parsePrefix, prefixCovers, splitHostPort } from '../util/netaddr.js';
import { ConfigError } from './errors.js';
import type { Config } from './types.js';
import { unsupportedKeys } from './unsupported.js';

export interface ValidateContext {
  /** Where explicitly set keys came from, for error messages. */
  origins: Map<string, string>;
  warnings: string[];
}

/** Tailscale clients assume these ranges (tsaddr.CGNATRange / TailscaleULARange). */
export const TAILSCALE_V4_RANGE = '100.64.0.0/10';
export const TAILSCALE_V6_RANGE = 'fd7a:115c:a1e0::/48';

/** headscale: clients keep sessions alive for 60s, so anything shorter races with them. */
const MIN_EPHEMERAL_TIMEOUT_MS = 65_000;

export function validateConfig(c: Config, ctx: ValidateContext): void {
  const fail = (key: string, problem: string): never => {
    throw new ConfigError(key, problem, ctx.origins.get(key));
  };
  const isSet = (key: string) => ctx.origins.has(key);

  // --- listeners and URL ---
  const server = parseHttpUrl(c.server_url);
  if (!server) fail('server_url', `${JSON.stringify(c.server_url)} must be an http:// or https:// URL`);
  checkListen('listen_addr', c.listen_addr, false, fail);
  checkListen('metrics_listen_addr', c.metrics_listen_addr, true, fail);
  if (c.grpc_listen_addr !== '' && isSet('grpc_listen_addr')) {
    ctx.warnings.push('grpc_listen_addr: switchboard serves no gRPC API; use the unix socket or the HTTP API (ignored)');
  }

  if (c.noise.private_key_path === '') fail('noise.private_key_path', 'required (the key is generated there if missing)');

  // --- prefixes ---
  c.prefixes.v4 = checkPrefix('prefixes.v4', c.prefixes.v4, 4, TAILSCALE_V4_RANGE, fail, ctx.warnings);
  c.prefixes.v6 = checkPrefix('prefixes.v6', c.prefixes.v6, 6, TAILSCALE_V6_RANGE, fail, ctx.warnings);
  if (c.prefixes.v4 === null && c.prefixes.v6 === null) fail('prefixes', 'at least one of prefixes.v4 and prefixes.v6 is required');
  if (c.tuning.register_cache_expiration_ms <= 0) fail('tuning.register_cache_expiration', 'must be longer than 0 (how long a web login link stays valid)');

  // --- database ---
  if (c.database.type === 'sqlite' && c.database.sqlite.path === '') fail('database.sqlite.path', 'required when database.type is sqlite');
  if (c.database.type === 'postgres') {
    if (c.database.postgres.host === '') fail('database.postgres.host', 'required when database.type is postgres');
    if (c.database.postgres.name === '') fail('database.postgres.name', 'required when database.type is postgres');
  }

  // --- limits ---
  c.trusted_proxies.forEach((e, i) => {
    try {
      parsePrefix(e.trim());
    } catch {
      fail(`trusted_proxies[${i}]`, `${JSON.stringify(e)} is not an IP address or CIDR prefix`);
    }
  });

  // --- DERP ---
  const ds = c.derp.server;
  if (ds.enabled) {
    if (ds.stun_listen_addr === '') fail('derp.server.stun_listen_addr', 'required when derp.server.enabled is true');
    if (ds.private_key_path === '') fail('derp.server.private_key_path', 'required when derp.server.enabled is true');
    if (!ds.automatically_add_embedded_derp_region && c.derp.paths.length === 0) {
      fail('derp.server.automatically_add_embedded_derp_region', 'false requires the embedded region to be described in a file listed in derp.paths');
    }
  }
  if (ds.mesh_with.length > 0 && ds.mesh_key_path === '') fail('derp.server.mesh_with', 'requires derp.server.mesh_key_path (the mesh key the relays share)');
  ds.mesh_with.forEach((u, i) => {
    if (!parseHttpUrl(u)) fail(`derp.server.mesh_with[${i}]`, `${JSON.stringify(u)} must be an http:// or https:// URL of a DERP relay`);
  });
  if (ds.stun_listen_addr !== '') checkListen('derp.server.stun_listen_addr', ds.stun_listen_addr, false, fail);
  for (const fam of [4, 6] as const) {
    const key = `derp.server.ipv${fam}` as const;
    const v = fam === 4 ? ds.ipv4 : ds.ipv6;
    // "none" tells clients not to use that family for this node (tailcfg.DERPNode).
    if (v !== '' && v !== 'none' && parseAddress(v)?.family !== fam) fail(key, `${JSON.stringify(v)} is not an IPv${fam} address`);
  }
  c.derp.urls.forEach((u, i) => {
    if (!parseHttpUrl(u)) fail(`derp.urls[${i}]`, `${JSON.stringify(u)} must be an http:// or https:// URL`);
  });
  c.derp.paths.forEach((p, i) => {
    if (!existsSync(p)) fail(`derp.paths[${i}]`, `${p} does not exist`);
    if (!statSync(p).isFile()) fail(`derp.paths[${i}]`, `${p} is not a file`);
  });
  if (c.derp.auto_update_enabled && c.derp.update_frequency_ms <= 0) {
    fail('derp.update_frequency', 'must be positive when derp.auto_update_enabled is true');
  }

  if (c.ephemeral_node_inactivity_timeout_ms <= MIN_EPHEMERAL_TIMEOUT_MS) {
    fail('ephemeral_node_inactivity_timeout', `${c.ephemeral_node_inactivity_timeout} is too low, must be more than 65s`);
  }

  const ha = c.database.ha;
  if (ha.heartbeat_interval_ms <= 0) fail('database.ha.heartbeat_interval', 'must be positive');
  else if (ha.instance_timeout_ms < 2 * ha.heartbeat_interval_ms) {
    fail('database.ha.instance_timeout', `${ha.instance_timeout} must be at least twice database.ha.heartbeat_interval (${ha.heartbeat_interval}), or a slow heartbeat looks like a dead instance`);
  }

  // --- DNS ---
  checkDns(c, fail, server?.hostname ?? '');

  // --- OIDC (types were checked by the loader; these are headscale's start-up rules) ---
  if (c.oidc.client_secret !== '' && c.oidc.client_secret_path !== '') {
    fail('oidc.client_secret_path', 'oidc.client_secret and oidc.client_secret_path are mutually exclusive');
  }
  if (c.oidc.groups.claim === '') fail('oidc.groups.claim', 'must name the claim holding the groups (default "groups")');
  if (/[\s:]/.test(c.oidc.groups.prefix)) fail('oidc.groups.prefix', `${JSON.stringify(c.oidc.groups.prefix)} must not contain whitespace or ":" (it goes after "group:")`);
  for (const [from, to] of Object.entries(c.oidc.groups.map)) {
    if (!/^group:[^\s:]+$/.test(to)) fail(`oidc.groups.map.${from}`, `${JSON.stringify(to)} must be a policy group name, "group:" then a name without whitespace or ":"`);
  }
  if (c.oidc.issuer !== '') {
    if (!parseHttpUrl(c.oidc.issuer)) fail('oidc.issuer', `${JSON.stringify(c.oidc.issuer)} must be an http:// or https:// URL`);
    if (c.oidc.client_id === '') fail('oidc.client_id', 'required when oidc.issuer is set');
    if (c.oidc.client_secret === '' && c.oidc.client_secret_path === '') {
      fail('oidc.client_secret', 'oidc.client_secret or oidc.client_secret_path is required when oidc.issuer is set');
    }
  }

  // --- keys read but not acted on: refused or warned (unsupported.ts) ---
  const unsupported = unsupportedKeys(c, isSet);
  for (const [key, why] of unsupported.refuse) fail(key, why);
  ctx.warnings.push(...unsupported.warn);

  // --- TLS: accepted so headscale files load, but not served yet ---
  for (const key of ['tls_cert_path', 'tls_key_path', 'tls_letsencrypt_hostname'] as const) {
    if (c[key] !== '') ctx.warnings.push(`${key}: TLS is not served yet; terminate TLS in a reverse proxy (ignored)`);
  }
}

type Fail = (key: string, problem: string) => never;

function parseHttpUrl(s: string): URL | null {
  try {
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '' ? u : null;
  } catch {
    return null;
  }
}

function checkListen(key: string, value: string, allowEmpty: boolean, fail: Fail): void {
  if (value === '' && allowEmpty) return;
  if (!splitHostPort(value)) fail(key, `${JSON.stringify(value)} is not a host:port address (e.g. 127.0.0.1:8080, [::]:8080, :8080)`);
}

function checkPrefix(key: string, value: string | null, family: 4 | 6, range: string, fail: Fail, warnings: string[]): string | null {
  if (value === null) return null;
  let p;
  try {
    if (!value.includes('/')) throw new Error('missing /length');
    p = parsePrefix(value);
  } catch {
    return fail(key, `${JSON.stringify(value)} is not an IP prefix such as ${range}`);
  }
  if (p.family !== family) fail(key, `${value} is not an IPv${family} prefix`);
  if (!prefixCovers(parsePrefix(range), p)) fail(key, `${value} is outside ${range}, the range Tailscale clients accept`);
  const canonical = formatPrefix(maskPrefix(p));
  if (canonical !== value) warnings.push(`${key}: ${value} read as ${canonical}`);
  return canonical;
}

/** What a Tailscale client takes as a resolver address: IP, IP:port, or a DoH/DoT URL. */
export function isResolverAddr(s: string): boolean {
  if (parseAddress(s)) return true;
  const hp = splitHostPort(s);
  if (hp && parseAddress(hp.host)) return true;
  try {
    const u = new URL(s);
    return ['https:', 'http:', 'tls:'].includes(u.protocol) && u.hostname !== '';
  } catch {
    return false;
  }
}

function normaliseDomain(s: string): string {
  return s.toLowerCase().replace(/\.$/, '');
}

function checkDns(c: Config, fail: Fail, serverHost: string): void {
  const d = c.dns;
  if (d.base_domain !== '') {
    if (!isHostname(d.base_domain)) fail('dns.base_domain', `${JSON.stringify(d.base_domain)} is not a valid domain name`);
    d.base_domain = normaliseDomain(d.base_domain);
    const host = normaliseDomain(serverHost);
    // Clients route base_domain to MagicDNS, which would make the control server unreachable.
    if (host === d.base_domain) fail('dns.base_domain', `must differ from the host of server_url (${host})`);
    if (host.endsWith(`.${d.base_domain}`)) fail('dns.base_domain', `must not contain the host of server_url (${host})`);
  }
  if (d.magic_dns && d.base_domain === '') fail('dns.base_domain', 'required when dns.magic_dns is true');
  if (d.override_local_dns && d.nameservers.global.length === 0) {
    fail('dns.nameservers.global', 'required when dns.override_local_dns is true (or set override_local_dns: false)');
  }
  d.nameservers.global.forEach((ns, i) => {
    if (!isResolverAddr(ns)) fail(`dns.nameservers.global[${i}]`, `${JSON.stringify(ns)} is neither an IP address nor a DNS-over-HTTPS URL`);
  });
  for (const [domain, list] of Object.entries(d.nameservers.split)) {
    if (!isHostname(domain)) fail(`dns.nameservers.split.${domain}`, `${JSON.stringify(domain)} is not a valid domain name`);
    list.forEach((ns, i) => {
      if (!isResolverAddr(ns)) fail(`dns.nameservers.split.${domain}[${i}]`, `${JSON.stringify(ns)} is neither an IP address nor a DNS-over-HTTPS URL`);
    });
  }
  d.search_domains.forEach((s, i) => {
    if (!isHostname(s)) fail(`dns.search_domains[${i}]`, `${JSON.stringify(s)} is not a valid domain name`);
  });
  d.search_domains = d.search_domains.map(normaliseDomain);
  if (d.extra_records.length > 0 && d.extra_records_path !== '') {
    fail('dns.extra_records_path', 'dns.extra_records and dns.extra_records_path are mutually exclusive: keep one of them');
  }
  d.extra_records.forEach((r, i) => {
    const at = `dns.extra_records[${i}]`;
    if (!isHostname(r.name)) fail(`${at}.name`, `${JSON.stringify(r.name)} is not a valid domain name`);
    const type = r.type.toUpperCase();
    if (type !== 'A' && type !== 'AAAA') fail(`${at}.type`, `${JSON.stringify(r.type)} is not supported (Tailscale clients serve A and AAAA only)`);
    const want = type === 'A' ? 4 : 6;
    if (parseAddress(r.value)?.family !== want) fail(`${at}.value`, `${JSON.stringify(r.value)} is not an IPv${want} address`);
    r.type = type as 'A' | 'AAAA';
  });
}
