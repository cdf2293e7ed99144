// Small change events: each session turns a batch of these into the smallest
// MapResponse that is correct for its node.

import type { NodeID } from '../tailcfg/types.js';

/** Fields of a node that travel in a tailcfg.PeerChange instead of a full node. */
export interface NodePatch {
  endpoints?: true;
  discoKey?: true;
  derpRegion?: true;
  online?: true;
  lastSeen?: true;
  nodeKey?: true;
  keyExpiry?: true;
  cap?: true;
}

export type TailnetEvent =
  | { kind: 'nodeAdded'; nodeId: NodeID }
  | { kind: 'nodeRemoved'; nodeId: NodeID }
  /** Something not expressible as a patch changed (hostinfo, name, tags, routes, addresses, user). */
  | { kind: 'nodeChanged'; nodeId: NodeID }
  | { kind: 'nodePatched'; nodeId: NodeID; patch: NodePatch }
  | { kind: 'userChanged'; userId: number }
  /** The policy (or anything every node's filter depends on) changed. */
  | { kind: 'policyChanged' }
  /** DERP map or DNS configuration changed. */
  | { kind: 'configChanged' };

/** `eventAt`: performance.now() when the batch's first event was emitted. */
export type EventListener = (events: readonly TailnetEvent[], eventAt: number) => void;
