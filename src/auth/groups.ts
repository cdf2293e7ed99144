// OIDC groups as policy group members (oidc.groups): the provider groups a user had at their
// last login, kept on the user, become members of policy groups by a prefix or an explicit
// map. Membership never defines a group: the policy still declares each group it names
// (an empty list will do), as Tailscale requires, so the policy's validity cannot depend on
// who logged in last and a typo stays an error.

import type { Config } from '../config/types.js';

export type GroupsConfig = Config['oidc']['groups'];

/** The policy groups ("group:…") that provider groups `provider` make a user a member of. */
export function policyGroupsOf(provider: readonly string[], cfg: GroupsConfig): string[] {
  if (!cfg.enabled) return [];
  const explicit = Object.keys(cfg.map).length > 0;
  const out = new Set<string>();
  for (const g of provider) {
    if (explicit) {
      if (Object.hasOwn(cfg.map, g)) out.add(cfg.map[g]!);
    } else if (g !== '') {
      out.add(`group:${cfg.prefix}${g}`);
    }
  }
  return [...out].sort();
}

/**
 * The groups in claim `name`, or undefined when the claims do not carry it. Providers send a
 * list; a lone string (some send one group that way) counts as a list of one.
 */
export function groupsClaim(claims: Record<string, unknown>, name: string): string[] | undefined {
  const v = claims[name];
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return [...new Set(v.filter((g): g is string => typeof g === 'string'))];
  return undefined;
}
