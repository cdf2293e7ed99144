// Who may put a tag on a node (`tailscale up --advertise-tags`, Hostinfo.RequestTags): as in
// Tailscale, a tag is granted when the policy's tagOwners lists the node's user (directly,
// by a group, a user:*@domain, or autogroup:member/admin), or a tag the node's key already
// carries. Without a policy or a tagOwners entry, no tag can be requested.

import type { CompiledPolicy } from '../acl/index.js';
import { usersOf } from '../acl/resolve.js';

export interface RefusedTag {
  tag: string;
  why: string;
}

/** The requested tags the user (holding `keyTags`) may not have, each with the reason. */
export function refusedTags(c: CompiledPolicy, userId: number | null, keyTags: readonly string[], requested: readonly string[]): RefusedTag[] {
  const p = c.policy;
  const user = userId === null ? undefined : c.idx.users.get(userId);
  const who = user ? `user ${user.name}` : userId === null ? 'a key without a user' : `user ${userId}`;
  const out: RefusedTag[] = [];
  for (const tag of new Set(requested)) {
    if (keyTags.includes(tag)) continue;
    const owners = p?.tagOwners[tag];
    if (!p) {
      out.push({ tag, why: 'no policy is in force, so no tag has owners' });
      continue;
    }
    if (!owners) {
      out.push({ tag, why: 'not defined in tagOwners' });
      continue;
    }
    const owned = owners.some((o) => {
      if (o === 'autogroup:member' || o === 'autogroup:admin') return user !== undefined;
      if (o.startsWith('tag:')) return keyTags.includes(o);
      return userId !== null && usersOf(p, c.idx, o).includes(userId);
    });
    if (!owned) out.push({ tag, why: `${who} is not among its tagOwners` });
  }
  return out;
}

/** Tailscale's wording ("requested tags [tag:a tag:b] are invalid or not permitted"), then why. */
export function refusedTagsMessage(refused: readonly RefusedTag[]): string {
  return `requested tags [${refused.map((r) => r.tag).join(' ')}] are invalid or not permitted (${refused.map((r) => `${r.tag}: ${r.why}`).join('; ')})`;
}
