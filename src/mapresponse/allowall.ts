// The policy of a tailnet without a policy file: every node may reach every node
// (headscale's default). Subnet routes still need a primary router per prefix.

import type { TailnetEvent } from '../state/events.js';
import type { Tailnet } from '../state/tailnet.js';
import type { FilterRule, NodeID, SSHPolicy } from '../tailcfg/types.js';
import { ALLOW_ALL_FILTER, DEFAULT_SELF_CAPS, type CapMap, type PeerRoutes, type PolicyUpdate, type PolicyView } from './policyview.js';
import { RouteTable } from './routes.js';

export class AllowAllPolicy implements PolicyView {
  private readonly routes: RouteTable;

  constructor(private readonly tailnet: Tailnet) {
    this.routes = new RouteTable(tailnet);
  }

  apply(events: readonly TailnetEvent[]): PolicyUpdate {
    return { viewers: new Set(), peers: this.routes.apply(events) };
  }

  canSee(viewer: NodeID, peer: NodeID): boolean {
    return viewer !== peer && this.tailnet.node(peer) !== undefined;
  }

  *visiblePeers(viewer: NodeID): Iterable<NodeID> {
    for (const n of this.tailnet.allNodes()) if (n.id !== viewer) yield n.id;
  }

  packetFilter(_node: NodeID): FilterRule[] {
    return ALLOW_ALL_FILTER;
  }

  sshPolicy(_node: NodeID): SSHPolicy | null {
    return null;
  }

  peerRoutes(_viewer: NodeID, peer: NodeID): PeerRoutes | null {
    return this.routes.peerRoutes(peer);
  }

  selfCapMap(_node: NodeID): CapMap {
    return DEFAULT_SELF_CAPS;
  }

  peerCapMap(_viewer: NodeID, _peer: NodeID): CapMap | null {
    return null;
  }
}
