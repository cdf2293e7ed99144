// The tailnet as the policy engine sees it: users by login, nodes with the routes
// they both advertise and have approved.

import type { PolicyNode, PolicyUser, TailnetInput } from '../acl/index.js';
import type { NodeRecord, UserRecord } from '../state/model.js';
import type { Tailnet } from '../state/tailnet.js';
import { canonicalPrefix } from '../util/prefix.js';

/** Routes a node both advertises and has approved, in canonical spelling. */
export function servedRoutes(n: NodeRecord): string[] {
  const announced = new Set(advertisedRoutes(n));
  const out: string[] = [];
  for (const r of n.approvedRoutes) {
    const c = canonicalPrefix(r);
    if (c && announced.has(c)) out.push(c);
  }
  return out.sort();
}

export function advertisedRoutes(n: NodeRecord): string[] {
  return (n.hostinfo.RoutableIPs ?? []).map((r) => canonicalPrefix(r)).filter((r): r is string => r !== null);
}

/** The policy groups a user is in beside the policy's own member lists (OIDC groups). */
export type UserGroups = (u: UserRecord) => readonly string[];

export function policyUser(u: UserRecord, groupsOf?: UserGroups): PolicyUser {
  const groups = groupsOf?.(u) ?? [];
  return groups.length ? { id: u.id, name: u.name, email: u.email, groups } : { id: u.id, name: u.name, email: u.email };
}

export function policyNode(n: NodeRecord, online: boolean): PolicyNode {
  const tagged = n.tags.length > 0;
  return {
    id: n.id,
    name: n.givenName,
    // Tagged nodes belong to their tags, not to the user who created them.
    userId: tagged ? null : n.userId,
    tags: n.tags,
    ipv4: n.ipv4,
    ipv6: n.ipv6,
    routableIPs: advertisedRoutes(n),
    approvedRoutes: servedRoutes(n),
    online,
  };
}

export function tailnetInput(t: Tailnet, groupsOf?: UserGroups): TailnetInput {
  const nodes = [...t.allNodes()].sort((a, b) => a.id - b.id).map((n) => policyNode(n, t.isOnline(n.id)));
  return { users: [...t.allUsers()].map((u) => policyUser(u, groupsOf)), nodes };
}
