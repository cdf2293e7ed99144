// Who may apply a tag: the tagOwners entry, with groups expanded and tags owning tags
// followed transitively (a node tagged with an owner tag may apply the owned tag).
import type { Policy } from './parse.js';
import type { PolicyUser } from './tailnet.js';

export interface TagRequester {
  /** The requesting user, or null for a node that is already tagged. */
  user: PolicyUser | null;
  /** Tags the requesting node already carries (a tag may own other tags). */
  tags?: string[];
  /** The user holds an admin role (autogroup:admin / autogroup:owner owners). */
  admin?: boolean;
}

function userMatches(login: string, u: PolicyUser): boolean {
  const l = login.toLowerCase();
  return l === u.email.toLowerCase() || l === `${u.name.toLowerCase()}@`;
}

/**
 * True when the policy lets the requester apply tag. No policy: any user may (the allow-all
 * default has no tagOwners to check). A tag missing from tagOwners is never allowed.
 * Cycles among owner tags end the walk without granting anything.
 */
export function mayOwnTag(policy: Policy | null, tag: string, who: TagRequester): boolean {
  if (!policy) return who.user !== null;
  const seen = new Set<string>();
  const walk = (t: string): boolean => {
    if (seen.has(t)) return false;
    seen.add(t);
    const owners = policy.tagOwners[t];
    if (!owners) return false;
    for (const o of owners) {
      if (o.startsWith('tag:')) {
        if (who.tags?.includes(o) || walk(o)) return true;
      } else if (o.startsWith('group:')) {
        if (who.user && (policy.groups[o] ?? []).some((m) => userMatches(m, who.user!))) return true;
        if (who.user?.groups?.includes(o) && Object.hasOwn(policy.groups, o)) return true;
      } else if (o === 'autogroup:member') {
        if (who.user) return true;
      } else if (o === 'autogroup:admin' || o === 'autogroup:owner') {
        if (who.user && who.admin) return true;
      } else if (who.user && userMatches(o, who.user)) {
        return true;
      }
    }
    return false;
  };
  return walk(tag);
}
