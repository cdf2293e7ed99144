// Source address spelling for filter rules, as the control plane writes it.
import { contains, formatAddr, formatRange, parseAddr, parsePrefix, type Range, subtract } from './ipset.js';
import type { Selection } from './resolve.js';
import type { TailnetIndex } from './tailnet.js';

/** Tailscale's CGNAT range minus the 100.115.92.0/23 block reserved for its own services. */
const CGNAT = parsePrefix('100.64.0.0/10')!;
const RESERVED = parsePrefix('100.115.92.0/23')!;
const ULA = 'fd7a:115c:a1e0::/48';

export const TAILNET_V4_RANGES: string[] = subtract([CGNAT], [RESERVED]).map(formatRange);

/** "*" as a source: the tailnet address space plus every approved subnet route. */
export function wildcardSources(idx: TailnetIndex): string[] {
  const out = [...TAILNET_V4_RANGES, ULA];
  for (const rec of idx.nodes.values()) out.push(...rec.subnets.map(formatRange));
  return out;
}

export function nodeAddrText(r: Range): string {
  return formatAddr(r.v6, r.lo);
}

/** Distinct source strings for a selection, node addresses bare, prefixes as written. */
export function sourceStrings(sel: Selection, idx: TailnetIndex, only?: Set<number>): string[] {
  const out = new Set<string>();
  if (sel.any && !only) out.add('*');
  if (sel.all && !only) for (const s of wildcardSources(idx)) out.add(s);
  const ids = only ?? sel.nodes;
  for (const id of ids) {
    const rec = idx.nodes.get(id);
    if (!rec) continue;
    for (const a of rec.addrText) out.add(a);
  }
  if (!only) for (const p of sel.prefixes) out.add(formatRange(p.range));
  return [...out].sort();
}

/** Does a SrcIPs list (bare, CIDR, "a-b" or "*") cover the address range? */
export function sourceMatches(srcIPs: string[], ip: Range): boolean {
  for (const s of srcIPs) {
    if (s === '*') return true;
    const dash = s.indexOf('-');
    if (dash > 0) {
      const lo = parseAddr(s.slice(0, dash));
      const hi = parseAddr(s.slice(dash + 1));
      if (lo && hi && lo.v6 === ip.v6 && lo.addr <= ip.lo && ip.hi <= hi.addr) return true;
      continue;
    }
    const r = parsePrefix(s);
    if (r && contains(r, ip)) return true;
  }
  return false;
}
