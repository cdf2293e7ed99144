// headscale 0.27 kept tags a node asked for (`tailscale up --advertise-tags`) only in its
// Hostinfo.RequestTags; its 202601121700 migration later granted each one the policy's
// tagOwners allow and merged it into the node's tags. Our server checks RequestTags only at
// login, so an import of a database from before that migration does the same here, with
// our policy engine, or the node would silently lose tags it had in use.

import { compilePolicy, type Policy } from '../acl/index.js';
import { policyNode, policyUser } from '../policy/input.js';
import { refusedTags } from '../policy/tagowners.js';
import type { ImportPlan } from './map.js';

export function grantRequestedTags(plan: ImportPlan, policy: Policy | null): void {
  if (plan.pendingRequestTags.length === 0) return;
  if (!policy) {
    for (const p of plan.pendingRequestTags) {
      plan.notes.push(`nodes row ${p.nodeId}: tags ${JSON.stringify(p.tags)} it asked for are not granted (no policy in the database); add them with \`switchboard nodes tag\``);
    }
    return;
  }
  const { users, nodes } = plan.tailnet;
  const compiled = compilePolicy(policy, { users: users.map((u) => policyUser(u)), nodes: nodes.map((n) => policyNode(n, false)) });
  for (const p of plan.pendingRequestTags) {
    const node = nodes.find((n) => n.id === p.nodeId);
    if (!node) continue;
    const refused = new Set(refusedTags(compiled, p.ownerId, [], p.tags).map((r) => r.tag));
    const granted = p.tags.filter((t) => !refused.has(t) && !node.tags.includes(t));
    if (refused.size > 0) plan.notes.push(`nodes row ${node.id}: requested tags ${JSON.stringify([...refused])} not granted (tagOwners)`);
    if (granted.length === 0) continue;
    const wasTagged = node.tags.length > 0;
    node.tags = [...new Set([...node.tags, ...granted])].sort();
    // Tagged now: owned by its tags and never expiring, as map.ts treats tagged nodes.
    node.userId = null;
    node.expiry = null;
    if (!wasTagged) plan.counts['tagged nodes'] = (plan.counts['tagged nodes'] ?? 0) + 1;
    plan.notes.push(`nodes row ${node.id}: requested tags ${JSON.stringify(granted)} granted by the policy's tagOwners (headscale's 202601121700)`);
  }
}
