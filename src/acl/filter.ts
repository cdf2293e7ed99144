// Per-node packet filter compilation: each rule reduced to the destinations that concern
// the node (its own addresses, the subnets it serves, "*"), same-source rules merged.
import type { CapGrant, FilterRule, NetPortRange } from '../tailcfg/types.js';
import { formatRange, anyOverlap } from './ipset.js';
import { ALL_PORTS, type PortRange } from './ports.js';
import type { Selection } from './resolve.js';
import type { RuleDef } from './rules.js';
import type { NodeRec, TailnetIndex } from './tailnet.js';
import { INTERNET_RANGES } from './internet.js';

export interface RuleState {
  def: RuleDef;
  src: Selection;
  dsts: Selection[];
  /** Cached source strings; undefined when stale. */
  srcText?: string[];
  /** Per protocol group, the merge key of srcText (ruleKey); stale with it. */
  srcKeys?: string[];
  /** Whether a destination is autogroup:self (hasSelfDst). */
  selfDst?: boolean;
  srcNodes?: Set<number>;
  dstNodes?: Set<number>;
}

function portsFor(def: RuleDef, di: number, gi: number): PortRange[] {
  return def.dst[di].ports ?? def.groups[gi].ports ?? [ALL_PORTS];
}

function push(out: NetPortRange[], ip: string, ports: PortRange[]): void {
  for (const p of ports) out.push({ IP: ip, Ports: { First: p.First, Last: p.Last } });
}

/** DstPorts of group `gi` of a rule that concern node `rec` (autogroup:self excluded). */
export function dstPortsFor(st: RuleState, gi: number, rec: NodeRec): NetPortRange[] {
  const out: NetPortRange[] = [];
  st.dsts.forEach((sel, di) => {
    const ports = portsFor(st.def, di, gi);
    if (sel.all || sel.any) push(out, '*', ports);
    if (sel.nodes.has(rec.node.id)) for (const a of rec.addrText) push(out, a, ports);
    for (const p of sel.prefixes) {
      if (!viaAllows(st, rec)) continue;
      if (anyOverlap([p.range], rec.addrs) || anyOverlap([p.range], rec.subnets)) push(out, formatRange(p.range), ports);
    }
    if (sel.internet && rec.exitApproved) for (const r of INTERNET_RANGES) push(out, r, ports);
  });
  return out;
}

/** With "via", prefix destinations are served only by routers carrying a via tag. */
export function viaAllows(st: RuleState, rec: NodeRec): boolean {
  return st.def.via.length === 0 || rec.node.tags.some((t) => st.def.via.includes(t));
}

/**
 * Offsets within a rule's slot. The control plane expands user-scoped destinations
 * (autogroup:self, autogroup:member) per user after the rule's other destinations, in listed
 * order; so the non-self part follows the self part only when it is made of autogroup:member
 * entries that all come after the first autogroup:self.
 */
export const SELF_OFFSET = 0.5;
export function restOffset(def: RuleDef): number {
  const first = def.dst.findIndex((d) => d.alias === 'autogroup:self');
  if (first < 0) return 0;
  const deferred = def.dst.every((d, i) => d.alias === 'autogroup:self' || (d.alias === 'autogroup:member' && i > first));
  return deferred ? SELF_OFFSET + 0.001 : 0;
}

export function hasSelfDst(st: RuleState): boolean {
  // Fixed by the rule's aliases; asked per rule for every viewer's filter and peer set.
  return (st.selfDst ??= st.dsts.some((d) => d.self));
}

/** Source nodes that reach `rec` through autogroup:self (same user, untagged). */
export function selfSources(st: RuleState, rec: NodeRec, srcNodes: Set<number>, idx: TailnetIndex): Set<number> {
  const out = new Set<number>();
  if (rec.tagged || rec.node.userId === null) return out;
  for (const id of idx.byUser.get(rec.node.userId) ?? []) if (srcNodes.has(id)) out.add(id);
  return out;
}

export function selfDstPorts(st: RuleState, gi: number, rec: NodeRec): NetPortRange[] {
  const out: NetPortRange[] = [];
  st.dsts.forEach((sel, di) => {
    if (sel.self) for (const a of rec.addrText) push(out, a, portsFor(st.def, di, gi));
  });
  return out;
}

/** Does an app grant's destination cover this node? */
export function capDstCovers(st: RuleState, rec: NodeRec): boolean {
  for (const sel of st.dsts) {
    if (sel.all || sel.any || sel.nodes.has(rec.node.id)) return true;
    for (const p of sel.prefixes) if (anyOverlap([p.range], rec.addrs)) return true;
  }
  return false;
}

export function capGrantFor(app: Record<string, unknown[]>, rec: NodeRec): CapGrant {
  return { Dsts: [...rec.addrCidr], CapMap: structuredClone(app) };
}

/** Merges entries sharing a key into the first of them (DstPorts or CapGrant appended). */
export function mergeRules(parts: { key: string; rule: FilterRule }[]): FilterRule[] {
  const out: FilterRule[] = [];
  const byKey = new Map<string, FilterRule>();
  for (const { key, rule } of parts) {
    const prev = byKey.get(key);
    if (!prev) {
      byKey.set(key, rule);
      out.push(rule);
    } else if (rule.DstPorts) prev.DstPorts!.push(...rule.DstPorts);
    else if (rule.CapGrant) prev.CapGrant!.push(...rule.CapGrant);
  }
  return out;
}
