// Route auto-approval: when a node advertises routes (or the policy changes), every
// route the policy's autoApprovers allow for it becomes approved. Approvals an admin
// made by hand are never taken away here.

import type { TailnetEvent } from '../state/events.js';
import type { Tailnet } from '../state/tailnet.js';
import type { NodeID } from '../tailcfg/types.js';
import { advertisedRoutes } from './input.js';

export function startAutoApprover(
  tailnet: Tailnet,
  approvedFor: (nodeId: NodeID, advertised: string[]) => string[],
  log: (msg: string) => void,
): () => void {
  const check = (id: NodeID) => {
    const n = tailnet.node(id);
    if (!n) return;
    const advertised = advertisedRoutes(n);
    if (advertised.length === 0) return;
    const have = new Set(n.approvedRoutes);
    const add = approvedFor(id, advertised).filter((r) => !have.has(r));
    if (add.length === 0) return;
    tailnet.setApprovedRoutes(id, [...have, ...add]).then(
      () => log(`auto-approved ${add.join(', ')} for node ${n.givenName}`),
      (err: Error) => log(`auto-approval for node ${n.givenName} failed: ${err.message}`),
    );
  };
  return tailnet.subscribe((events: readonly TailnetEvent[]) => {
    const ids = new Set<NodeID>();
    let all = false;
    for (const e of events) {
      if (e.kind === 'nodeAdded' || e.kind === 'nodeChanged') ids.add(e.nodeId);
      else if (e.kind === 'policyChanged') all = true;
    }
    if (all) for (const n of tailnet.allNodes()) ids.add(n.id);
    for (const id of ids) check(id);
  });
}
