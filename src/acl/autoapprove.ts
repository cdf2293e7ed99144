// autoApprovers: which of a node's advertised routes the policy approves without an admin.
// Exit routes are approved only through "exitNode"; subnet routes by any covering prefix.
import { contains, parsePrefix } from './ipset.js';
import type { Policy } from './parse.js';
import { select, usersOf } from './resolve.js';
import { isExitRoute, type PolicyNode, type TailnetIndex } from './tailnet.js';

function nodeMatches(p: Policy, idx: TailnetIndex, aliases: string[], n: PolicyNode): boolean {
  const sel = select(p, idx, aliases);
  if (sel.all) return true;
  if (sel.nodes.has(n.id)) return true;
  // The node may not be indexed yet (approval happens while it registers).
  const tagged = n.tags.length > 0;
  for (const a of aliases) {
    if (a.startsWith('tag:') && n.tags.includes(a)) return true;
    if (a === 'autogroup:tagged' && tagged) return true;
    if (a === 'autogroup:member' && !tagged) return true;
    // A user (or group) approves routes of the devices it owns, never of tagged ones.
    if (!tagged && n.userId !== null && usersOf(p, idx, a).includes(n.userId)) return true;
  }
  return false;
}

export function autoApprovedRoutes(p: Policy, idx: TailnetIndex, n: PolicyNode): string[] {
  const out: string[] = [];
  for (const r of n.routableIPs) {
    if (isExitRoute(r)) {
      if (p.autoApprovers.exitNode.length && nodeMatches(p, idx, p.autoApprovers.exitNode, n)) out.push(r);
      continue;
    }
    const route = parsePrefix(r);
    if (!route) continue;
    for (const [k, aliases] of Object.entries(p.autoApprovers.routes)) {
      const key = parsePrefix(k);
      if (key && contains(key, route) && nodeMatches(p, idx, aliases, n)) {
        out.push(r);
        break;
      }
    }
  }
  return out;
}
