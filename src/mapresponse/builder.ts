// Builds the first MapResponse of a stream and, from then on, the smallest delta
// that brings one node's netmap up to date after a batch of tailnet events.
// Reads memory only: the tailnet, the policy view and the DERP/DNS configuration.

import type { NodePatch, TailnetEvent } from '../state/events.js';
import type { NodeRecord } from '../state/model.js';
import type { Tailnet } from '../state/tailnet.js';
import type { DERPMap, DNSConfig, NodeID, PeerChange } from '../tailcfg/types.js';
import { homeDerpRegion, isExpired, PeerJsonCache, renderNode, TAGGED_DEVICES_PROFILE, TAGGED_DEVICES_USER_ID, userIdOf, userProfile, type RenderOptions } from './nodes.js';
import type { CapMap, PeerRoutes, PolicyUpdate, PolicyView } from './policyview.js';
import { CAP_FILE_SHARING } from '../acl/capabilities.js';
import { packetFiltersJson } from './filterjson.js';

export interface MapContext {
  tailnet: Tailnet;
  policy: () => PolicyView;
  derpMap: () => DERPMap;
  dnsConfig: () => DNSConfig | undefined;
  baseDomain: string;
  /** Tell clients not to upload logs to Tailscale's log server. */
  disableLogTail: boolean;
  /** taildrop.enabled: false takes tailcfg.CapabilityFileSharing off every node's own CapMap. Default true. */
  taildrop?: boolean;
}

/** What a stream has told its client so far; deltas are computed against it. */
export interface StreamState {
  nodeId: NodeID;
  self: NodeRecord;
  peers: Set<NodeID>;
  userIds: Set<number>;
  filterJson: string;
  sshJson: string;
  selfJson: string;
  /** Everything selfJson was rendered from besides the record itself (see selfInputs). */
  selfInputs: string;
  /** Per peer, the viewer-specific part sent (routes, capabilities); absent when none. */
  peerExtras: Map<NodeID, string>;
}

type Raw = [key: string, json: string];

/** What the self node is rendered from besides its record; `key` tells when any of it moved. */
interface SelfInputs {
  routes: PeerRoutes | null;
  capMap: CapMap;
  cap: number;
  key: string;
}

const COMMA = Buffer.from(',');
const CLOSE_PEERS = Buffer.from(']}');

/** The viewer-specific part of a peer's rendering, to notice when only that changed. */
function extrasKey(policy: PolicyView, viewer: NodeID, peer: NodeID): string {
  if (policy.plainPeer(peer)) return '';
  const routes = policy.peerRoutes(viewer, peer);
  const capMap = policy.peerCapMap(viewer, peer);
  return routes || capMap ? JSON.stringify([routes, capMap]) : '';
}

function assemble(fields: Raw[]): string {
  return '{' + fields.map(([k, v]) => `"${k}":${v}`).join(',') + '}';
}

export class MapBuilder {
  private readonly peerCache = new PeerJsonCache();

  constructor(private readonly ctx: MapContext) {}

  private opts(now = new Date()): RenderOptions {
    return { baseDomain: this.ctx.baseDomain, now };
  }

  /** The complete map for a node; `omitPeers` leaves out peers (lite updates). */
  full(nodeId: NodeID, omitPeers = false): { json: Buffer; state: StreamState } {
    const { tailnet } = this.ctx;
    const policy = this.ctx.policy();
    const self = tailnet.node(nodeId);
    if (!self) throw new Error(`node ${nodeId} not found`);
    const opts = this.opts();
    const peers = omitPeers ? [] : [...policy.visiblePeers(nodeId)].sort((a, b) => a - b);
    const userIds = new Set<number>([userIdOf(self)]);
    // Peers are concatenated as bytes: with 10,000 peers a joined string and its UTF-8
    // copy would cost more than building the map itself.
    const peerParts: Buffer[] = [];
    const peerExtras = new Map<NodeID, string>();
    for (const id of peers) {
      const p = tailnet.node(id);
      if (!p) continue;
      userIds.add(userIdOf(p));
      if (peerParts.length) peerParts.push(COMMA);
      peerParts.push(this.peerBytes(nodeId, p, policy, opts, peerExtras));
    }
    const inputs = this.selfInputs(self, policy, opts);
    const selfJson = this.selfJson(self, inputs, opts);
    const filterJson = packetFiltersJson(policy.packetFilter(nodeId));
    const ssh = policy.sshPolicy(nodeId);
    const sshJson = ssh ? JSON.stringify(ssh) : '';
    const fields: Raw[] = [
      ['Node', selfJson],
      ['DERPMap', JSON.stringify(this.ctx.derpMap())],
    ];
    const dns = this.ctx.dnsConfig();
    if (dns) fields.push(['DNSConfig', JSON.stringify(dns)]);
    fields.push(
      ['Domain', JSON.stringify(this.ctx.baseDomain)],
      ['CollectServices', 'false'],
      ['PacketFilters', filterJson],
      ['UserProfiles', this.profilesJson(userIds)],
    );
    if (ssh) fields.push(['SSHPolicy', sshJson]);
    fields.push(['ControlTime', JSON.stringify(opts.now.toISOString())]);
    if (this.ctx.disableLogTail) fields.push(['Debug', '{"DisableLogTail":true}']);
    const head = assemble(fields);
    const json = omitPeers
      ? Buffer.from(head, 'utf8')
      : Buffer.concat([Buffer.from(head.slice(0, -1) + ',"Peers":[', 'utf8'), ...peerParts, CLOSE_PEERS]);
    return {
      json,
      state: { nodeId, self, peers: new Set(peers), userIds, filterJson, sshJson, selfJson, selfInputs: inputs.key, peerExtras },
    };
  }

  /**
   * The delta for one stream after a batch of events, or null when nothing its
   * client sees changed. Updates `state` to what the delta tells the client.
   */
  delta(state: StreamState, events: readonly TailnetEvent[], update: PolicyUpdate, now = new Date()): string | null {
    const { tailnet } = this.ctx;
    const policy = this.ctx.policy();
    const me = state.nodeId;
    const self = tailnet.node(me);
    if (!self) return null; // the session closes itself on nodeRemoved
    const opts = this.opts(now);
    const full = new Set<NodeID>();
    const removed = new Set<NodeID>();
    const patches = new Map<NodeID, NodePatch>();
    let configChanged = false;
    let usersChanged = false;

    const reconsider = (id: NodeID) => {
      if (id === me) return;
      if (tailnet.node(id) && policy.canSee(me, id)) {
        full.add(id);
        removed.delete(id);
      } else if (state.peers.has(id)) {
        removed.add(id);
        full.delete(id);
      }
    };

    for (const e of events) {
      switch (e.kind) {
        case 'nodeAdded':
        case 'nodeChanged':
        case 'nodeRemoved':
          reconsider(e.nodeId);
          break;
        case 'nodePatched':
          if (e.nodeId !== me && state.peers.has(e.nodeId) && Object.keys(e.patch).length > 0) {
            patches.set(e.nodeId, { ...patches.get(e.nodeId), ...e.patch });
          }
          break;
        case 'userChanged':
          if (state.userIds.has(e.userId)) usersChanged = true;
          break;
        case 'configChanged':
          configChanged = true;
          break;
        case 'policyChanged':
          break; // carried by `update`
      }
    }
    for (const id of update.peers) if (state.peers.has(id) || id === me) reconsider(id);

    const fields: Raw[] = [];
    const viewerAffected = update.viewers === 'all' || update.viewers.has(me);
    if (viewerAffected) {
      const vp = policy.visiblePeers(me);
      const visible = vp instanceof Set ? (vp as ReadonlySet<NodeID>) : new Set(vp);
      for (const id of visible) {
        // A peer's routes or capabilities for this viewer can change with the policy alone.
        if (!state.peers.has(id) || extrasKey(policy, me, id) !== (state.peerExtras.get(id) ?? '')) full.add(id);
      }
      for (const id of state.peers) if (!visible.has(id)) {
        removed.add(id);
        full.delete(id);
      }
    }

    // Records are immutable, so the self node needs re-rendering only when it was
    // replaced or the policy may have changed its capabilities.
    if (self !== state.self || viewerAffected || update.peers.has(me)) {
      // A policy change re-renders the node only when what it is rendered from moved.
      const inputs = this.selfInputs(self, policy, opts);
      if (self !== state.self || inputs.key !== state.selfInputs) {
        const selfJson = this.selfJson(self, inputs, opts);
        state.self = self;
        state.selfInputs = inputs.key;
        if (selfJson !== state.selfJson) {
          fields.push(['Node', selfJson]);
          state.selfJson = selfJson;
        }
      }
    }
    if (configChanged) {
      fields.push(['DERPMap', JSON.stringify(this.ctx.derpMap())]);
      const dns = this.ctx.dnsConfig();
      if (dns) fields.push(['DNSConfig', JSON.stringify(dns)]);
    }
    if (viewerAffected) {
      const filterJson = packetFiltersJson(policy.packetFilter(me));
      if (filterJson !== state.filterJson) {
        fields.push(['PacketFilters', filterJson]);
        state.filterJson = filterJson;
      }
      const ssh = policy.sshPolicy(me);
      const sshJson = ssh ? JSON.stringify(ssh) : '';
      if (sshJson !== state.sshJson) {
        fields.push(['SSHPolicy', ssh ? sshJson : '{"rules":[]}']);
        state.sshJson = sshJson;
      }
    }

    const newUsers = new Set<number>();
    const changed: string[] = [];
    for (const id of [...full].sort((a, b) => a - b)) {
      const p = tailnet.node(id);
      if (!p) continue;
      state.peers.add(id);
      patches.delete(id);
      const uid = userIdOf(p);
      if (!state.userIds.has(uid)) {
        state.userIds.add(uid);
        newUsers.add(uid);
      }
      changed.push(this.peerBytes(me, p, policy, opts, state.peerExtras).toString('utf8'));
    }
    if (usersChanged) for (const uid of state.userIds) newUsers.add(uid);
    if (newUsers.size) fields.push(['UserProfiles', this.profilesJson(newUsers)]);
    if (changed.length) fields.push(['PeersChanged', `[${changed.join(',')}]`]);
    if (removed.size) {
      for (const id of removed) {
        state.peers.delete(id);
        state.peerExtras.delete(id);
        patches.delete(id); // a patch of a peer removed in the same delta would name a node the client dropped
      }
      fields.push(['PeersRemoved', JSON.stringify([...removed].sort((a, b) => a - b))]);
    }
    const patchList: PeerChange[] = [];
    for (const [id, patch] of [...patches].sort((a, b) => a[0] - b[0])) {
      const p = tailnet.node(id);
      if (p) patchList.push(this.peerChange(p, patch));
    }
    if (patchList.length) fields.push(['PeersChangedPatch', JSON.stringify(patchList)]);
    if (fields.length === 0) return null;
    fields.push(['ControlTime', this.controlTime(opts.now)]);
    return assemble(fields);
  }

  private lastNow: Date | null = null;
  private lastNowJson = '';

  /** A batch's deltas share one Date: its JSON is formatted once, not per session. */
  private controlTime(now: Date): string {
    if (now !== this.lastNow) {
      this.lastNow = now;
      this.lastNowJson = JSON.stringify(now.toISOString());
    }
    return this.lastNowJson;
  }

  /** Drops cached renderings of a removed node. */
  forget(id: NodeID): void {
    this.peerCache.forget(id);
  }

  private peerChange(p: NodeRecord, patch: NodePatch): PeerChange {
    const c: PeerChange = { NodeID: p.id };
    if (patch.endpoints) c.Endpoints = p.endpoints;
    if (patch.discoKey) c.DiscoKey = p.discoKey;
    if (patch.derpRegion) c.DERPRegion = homeDerpRegion(p);
    if (patch.online) c.Online = this.ctx.tailnet.isOnline(p.id);
    if (patch.lastSeen && p.lastSeen) c.LastSeen = p.lastSeen.toISOString();
    if (patch.nodeKey) c.Key = p.nodeKey;
    if (patch.cap) c.Cap = this.ctx.tailnet.capVersion(p.id);
    if (patch.keyExpiry) c.KeyExpiry = p.expiry ? p.expiry.toISOString() : '0001-01-01T00:00:00Z';
    return c;
  }

  /** Renders every node's peer form ahead of the first maps (after start), a slice per turn. */
  warm(ids: NodeID[], done?: () => void): void {
    const opts = this.opts();
    const step = (from: number) => {
      const end = Math.min(from + 500, ids.length);
      for (let i = from; i < end; i++) {
        const n = this.ctx.tailnet.node(ids[i]!);
        if (n) this.peerCache.get(n, this.ctx.tailnet.isOnline(n.id), this.ctx.tailnet.capVersion(n.id), opts);
      }
      if (end < ids.length) setImmediate(() => step(end));
      else done?.();
    };
    step(0);
  }

  private peerBytes(viewer: NodeID, p: NodeRecord, policy: PolicyView, opts: RenderOptions, extras: Map<NodeID, string>): Buffer {
    const plain = policy.plainPeer(p.id);
    const routes = plain ? null : policy.peerRoutes(viewer, p.id);
    const capMap = plain ? null : policy.peerCapMap(viewer, p.id);
    const online = this.ctx.tailnet.isOnline(p.id);
    const cap = this.ctx.tailnet.capVersion(p.id);
    if (!routes && !capMap) {
      extras.delete(p.id);
      return this.peerCache.get(p, online, cap, opts);
    }
    extras.set(p.id, JSON.stringify([routes, capMap]));
    return Buffer.from(JSON.stringify(renderNode(p, opts, { online, routes, capMap, cap })), 'utf8');
  }

  /**
   * What the self node's rendering takes besides its record: routes and capabilities from
   * the policy, the capability version, and whether it has expired (the clock's only use).
   */
  private selfInputs(self: NodeRecord, policy: PolicyView, opts: RenderOptions): SelfInputs {
    const routes = policy.peerRoutes(self.id, self.id);
    let capMap = policy.selfCapMap(self.id);
    if (this.ctx.taildrop === false && CAP_FILE_SHARING in capMap) {
      capMap = { ...capMap };
      delete capMap[CAP_FILE_SHARING];
    }
    const cap = this.ctx.tailnet.capVersion(self.id);
    return { routes, capMap, cap, key: JSON.stringify([routes, capMap, cap, isExpired(self, opts.now)]) };
  }

  private selfJson(self: NodeRecord, inputs: SelfInputs, opts: RenderOptions): string {
    return JSON.stringify(renderNode(self, opts, { online: null, routes: inputs.routes, capMap: inputs.capMap, cap: inputs.cap }));
  }

  private profilesJson(userIds: Set<number>): string {
    const out: unknown[] = [];
    for (const uid of [...userIds].sort((a, b) => a - b)) {
      if (uid === TAGGED_DEVICES_USER_ID) out.push(TAGGED_DEVICES_PROFILE);
      else {
        const u = this.ctx.tailnet.user(uid);
        if (u) out.push(userProfile(u));
      }
    }
    return JSON.stringify(out);
  }
}
