// What map building needs to know from the policy, per node. The composition root
// adapts the compiled policy (src/acl) to this; with no policy the tailnet is
// allow-all, as headscale does by default.

import type { TailnetEvent } from '../state/events.js';
import type { FilterRule, NodeID, SSHPolicy } from '../tailcfg/types.js';

export interface PeerRoutes {
  /** AllowedIPs beyond the peer's own addresses that the viewer may use. */
  allowedIPs: string[];
  /** Subnet routes for which the peer is the elected primary. */
  primaryRoutes: string[];
}

export type CapMap = Record<string, unknown[] | null>;

export interface PolicyUpdate {
  /** Viewers whose filter, SSH policy, own capabilities or set of visible peers may have changed. */
  viewers: ReadonlySet<NodeID> | 'all';
  /** Nodes whose representation as a peer changed (routes, peer capabilities) without an event of their own. */
  peers: ReadonlySet<NodeID>;
}

export interface PolicyView {
  /** Brings the policy up to date with a batch of tailnet events. */
  apply(events: readonly TailnetEvent[]): PolicyUpdate;
  canSee(viewer: NodeID, peer: NodeID): boolean;
  visiblePeers(viewer: NodeID): Iterable<NodeID>;
  packetFilter(node: NodeID): FilterRule[];
  sshPolicy(node: NodeID): SSHPolicy | null;
  /** Routes of `peer` as `viewer` sees them; null when only its own addresses. */
  peerRoutes(viewer: NodeID, peer: NodeID): PeerRoutes | null;
  selfCapMap(node: NodeID): CapMap;
  /** Capabilities attached to `peer` in `viewer`'s netmap; null when none. */
  peerCapMap(viewer: NodeID, peer: NodeID): CapMap | null;
  /**
   * True when `peer` has neither routes nor capabilities for any viewer (peerRoutes and
   * peerCapMap are null whoever asks): the common case, answered once per peer, not per pair.
   */
  plainPeer(peer: NodeID): boolean;
}
