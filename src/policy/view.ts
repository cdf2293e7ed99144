// Adapts the compiled policy (src/acl) to what map building asks per node, and keeps
// it in step with the tailnet: each node event is applied incrementally and yields
// the viewers whose filters or peer sets may have changed.

import type { CompiledPolicy } from '../acl/index.js';
import type { CapMap, PeerRoutes, PolicyUpdate, PolicyView } from '../mapresponse/policyview.js';
import type { TailnetEvent } from '../state/events.js';
import type { Tailnet } from '../state/tailnet.js';
import type { FilterRule, NodeID, SSHPolicy } from '../tailcfg/types.js';
import { policyNode, servedRoutes } from './input.js';
import { refusedTags, type RefusedTag } from './tagowners.js';

export class CompiledPolicyView implements PolicyView {
  private readonly peerSets = new Map<NodeID, Set<NodeID>>();
  // What changed since the last apply(): accumulated as events happen.
  private viewers = new Set<NodeID>();
  private peers = new Set<NodeID>();
  private all = false;
  private compiledPolicy: CompiledPolicy;
  /** A user changed since the last compile: rebuild before the next read. */
  private stale = false;

  constructor(
    private readonly tailnet: Tailnet,
    compiled: CompiledPolicy,
    /** Rebuilds the compiled policy from scratch (user changes touch every alias). */
    private readonly recompile: () => CompiledPolicy,
    /** A rebuild after a user change failed; the previous compiled policy stays in force. */
    private readonly onRecompileError: (err: Error) => void = () => {},
  ) {
    this.compiledPolicy = compiled;
    tailnet.observe((e) => this.observe(e));
  }

  /**
   * The compiled policy, rebuilt first if a user changed. The rebuild happens here, not in
   * the event observer, so that the write that changed the user (an API call) never pays
   * for it nor fails because of it.
   */
  private get compiled(): CompiledPolicy {
    if (this.stale) {
      this.stale = false;
      try {
        this.compiledPolicy = this.recompile();
      } catch (err) {
        this.onRecompileError(err as Error);
      }
    }
    return this.compiledPolicy;
  }

  /** Hands the accumulated changes to the sessions (the batch itself was already observed). */
  apply(_events: readonly TailnetEvent[]): PolicyUpdate {
    void this.compiled; // a pending rebuild happens once per batch, before any session reads
    const update: PolicyUpdate = { viewers: this.all ? 'all' : this.viewers, peers: this.peers };
    this.viewers = new Set();
    this.peers = new Set();
    this.all = false;
    return update;
  }

  private observe(e: TailnetEvent): void {
    switch (e.kind) {
      case 'nodePatched':
        // Only a subnet router's coming and going matters to the policy (primary election).
        if (e.patch.online && this.servesRoutes(e.nodeId)) this.nodeChanged(e.nodeId, false);
        break;
      case 'nodeAdded':
      case 'nodeChanged':
      case 'nodeRemoved':
        this.nodeChanged(e.nodeId, e.kind === 'nodeRemoved');
        break;
      case 'userChanged':
        this.stale = true;
        this.all = true;
        this.peerSets.clear();
        break;
      case 'policyChanged':
        this.all = true;
        this.peerSets.clear();
        break;
      default:
        break;
    }
  }

  private servesRoutes(id: NodeID): boolean {
    const n = this.tailnet.node(id);
    return n !== undefined && servedRoutes(n).length > 0;
  }

  private nodeChanged(id: NodeID, removed: boolean): void {
    const n = removed ? undefined : this.tailnet.node(id);
    const { affected } = this.compiled.applyNodeChange(n ? policyNode(n, this.tailnet.isOnline(n.id)) : { removed: id });
    affected.add(id);
    for (const a of affected) {
      this.viewers.add(a);
      this.peerSets.delete(a);
    }
    // Its routes or capabilities as a peer may differ for everyone who sees it.
    if (n) this.peers.add(id);
  }

  /** Replaces the compiled policy (a reload); the caller emits policyChanged. */
  replace(compiled: CompiledPolicy): void {
    this.compiledPolicy = compiled;
    this.stale = false;
    this.peerSets.clear();
  }

  get current(): CompiledPolicy {
    return this.compiled;
  }

  private peerSet(viewer: NodeID): Set<NodeID> {
    let s = this.peerSets.get(viewer);
    if (!s) {
      s = new Set(this.compiled.node(viewer) ? this.compiled.peers(viewer) : []);
      s.delete(viewer);
      this.peerSets.set(viewer, s);
    }
    return s;
  }

  canSee(viewer: NodeID, peer: NodeID): boolean {
    return this.peerSet(viewer).has(peer);
  }

  visiblePeers(viewer: NodeID): Iterable<NodeID> {
    return this.peerSet(viewer);
  }

  packetFilter(node: NodeID): FilterRule[] {
    return this.compiled.node(node) ? this.compiled.packetFilter(node) : [];
  }

  sshPolicy(node: NodeID): SSHPolicy | null {
    return this.compiled.node(node) ? this.compiled.sshPolicy(node) : null;
  }

  peerRoutes(viewer: NodeID, peer: NodeID): PeerRoutes | null {
    if (!this.compiled.node(viewer) || !this.compiled.node(peer)) return null;
    const v = viewer === peer ? this.compiled.selfRoutes(viewer) : this.compiled.peerRoutes(viewer, peer);
    return v.allowedIPs.length || v.primaryRoutes.length ? v : null;
  }

  /** Requested tags `userId` may not put on a node (policy/tagowners.ts); empty when all are granted. */
  refusedTags(userId: number | null, keyTags: readonly string[], requested: readonly string[]): RefusedTag[] {
    return refusedTags(this.compiled, userId, keyTags, requested);
  }

  selfCapMap(node: NodeID): CapMap {
    return this.compiled.node(node) ? this.compiled.capMap(node) : {};
  }

  plainPeer(peer: NodeID): boolean {
    const r = this.compiled.node(peer);
    // Without subnets or an approved exit route, peerRoutes is empty and peerCapMap (exit-node
    // suggestions only) is too, for every viewer.
    return !r || (!r.subnets.length && !r.exitApproved);
  }

  peerCapMap(viewer: NodeID, peer: NodeID): CapMap | null {
    if (!this.compiled.node(viewer) || !this.compiled.node(peer)) return null;
    const m = this.compiled.peerCapMap(viewer, peer);
    return Object.keys(m).length ? m : null;
  }
}
