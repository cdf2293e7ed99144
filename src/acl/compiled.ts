// The compiled policy for one tailnet: rules resolved to indexed node sets, per-node views
// (filter, peers, routes, SSH, capabilities) computed lazily and cached, and node changes
// applied incrementally with the set of node ids whose views changed.
import type { FilterRule, SSHPolicy } from '../tailcfg/types.js';
import {
  capDstCovers, capGrantFor, dstPortsFor, hasSelfDst, mergeRules, selfDstPorts, selfSources, type RuleState,
} from './filter.js';
import type { Policy } from './parse.js';
import { formatPrefix, overlaps, parsePrefix } from './ipset.js';
import { nodeInSource, nodeIsDestination, select } from './resolve.js';
import { electPrimaries, peerRouteView, selfRouteView, type RouteView } from './routes.js';
import { ruleDefs } from './rules.js';
import { sourceMatches, sourceStrings } from './srcips.js';
import { isExitRoute, TailnetIndex, type NodeRec, type PolicyNode, type TailnetInput } from './tailnet.js';
import { buildSshPolicy, checkSshDomains } from './ssh.js';
import { CAP_DISABLE_IPV4, hasAttr, nodeCapMap, peerCapMapOf } from './capabilities.js';
import { autoApprovedRoutes } from './autoapprove.js';
import { viaRoutesFor } from './via.js';

export interface CompileOptions {
  /** Base URL for SSH check-mode holdAndDelegate URLs. */
  baseURL?: string;
}

export type NodeChange = PolicyNode | { removed: number };

export type CapMap = Record<string, unknown[] | null>;

const DRIVE = 'tailscale.com/cap/drive';
const DRIVE_SHARER = 'tailscale.com/cap/drive-sharer';

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
  private sshCache = new Map<number, SSHPolicy | null>();
  private wildSrc?: string[];

  constructor(policy: Policy | null, tailnet: TailnetInput | TailnetIndex, opts: CompileOptions = {}) {
    this.policy = policy;
    this.idx = tailnet instanceof TailnetIndex ? tailnet : new TailnetIndex(tailnet);
    this.opts = opts;
    if (policy) {
      checkSshDomains(policy.ssh, this.idx);
      this.rules = ruleDefs(policy).map((def) => ({
        def,
        src: select(policy, this.idx, def.src),
        dsts: def.dst.map((d) => select(policy, this.idx, [d.alias])),
      }));
    }
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
        const src = this.srcText(st);
        for (const g of st.def.groups) {
          const k = ruleKey(src, g.proto);
          if (!m.has(k)) m.set(k, ri);
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

  srcNodes(st: RuleState): Set<number> {
    if (!st.srcNodes) {
      const s = new Set<number>();
      if (st.src.all || st.src.any) for (const id of this.idx.nodes.keys()) s.add(id);
      else {
        for (const id of st.src.nodes) if (this.idx.nodes.has(id)) s.add(id);
        // Routers count as sources when a source prefix covers a subnet they serve.
        if (st.src.prefixes.length) {
          for (const rec of this.idx.nodes.values()) {
            if (nodeInSource(st.src, rec) || rec.subnets.some((r) => st.src.prefixes.some((p) => overlaps(p.range, r)))) s.add(rec.node.id);
          }
        }
      }
      st.srcNodes = s;
    }
    return st.srcNodes;
  }

  /** Does any part of the rule land in this node's filter (ignoring autogroup:self)? */
  ruleTargets(st: RuleState, rec: NodeRec): boolean {
    if (st.def.app && capDstCovers(st, rec)) return true;
    if (st.def.groups.length === 0) return false;
    return st.dsts.some((d) => nodeIsDestination(d, rec));
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
      this.rules.forEach((st, ri) => {
        const src = this.srcText(st);
        // The autogroup:self part sorts before the rest when it is listed first.
        st.def.groups.forEach((g, gi) => {
          const dp = dstPortsFor(st, gi, rec);
          if (dp.length && src.length) {
            const r: FilterRule = { SrcIPs: [...src], DstPorts: dp };
            if (g.proto) r.IPProto = [...g.proto];
            add(ruleKey(src, g.proto), ri, r);
          }
          if (hasSelfDst(st)) {
            const ss = selfSources(st, rec, this.srcNodes(st), this.idx);
            const sdp = selfDstPorts(st, gi, rec);
            if (ss.size && sdp.length) {
              const sIPs = sourceStrings(st.src, this.idx, ss);
              const r: FilterRule = { SrcIPs: sIPs, DstPorts: sdp };
              if (g.proto) r.IPProto = [...g.proto];
              add(ruleKey(sIPs, g.proto), st.dsts[0]?.self ? ri - 0.5 : ri + 0.5, r);
            }
          }
        });
        if (st.def.app && src.length && capDstCovers(st, rec)) {
          add(`cap|${ri}`, ri, { SrcIPs: [...src], CapGrant: [capGrantFor(st.def.app, rec)] });
        }
        if (st.def.app && hasSelfDst(st)) {
          const ss = selfSources(st, rec, this.srcNodes(st), this.idx);
          if (ss.size) {
            const sIPs = sourceStrings(st.src, this.idx, ss);
            add(`cap|self|${ri}`, ri + 0.5, { SrcIPs: sIPs, CapGrant: [capGrantFor(st.def.app, rec)] });
          }
        }
      });
      // Taildrive: the sharing side learns who may access its shares (reverse grant).
      this.rules.forEach((st, ri) => {
        if (!st.def.app || !(DRIVE in st.def.app) || !this.srcNodes(st).has(id)) return;
        // The grant's destinations, spelled as a source.
        const sIPs = sourceStrings(select(this.policy!, this.idx, st.def.dst.map((d) => d.alias)), this.idx);
        if (!sIPs.length) return;
        add(`cap|sharer|${ri}`, ri + 0.75, { SrcIPs: sIPs, CapGrant: [{ Dsts: rec.addrs.map(formatPrefix), CapMap: { [DRIVE_SHARER]: null } }] });
      });
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
    const set = new Set<number>();
    if (!this.policy) for (const k of this.idx.nodes.keys()) set.add(k);
    else {
      for (const st of this.rules) {
        const srcNodes = this.srcNodes(st);
        const inSrc = srcNodes.has(id);
        if (this.ruleTargets(st, rec)) for (const s of srcNodes) set.add(s);
        if (hasSelfDst(st)) {
          for (const s of selfSources(st, rec, srcNodes, this.idx)) set.add(s);
          if (inSrc && !rec.tagged && rec.node.userId !== null) {
            for (const o of this.idx.byUser.get(rec.node.userId) ?? []) set.add(o);
          }
        }
        if (inSrc) {
          for (const o of this.idx.nodes.values()) {
            if (!set.has(o.node.id) && this.ruleTargets(st, o)) set.add(o.node.id);
          }
        }
      }
      for (const v of viaPeers(this, rec)) set.add(v);
    }
    set.delete(id);
    const out = [...set].sort((a, b) => a - b);
    this.peerCache.set(id, out);
    return out;
  }

  /** Routes `viewer` may use through `peer` (AllowedIPs beyond addresses) and its primaries. */
  peerRoutes(viewer: number, peer: number): RouteView {
    const rec = this.requireNode(peer);
    const via = this.policy ? viaRoutesFor(this, this.requireNode(viewer), rec) : null;
    if (via) return via;
    const v = this.requireNode(viewer);
    const view = peerRouteView(rec, this.primaryMap());
    // A route reaches the viewer's AllowedIPs only if some rule lets the viewer use it.
    const ok = (r: string) => this.canUseRoute(v, r);
    return { allowedIPs: view.allowedIPs.filter(ok), primaryRoutes: view.primaryRoutes.filter(ok) };
  }

  canUseRoute(viewer: NodeRec, route: string): boolean {
    if (!this.policy) return true;
    const exit = isExitRoute(route);
    const range = parsePrefix(route);
    if (!range) return false;
    for (const st of this.rules) {
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
    return selfRouteView(this.requireNode(id), this.primaryMap());
  }

  sshPolicy(id: number): SSHPolicy | null {
    if (this.sshCache.has(id)) return this.sshCache.get(id)!;
    const rec = this.requireNode(id);
    const out = this.policy ? buildSshPolicy(this, rec) : null;
    this.sshCache.set(id, out);
    return out;
  }

  /** Addresses `viewer` sees for `peer`: IPv4 is dropped when either side disables it. */
  peerAddresses(viewer: number, peer: number): string[] {
    const v = this.requireNode(viewer);
    const p = this.requireNode(peer);
    const noV4 = hasAttr(this, v, CAP_DISABLE_IPV4) || hasAttr(this, p, CAP_DISABLE_IPV4);
    return p.addrs.filter((a) => !(noV4 && !a.v6)).map(formatPrefix);
  }

  /** The node's own addresses as delivered to itself (disable-ipv4 drops IPv4). */
  selfAddresses(id: number): string[] {
    const r = this.requireNode(id);
    const noV4 = hasAttr(this, r, CAP_DISABLE_IPV4);
    return r.addrs.filter((a) => !(noV4 && !a.v6)).map(formatPrefix);
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
   * routes, SSH) may have changed; their caches are dropped, everything else is kept.
   */
  applyNodeChange(change: NodeChange): { affected: Set<number> } {
    const affected = new Set<number>();
    const id = 'removed' in change ? change.removed : change.id;
    const before = this.idx.nodes.get(id);
    if (before) for (const p of this.peers(id)) affected.add(p);
    const oldSubnets = before ? before.subnetText.join(',') : '';
    // Rules whose membership involves the node before the change.
    const touched = new Set<RuleState>();
    const noteRules = (rec: NodeRec | undefined) => {
      if (!rec) return;
      for (const st of this.rules) {
        if (nodeInSource(st.src, rec) || st.src.all) touched.add(st);
        else if (st.dsts.some((d) => nodeIsDestination(d, rec) || d.self)) touched.add(st);
      }
    };
    noteRules(before);
    if ('removed' in change) this.idx.remove(id);
    else this.idx.upsert(change);
    const after = this.idx.nodes.get(id);
    noteRules(after);
    const newSubnets = after ? after.subnetText.join(',') : '';
    const routesChanged = oldSubnets !== newSubnets || (before?.exitApproved ?? false) !== (after?.exitApproved ?? false);
    if (this.policy) {
      // Re-resolve selections touching the node (tags/user may have changed).
      for (const st of this.rules) {
        st.src = select(this.policy, this.idx, st.def.src);
        st.dsts = st.def.dst.map((d) => select(this.policy!, this.idx, [d.alias]));
      }
      for (const st of this.rules) {
        const srcChanged = touched.has(st) || (routesChanged && st.src.all);
        if (!srcChanged) continue;
        const prevSrc = st.srcNodes;
        st.srcText = undefined;
        this.keyPos = undefined;
        st.srcNodes = undefined;
        // Every node receiving this rule sees new SrcIPs.
        for (const rec of this.idx.nodes.values()) if (this.ruleTargets(st, rec)) affected.add(rec.node.id);
        if (prevSrc) for (const p of prevSrc) affected.add(p);
        for (const p of this.srcNodes(st)) if (st.dsts.some((d) => after && nodeIsDestination(d, after))) affected.add(p);
      }
    }
    if (routesChanged) this.primaries = undefined;
    affected.add(id);
    this.peerCache.delete(id);
    this.filterCache.delete(id);
    this.sshCache.delete(id);
    if (after) for (const p of this.peers(id)) affected.add(p);
    if (routesChanged) for (const p of affected) void p;
    for (const a of affected) {
      this.filterCache.delete(a);
      this.peerCache.delete(a);
      this.sshCache.delete(a);
    }
    affected.delete(id);
    if (after) affected.add(id);
    return { affected };
  }
}

import { viaPeers } from './via.js';
