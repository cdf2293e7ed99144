// The DNSConfig every node receives, built from the dns section the way headscale does:
//  - Resolvers: dns.nameservers.global when override_local_dns, otherwise the same list as
//    FallbackResolvers (clients keep their OS DNS and use ours only as a fallback);
//  - Routes: split DNS, plus with MagicDNS the reverse zones of the tailnet prefixes with an
//    empty resolver list ("answer locally"). The list is empty, not null, because clients
//    drop null-valued routes when they clone their DNS config;
//  - Domains: base_domain first, then search_domains;
//  - Proxied: MagicDNS on/off; ExtraRecords as configured.

import type { Config } from '../config/types.js';
import type { DNSConfig, DNSResolver } from '../tailcfg/types.js';
import { reverseZones } from './reverse.js';

export { magicDnsName, sanitizeHostname, isValidLabel } from './names.js';
export { reverseZones } from './reverse.js';

function resolvers(addrs: string[]): DNSResolver[] {
  // Plain IPs and DoH/DoT URLs travel the same way: Resolver.Addr, interpreted by the client.
  return addrs.map((Addr) => ({ Addr }));
}

/**
 * undefined when there is nothing to tell clients (no MagicDNS, nameservers, domains or
 * records), so they keep managing DNS on their own.
 */
export function buildDNSConfig(cfg: Config['dns'], prefixes: { v4: string | null; v6: string | null }): DNSConfig | undefined {
  const out: DNSConfig = {};

  const global = resolvers(cfg.nameservers.global);
  if (global.length > 0) {
    if (cfg.override_local_dns) out.Resolvers = global;
    else out.FallbackResolvers = global;
  }

  const routes: Record<string, DNSResolver[]> = {};
  for (const [domain, list] of Object.entries(cfg.nameservers.split)) routes[domain] = resolvers(list);
  if (cfg.magic_dns) {
    for (const prefix of [prefixes.v4, prefixes.v6]) {
      if (prefix) for (const zone of reverseZones(prefix)) routes[zone] = [];
    }
  }
  if (Object.keys(routes).length > 0) out.Routes = routes;

  const domains = [...new Set([...(cfg.base_domain ? [cfg.base_domain] : []), ...cfg.search_domains])];
  if (domains.length > 0) out.Domains = domains;

  if (cfg.magic_dns) out.Proxied = true;

  if (cfg.extra_records.length > 0) {
    out.ExtraRecords = cfg.extra_records.map((r) => ({ Name: r.name, Type: r.type, Value: r.value }));
  }

  return Object.keys(out).length === 0 ? undefined : out;
}
