// Tags a client asks for at login (`tailscale up --advertise-tags`, Hostinfo.RequestTags):
// granted exactly when the policy lets the node's user own each of them (policy/tagowners.ts),
// refused otherwise with Tailscale's message and the reason; the client shows
// RegisterResponse.Error to the user and does not log in.

import type { Hostinfo } from '../tailcfg/types.js';
import type { RefusedTag } from '../policy/tagowners.js';
import { refusedTagsMessage } from '../policy/tagowners.js';

export type TagCheck = (userId: number | null, keyTags: readonly string[], requested: readonly string[]) => RefusedTag[];

export type TagDecision = { ok: true; tags: string[] } | { ok: false; error: string };

/** Hostinfo.RequestTags as a list of strings; anything else is a refusal, not a silent drop. */
function requested(h: Hostinfo | null): string[] | string {
  const v = h?.RequestTags;
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((t) => typeof t !== 'string')) return 'Hostinfo.RequestTags: expected a list of tag names';
  return v;
}

/**
 * The node's tags after this login: `base` (the key's tags, or the node's current ones)
 * plus every requested tag, when each is granted. No request leaves `base` as it is.
 */
export function decideTags(check: TagCheck | undefined, userId: number | null, base: readonly string[], hostinfo: Hostinfo | null): TagDecision {
  const want = requested(hostinfo);
  if (typeof want === 'string') return { ok: false, error: want };
  const extra = want.filter((t) => !base.includes(t));
  if (extra.length === 0) return { ok: true, tags: [...base] };
  const refused = check ? check(userId, base, extra) : extra.map((tag) => ({ tag, why: 'no policy engine to check tagOwners' }));
  if (refused.length > 0) return { ok: false, error: refusedTagsMessage(refused) };
  return { ok: true, tags: [...new Set([...base, ...extra])].sort() };
}
