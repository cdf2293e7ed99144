// The compiled policy for one tailnet: rules resolved to indexed node sets, per-node views
// (filter, peers, routes, SSH, capabilities) computed lazily and cached, and node changes
// applied incrementally with the set of node ids whose views changed.
import type { FilterRule, SSHPolicy } from '../tailcfg/types.js';
import {
  capDstCovers, capGrantFor, dstPortsFor, viaAllows, hasSelfDst, mergeRules, restOffset, selfDstPorts, selfSources, SELF_OFFSET,
  type RuleState,
} from './filter.js';
import type { Policy } from './parse.js';
import { overlaps, parsePrefix, rangeKey, type Range } from './ipset.js';
import { nodeInSource, nodeIsDestination, patchSelection, select } from './resolve.js';
import { electPrimaries, peerRouteView, selfRouteView, type RouteView } from './routes.js';
import { ruleDefs } from './rules.js';
import { sourceMatches, sourceStrings } from './srcips.js';
import { isExitRoute, TailnetIndex, type NodeRec, type PolicyNode, type TailnetInput } from './tailnet.js';
import { buildSshPolicy, checkSshDomains } from './ssh.js';
import { CAP_DISABLE_IPV4, hasAttr, nodeCapMap, peerCapMapOf } from './capabilities.js';
import { autoApprovedRoutes } from './autoapprove.js';
import { viaRoutesFor } from './via.js';
import { SshSources } from './sshsources.js';

export interface CompileOptions {
  /** Base URL for SSH check-mode holdAndDelegate URLs. */
  baseURL?: string;
  /**
   * Compute each node's views alone and from every rule, without the rule index and
   * the peer sets shared between alike nodes (the reference those are tested against).
   */
  reference?: boolean;
}

export type NodeChange = PolicyNode | { removed: number };

export type CapMap = Record<string, unknown[] | null>;

/** Capabilities whose grant implies a reverse grant to the sources. */
const COMPANION: Record<string, string> = {
  'tailscale.com/cap/drive': 'tailscale.com/cap/drive-sharer',
  'tailscale.com/cap/relay': 'tailscale.com/cap/relay-target',
};

function ruleKey(src: string[], proto?: number[]): string {
  return `ip|${src.join(' ')}|${proto ? proto.join(',') : ''}`;
}

const ALLOW_ALL: FilterRule[] = [{ SrcIPs: ['*'], DstPorts: [{ IP: '*', Ports: { First: 0, Last: 65535 } }] }];

export class CompiledPolicy {
  readonly policy: Policy | null;
  readonly idx: TailnetIndex;
  readonly opts: CompileOptions;
  private rules: RuleState[] = [];
  private primaries?: Map<string, number>;
  private filterCache = new Map<number, FilterRule[]>();
  private peerCache = new Map<number, number[]>();
  /** Peer sets (self included) per rule signature; see peers(). Cleared on every node change. */
  private peerShare = new Map<string, number[]>();
  private sshCache = new Map<number, SSHPolicy | null>();
  private sshSources?: SshSources;
  /** Per-viewer answers that depend on the viewer alone (route use, via steering). */
  private viewerMemo = new Map<number, Map<string, unknown>>();
  /** Oldest via-tagged router per (tags, prefix); dropped when any router changes. */
  private viaRouterCache = new Map<string, number | undefined>();
  /** Does any rule carry "via"? Fixed per policy. */
  readonly hasVia: boolean;
  /**
   * Per node, the rules (by position) it is a source or destination of, plus every
   * autogroup:self rule: the only rules that can put anything in its filter or peer set.
   * With a rule per team, a node's views then cost its own rules, not the policy's size.
   * Built on first use, patched for the one node on each change.
   */
  private ruleIndex?: Map<number, number[]>;
  private selfRules: number[] = [];

  constructor(policy: Policy | null, tailnet: TailnetInput | TailnetIndex, opts: CompileOptions = {}) {
    this.policy = policy;
    this.idx = tailnet instanceof TailnetIndex ? tailnet : new TailnetIndex(tailnet);
    this.opts = opts;
    if (policy) {
      checkSshDomains(policy, this.idx);
      this.rules = ruleDefs(policy).map((def) => ({
        def,
        src: select(policy, this.idx, def.src),
        dsts: def.dst.map((d) => select(policy, this.idx, [d.alias])),
      }));
    }
    this.hasVia = this.rules.some((st) => st.def.via.length > 0);
    this.rules.forEach((st, ri) => {
      if (hasSelfDst(st)) this.selfRules.push(ri);
    });
  }

  /** Positions of the rules that can concern node `id`, ascending (see ruleIndex). */
  private rulesFor(id: number): number[] {
    if (this.opts.reference) return this.rules.map((_, ri) => ri);
    if (!this.ruleIndex) {
      const sets = new Map<number, Set<number>>();
      const put = (nid: number, ri: number) => {
        let s = sets.get(nid);
        if (!s) sets.set(nid, (s = new Set()));
        s.add(ri);
      };
      this.rules.forEach((st, ri) => {
        for (const n of this.srcNodes(st)) put(n, ri);
        for (const n of this.dstNodes(st)) put(n, ri);
      });
      const index = new Map<number, number[]>();
      for (const nid of this.idx.nodes.keys()) index.set(nid, this.merged(sets.get(nid)));
      this.ruleIndex = index;
    }
    let r = this.ruleIndex.get(id);
    if (!r) this.ruleIndex.set(id, (r = this.scanRulesFor(id)));
    return r;
  }

  private merged(own: Set<number> | undefined): number[] {
    if (!own) return this.selfRules;
    for (const ri of this.selfRules) own.add(ri);
    return [...own].sort((a, b) => a - b);
  }

  /** rulesFor() of one node from the rules' node sets (after a change to that node). */
  private scanRulesFor(id: number): number[] {
    const own = new Set<number>();
    this.rules.forEach((st, ri) => {
      if (this.srcNodes(st).has(id) || this.dstNodes(st).has(id)) own.add(ri);
    });
    return this.merged(own);
  }

  node(id: number): NodeRec | undefined {
    return this.idx.nodes.get(id);
  }

  private requireNode(id: number): NodeRec {
    const r = this.idx.nodes.get(id);
    if (!r) throw new Error(`unknown node ${id}`);
    return r;
  }

  primaryMap(): Map<string, number> {
    return (this.primaries ??= electPrimaries(this.idx));
  }

  ruleStates(): readonly RuleState[] {
    return this.rules;
  }

  private keyPos?: Map<string, number>;

  /** Position of the first rule (in policy order) having each source/protocol key. */
  private keyPositions(): Map<string, number> {
    if (!this.keyPos) {
      const m = new Map<string, number>();
      this.rules.forEach((st, ri) => {
        // Via rules are compiled per router, outside the tailnet-wide merge.
        if (st.def.via.length) return;
        for (let gi = 0; gi < st.def.groups.length; gi++) {
          const k = this.srcKey(st, gi);
          if (!m.has(k)) m.set(k, ri + restOffset(st.def));
        }
        // Capability rules are never merged; each keeps its own position.
      });
      this.keyPos = m;
    }
    return this.keyPos;
  }

  srcText(st: RuleState): string[] {
    return (st.srcText ??= sourceStrings(st.src, this.idx));
  }

  /**
   * ruleKey of the rule's sources for group `gi`, kept with srcText: a team of 100 has a key
   * of ~1.5 KB, and every viewer's filter and every keyPositions rebuild would join it again.
   */
  private srcKey(st: RuleState, gi: number): string {
    st.srcKeys ??= st.def.groups.map((g) => ruleKey(this.srcText(st), g.proto));
    return st.srcKeys[gi]!;
  }

  /** Is the node a source of the rule (own address, or a subnet it serves, is covered)? */
  srcContains(st: RuleState, rec: NodeRec): boolean {
    if (nodeInSource(st.src, rec)) return true;
    // Routers count as sources when a source prefix covers a subnet they serve.
    return rec.subnets.some((r) => st.src.prefixes.some((p) => overlaps(p.range, r)));
  }

  srcNodes(st: RuleState): Set<number> {
    if (!st.srcNodes) {
      const s = new Set<number>();
      if (st.src.all || st.src.any) for (const id of this.idx.nodes.keys()) s.add(id);
      else if (st.src.prefixes.length === 0) {
        for (const id of st.src.nodes) if (this.idx.nodes.has(id)) s.add(id);
      } else for (const rec of this.idx.nodes.values()) if (this.srcContains(st, rec)) s.add(rec.node.id);
      st.srcNodes = s;
    }
    return st.srcNodes;
  }

  /** Does any part of the rule land in this node's filter (ignoring autogroup:self)? */
  dstContains(st: RuleState, rec: NodeRec): boolean {
    if (st.def.app && capDstCovers(st, rec)) return true;
    if (st.def.groups.length === 0) return false;
    if (!viaAllows(st, rec)) return st.dsts.some((d) => d.all || d.any || d.nodes.has(rec.node.id));
    return st.dsts.some((d) => nodeIsDestination(d, rec));
  }

  /** Nodes the rule is delivered to (autogroup:self excluded), cached per rule. */
  dstNodes(st: RuleState): Set<number> {
    if (!st.dstNodes) {
      const s = new Set<number>();
      const onlyNodes = st.dsts.every((d) => !d.all && !d.any && !d.internet && d.prefixes.length === 0);
      if (onlyNodes) {
        for (const d of st.dsts) for (const id of d.nodes) if (this.idx.nodes.has(id)) s.add(id);
      } else for (const rec of this.idx.nodes.values()) if (this.dstContains(st, rec)) s.add(rec.node.id);
      st.dstNodes = s;
    }
    return st.dstNodes;
  }

  ruleTargets(st: RuleState, rec: NodeRec): boolean {
    return this.dstNodes(st).has(rec.node.id);
  }

  packetFilter(id: number): FilterRule[] {
    const hit = this.filterCache.get(id);
    if (hit) return hit;
    const rec = this.requireNode(id);
    let out: FilterRule[];
    if (!this.policy) out = structuredClone(ALLOW_ALL);
    else {
      // Rules with the same sources and protocols are merged at the position of the first
      // of them in the whole policy (not only among the rules this node receives).
      const keyPos = this.keyPositions();
      const parts: { pos: number; key: string; rule: FilterRule }[] = [];
      const add = (key: string, fallback: number, rule: FilterRule) => parts.push({ pos: keyPos.get(key) ?? fallback, key, rule });
      const mine = this.rulesFor(id);
      for (const ri of mine) {
        const st = this.rules[ri]!;
        const src = this.srcText(st);
        const rest = ri + restOffset(st.def);
        // A rule whose destinations miss the node has no DstPorts for it (outside via rules,
        // dstPortsFor only finds what dstContains, and so dstNodes, covers): skipped without
        // looking, since with a rule per team most rules are someone else's.
        const targeted = st.def.via.length > 0 || this.dstNodes(st).has(id);
        st.def.groups.forEach((g, gi) => {
          const dp = targeted ? dstPortsFor(st, gi, rec) : [];
          if (dp.length && src.length) {
            // SrcIPs is the rule's shared array (never modified): every receiver's filter
            // points at it, so its JSON is written once (mapresponse/filterjson.ts).
            const r: FilterRule = { SrcIPs: src, DstPorts: dp };
            if (g.proto) r.IPProto = [...g.proto];
            add(st.def.via.length ? `via|${ri}|${gi}` : this.srcKey(st, gi), rest, r);
          }
          if (hasSelfDst(st)) {
            const ss = selfSources(st, rec, this.srcNodes(st), this.idx);
            const sdp = selfDstPorts(st, gi, rec);
            if (ss.size && sdp.length) {
              const sIPs = sourceStrings(st.src, this.idx, ss);
              const r: FilterRule = { SrcIPs: sIPs, DstPorts: sdp };
              if (g.proto) r.IPProto = [...g.proto];
              add(ruleKey(sIPs, g.proto), ri + SELF_OFFSET, r);
            }
          }
        });
        // Capability rules are delivered even when no source resolves (empty SrcIPs).
        if (st.def.app && capDstCovers(st, rec)) {
          add(`cap|${ri}`, rest, { SrcIPs: src, CapGrant: [capGrantFor(st.def.app, rec)] });
        }
        if (st.def.app && hasSelfDst(st)) {
          const ss = selfSources(st, rec, this.srcNodes(st), this.idx);
          if (ss.size) {
            const sIPs = sourceStrings(st.src, this.idx, ss);
            add(`cap|self|${ri}`, ri + SELF_OFFSET, { SrcIPs: sIPs, CapGrant: [capGrantFor(st.def.app, rec)] });
          }
        }
      }
      // Some capabilities have a companion granted back to the sources (e.g. a Taildrive
      // sharer learns who may access its shares): sources become destinations.
      for (const ri of mine) {
        const st = this.rules[ri]!;
        if (!st.def.app || !this.srcNodes(st).has(id)) continue;
        const companions = Object.keys(st.def.app).map((k) => COMPANION[k]).filter((k): k is string => !!k);
        if (!companions.length) continue;
        const dstSel = select(this.policy!, this.idx, st.def.dst.map((d) => d.alias).filter((a) => a !== 'autogroup:self'));
        const sIPs = new Set(sourceStrings(dstSel, this.idx));
        if (hasSelfDst(st) && !rec.tagged && rec.node.userId !== null) {
          for (const o of this.idx.byUser.get(rec.node.userId) ?? []) for (const a of this.idx.nodes.get(o)!.addrText) sIPs.add(a);
        }
        if (!sIPs.size) continue;
        // One rule per companion capability, in grant order.
        companions.forEach((k, ci) => {
          add(`cap|companion|${ri}|${ci}`, ri + SELF_OFFSET + (ci + 1) / (companions.length + 2), {
            SrcIPs: [...sIPs].sort(),
            CapGrant: [{ Dsts: [...rec.addrCidr], CapMap: { [k]: null } }],
          });
        });
      }
      parts.sort((a, b) => a.pos - b.pos);
      out = mergeRules(parts);
    }
    this.filterCache.set(id, out);
    return out;
  }

  peers(id: number): number[] {
    const hit = this.peerCache.get(id);
    if (hit) return hit;
    const rec = this.requireNode(id);
    // Nodes alike in their rules (source or destination of the same ones) and, for
    // autogroup:self, in their user have the same peers bar themselves: a team's peer set
    // is computed once per change, not once per member.
    let key = 'all';
    if (this.opts.reference) key = `#${id}`;
    else if (this.policy) {
      key = rec.tagged || rec.node.userId === null ? 'T' : `u${rec.node.userId}`;
      for (const ri of this.rulesFor(id)) {
        const st = this.rules[ri]!;
        key += `|${ri}${this.srcNodes(st).has(id) ? 's' : ''}${this.dstNodes(st).has(id) ? 'd' : ''}`;
      }
    }
    let shared = this.peerShare.get(key);
    if (!shared) this.peerShare.set(key, (shared = this.scanPeers(rec)));
    const out = shared.filter((p) => p !== id);
    this.peerCache.set(id, out);
    return out;
  }

  /** The peers of `rec` and of every node with its rule signature, itself included, ascending. */
  private scanPeers(rec: NodeRec): number[] {
    const id = rec.node.id;
    const set = new Set<number>();
    if (!this.policy) for (const k of this.idx.nodes.keys()) set.add(k);
    else {
      for (const ri of this.rulesFor(id)) {
        const st = this.rules[ri]!;
        const srcNodes = this.srcNodes(st);
        const inSrc = srcNodes.has(id);
        if (this.ruleTargets(st, rec)) for (const s of srcNodes) set.add(s);
        if (hasSelfDst(st)) {
          for (const s of selfSources(st, rec, srcNodes, this.idx)) set.add(s);
          if (inSrc && !rec.tagged && rec.node.userId !== null) {
            for (const o of this.idx.byUser.get(rec.node.userId) ?? []) set.add(o);
          }
        }
        if (inSrc) for (const o of this.dstNodes(st)) set.add(o);
      }
      // viaPeers depends on nothing but the rules' node sets today; were it to look at the
      // node itself, the signature in peers() would have to say so.
      for (const v of viaPeers(this, rec)) set.add(v);
    }
    return [...set].sort((a, b) => a - b);
  }

  /** Routes `viewer` may use through `peer` (AllowedIPs beyond addresses) and its primaries. */
  peerRoutes(viewer: number, peer: number): RouteView {
    const rec = this.requireNode(peer);
    // Most peers serve no routes: nothing to filter or elect.
    if (!rec.subnets.length && !rec.exitApproved) {
      this.requireNode(viewer);
      return { allowedIPs: [], primaryRoutes: [] };
    }
    const via = this.policy ? viaRoutesFor(this, this.requireNode(viewer), rec) : null;
    if (via) return via;
    const v = this.requireNode(viewer);
    const view = peerRouteView(rec, this.primaryMap());
    // A route reaches the viewer's AllowedIPs only if some rule lets the viewer use it.
    const ok = (r: string) => this.canUseRoute(v, r);
    return { allowedIPs: view.allowedIPs.filter(ok), primaryRoutes: view.primaryRoutes.filter(ok) };
  }

  /** May `viewer` use `route` through some rule (via rules skipped when `plainOnly`)? */
  canUseRoute(viewer: NodeRec, route: string, plainOnly = false): boolean {
    if (!this.policy) return true;
    return this.memo(viewer.node.id, `use|${plainOnly ? 'plain|' : ''}${route}`, () => this.scanRouteUse(viewer, route, plainOnly));
  }

  /** Caches `f` for the viewer until the viewer's views are dropped. */
  memo<T>(viewer: number, key: string, f: () => T): T {
    let m = this.viewerMemo.get(viewer);
    if (!m) this.viewerMemo.set(viewer, (m = new Map()));
    if (m.has(key)) return m.get(key) as T;
    const v = f();
    m.set(key, v);
    return v;
  }

  /** Oldest node carrying one of `tags` that serves exactly `r`. */
  viaRouter(tags: Set<string>, r: Range): number | undefined {
    const key = `${[...tags].sort().join(',')}|${rangeKey(r)}`;
    if (this.viaRouterCache.has(key)) return this.viaRouterCache.get(key);
    let best: NodeRec | undefined;
    for (const o of this.idx.nodes.values()) {
      if (!o.node.tags.some((t) => tags.has(t))) continue;
      if (!o.subnets.some((s) => s.lo === r.lo && s.hi === r.hi && s.v6 === r.v6)) continue;
      if (!best || o.seq < best.seq) best = o;
    }
    this.viaRouterCache.set(key, best?.node.id);
    return best?.node.id;
  }

  private scanRouteUse(viewer: NodeRec, route: string, plainOnly: boolean): boolean {
    const exit = isExitRoute(route);
    const range = parsePrefix(route);
    if (!range) return false;
    // An HA secondary for the same prefix always learns the primary serving it.
    if (!exit && viewer.subnets.some((r) => r.lo === range.lo && r.hi === range.hi && r.v6 === range.v6)) return true;
    for (const st of this.rules) {
      if (plainOnly && st.def.via.length) continue;
      // Return traffic: the viewer is a destination of a rule whose sources include the route.
      if (!exit && this.ruleTargets(st, viewer)) {
        if (st.src.all || st.src.any || st.src.prefixes.some((p) => overlaps(p.range, range))) return true;
      }
      if (!this.srcNodes(st).has(viewer.node.id)) continue;
      for (const d of st.dsts) {
        if (d.all || d.any) return true;
        if (exit && d.internet) return true;
        if (!exit && d.prefixes.some((p) => overlaps(p.range, range))) return true;
      }
    }
    return false;
  }

  selfRoutes(id: number): RouteView {
    const rec = this.requireNode(id);
    if (!rec.subnets.length && !rec.exitApproved) return { allowedIPs: [], primaryRoutes: [] };
    return selfRouteView(rec, this.primaryMap());
  }

  sshPolicy(id: number): SSHPolicy | null {
    if (this.sshCache.has(id)) return this.sshCache.get(id)!;
    const rec = this.requireNode(id);
    const out = this.policy ? buildSshPolicy(this, rec, (this.sshSources ??= new SshSources(this.policy, this.idx))) : null;
    this.sshCache.set(id, out);
    return out;
  }

  /** Addresses `viewer` sees for `peer`: IPv4 is dropped when either side disables it. */
  peerAddresses(viewer: number, peer: number): string[] {
    const v = this.requireNode(viewer);
    const p = this.requireNode(peer);
    const noV4 = this.noV4(v) || this.noV4(p);
    return p.addrCidr.filter((_, i) => !(noV4 && !p.addrs[i].v6));
  }

  /** Does the node carry disable-ipv4? Asked once per peer, so kept until the node changes. */
  private noV4(rec: NodeRec): boolean {
    return this.memo(rec.node.id, 'noV4', () => hasAttr(this, rec, CAP_DISABLE_IPV4));
  }

  /** The node's own addresses as delivered to itself (disable-ipv4 drops IPv4). */
  selfAddresses(id: number): string[] {
    const r = this.requireNode(id);
    const noV4 = this.noV4(r);
    return r.addrCidr.filter((_, i) => !(noV4 && !r.addrs[i].v6));
  }

  capMap(id: number): CapMap {
    return nodeCapMap(this, this.requireNode(id));
  }

  peerCapMap(viewer: number, peer: number): CapMap {
    return peerCapMapOf(this, this.requireNode(viewer), this.requireNode(peer));
  }

  /**
   * Application capabilities `peer` holds towards `viewer` (what WhoIs on viewer reports):
   * the CapGrant rules of the viewer's own filter whose sources include the peer.
   */
  whois(viewer: number, peer: number): CapMap {
    const out: CapMap = {};
    const p = this.requireNode(peer);
    for (const rule of this.packetFilter(viewer)) {
      if (!rule.CapGrant || !p.addrs.some((a) => sourceMatches(rule.SrcIPs, a))) continue;
      for (const g of rule.CapGrant) {
        for (const [k, vals] of Object.entries(g.CapMap ?? {})) {
          const cur = out[k] ?? null;
          out[k] = vals === null && cur === null ? null : [...(cur ?? []), ...structuredClone(vals ?? [])];
        }
      }
    }
    return out;
  }

  autoApprovedRoutes(node: PolicyNode): string[] {
    return this.policy ? autoApprovedRoutes(this.policy, this.idx, node) : [];
  }

  /**
   * Applies a node join/change/removal. Returns the node ids whose views (filter, peers,
   * routes, SSH) may have changed. Cached per-rule sets are patched by the one node id and
   * only the affected nodes' cached views are dropped, so the cost follows the change.
   */
  applyNodeChange(change: NodeChange): { affected: Set<number> } {
    const affected = new Set<number>();
    const id = 'removed' in change ? change.removed : change.id;
    const before = this.idx.nodes.get(id);
    if (before) for (const p of this.peers(id)) affected.add(p);
    const wasSrc = new Map<RuleState, boolean>();
    const wasDst = new Map<RuleState, boolean>();
    for (const st of this.rules) {
      wasSrc.set(st, before ? this.srcContains(st, before) : false);
      wasDst.set(st, before ? this.dstContains(st, before) : false);
    }
    // Built on the old state so the patch below sees what changed.
    if (this.policy?.ssh.length) this.sshSources ??= new SshSources(this.policy, this.idx);
    // A router's online state is part of its routing: it decides primary elections.
    const routing = (rec: NodeRec | undefined) =>
      rec ? rec.subnetText.join(',') + (rec.exitApproved ? '+exit' : '') + (rec.subnets.length && rec.node.online === false ? '+offline' : '') : '';
    const beforeSubnets = routing(before);
    if ('removed' in change) this.idx.remove(id);
    else this.idx.upsert(change);
    this.peerShare.clear();
    const after = this.idx.nodes.get(id);
    const afterSubnets = routing(after);
    const routesChanged = beforeSubnets !== afterSubnets;
    if (routesChanged) this.primaries = undefined;
    const sshAffected = this.sshSources?.patch(id, before, after) ?? new Set<number>();
    if (before?.subnets.length || after?.subnets.length) this.viaRouterCache.clear();

    if (this.policy) {
      for (const st of this.rules) {
        // Patch node-set selections for this node only.
        patchSelection(this.policy, this.idx, st.def.src, st.src, id, after);
        st.def.dst.forEach((d, i) => patchSelection(this.policy!, this.idx, [d.alias], st.dsts[i], id, after));
        const isSrc = after ? this.srcContains(st, after) : false;
        const isDst = after ? this.dstContains(st, after) : false;
        if (st.srcNodes) {
          st.srcNodes.delete(id);
          if (isSrc) st.srcNodes.add(id);
        }
        if (st.dstNodes) {
          st.dstNodes.delete(id);
          if (isDst) st.dstNodes.add(id);
        }
        const srcTextChanged = wasSrc.get(st) || isSrc || (routesChanged && st.src.all);
        if (srcTextChanged) {
          // Every receiver of this rule sees new SrcIPs.
          st.srcText = undefined;
          st.srcKeys = undefined;
          this.keyPos = undefined;
          for (const r of this.dstNodes(st)) affected.add(r);
          if (hasSelfDst(st) && after && !after.tagged && after.node.userId !== null) {
            for (const o of this.idx.byUser.get(after.node.userId) ?? []) affected.add(o);
          }
        }
        if (wasDst.get(st) || isDst) for (const r of this.srcNodes(st)) affected.add(r);
      }
      // The node's own rule list follows its new place in the rules' node sets.
      if (this.ruleIndex) {
        if (after) this.ruleIndex.set(id, this.scanRulesFor(id));
        else this.ruleIndex.delete(id);
      }
      // SSH rules listing the node as a source change their receivers' policy (the node's
      // own policy is dropped below).
      for (const a of sshAffected) affected.add(a);
      if (routesChanged) {
        // Route visibility changes for everyone who may use the routes.
        for (const st of this.rules) if (st.src.all) for (const r of this.dstNodes(st)) affected.add(r);
      }
    }
    if (routesChanged) {
      // Primaries may move between routers of the same prefix (HA failover): those routers and
      // everyone who sees them get new routes.
      const changed = [...(before?.subnets ?? []), ...(after?.subnets ?? [])];
      for (const o of this.idx.nodes.values()) {
        if (o.node.id === id || !o.subnets.some((r) => changed.some((c) => rangeKey(c) === rangeKey(r)))) continue;
        affected.add(o.node.id);
        for (const q of this.peers(o.node.id)) affected.add(q);
      }
    }
    this.peerShare.clear();
    for (const a of affected) this.dropViews(a);
    this.dropViews(id);
    if (after) {
      for (const p of this.peers(id)) affected.add(p);
      affected.add(id);
    } else affected.delete(id);
    for (const a of affected) this.dropViews(a);
    return { affected };
  }

  private dropViews(id: number): void {
    this.viewerMemo.delete(id);
    this.filterCache.delete(id);
    this.peerCache.delete(id);
    this.sshCache.delete(id);
  }
}

import { viaPeers } from './via.js';
