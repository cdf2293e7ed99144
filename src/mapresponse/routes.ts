// Primary-router election for subnet routes: a route is served by the nodes that
// advertise it and have it approved; the primary is the earliest registered router
// that is online (or the earliest at all when none is). Exit routes have no primary:
// every approved exit node offers them.

import type { TailnetEvent } from '../state/events.js';
import type { NodeRecord } from '../state/model.js';
import type { Tailnet } from '../state/tailnet.js';
import type { NodeID } from '../tailcfg/types.js';
import { canonicalPrefix } from '../util/prefix.js';
import type { PeerRoutes } from './policyview.js';

const EXIT_ROUTES = new Set(['0.0.0.0/0', '::/0']);

/** Routes a node both advertises and has approved, in canonical spelling. */
export function servedRoutes(n: NodeRecord): string[] {
  const announced = new Set((n.hostinfo.RoutableIPs ?? []).map((r) => canonicalPrefix(r)).filter((r): r is string => r !== null));
  const out: string[] = [];
  for (const r of n.approvedRoutes) {
    const c = canonicalPrefix(r);
    if (c && announced.has(c)) out.push(c);
  }
  return out.sort();
}

export function isExitRoute(prefix: string): boolean {
  return EXIT_ROUTES.has(prefix);
}

export class RouteTable {
  /** route → router node ids, ascending */
  private readonly routers = new Map<string, NodeID[]>();
  /** node → routes it serves */
  private readonly served = new Map<NodeID, string[]>();
  /** node → routes it is primary for */
  private primaries = new Map<NodeID, string[]>();

  constructor(private readonly tailnet: Tailnet) {
    for (const n of tailnet.allNodes()) this.setServed(n.id, servedRoutes(n));
    this.primaries = this.elect();
  }

  /** Updates after events; returns the nodes whose primary routes changed. */
  apply(events: readonly TailnetEvent[]): Set<NodeID> {
    let touched = false;
    for (const e of events) {
      if (e.kind === 'nodeAdded' || e.kind === 'nodeChanged' || e.kind === 'nodeRemoved') {
        const n = this.tailnet.node(e.nodeId);
        const before = this.served.get(e.nodeId) ?? [];
        const after = n ? servedRoutes(n) : [];
        if (before.join() !== after.join()) {
          this.setServed(e.nodeId, after);
          touched = true;
        }
      } else if (e.kind === 'nodePatched' && e.patch.online && (this.served.get(e.nodeId)?.length ?? 0) > 0) {
        touched = true;
      }
    }
    const changed = new Set<NodeID>();
    if (!touched) return changed;
    const next = this.elect();
    for (const id of new Set([...next.keys(), ...this.primaries.keys()])) {
      if ((next.get(id) ?? []).join() !== (this.primaries.get(id) ?? []).join()) changed.add(id);
    }
    this.primaries = next;
    return changed;
  }

  peerRoutes(peer: NodeID): PeerRoutes | null {
    const served = this.served.get(peer);
    if (!served || served.length === 0) return null;
    const primary = this.primaries.get(peer) ?? [];
    const allowedIPs = [...served.filter(isExitRoute), ...primary].sort();
    return { allowedIPs, primaryRoutes: primary };
  }

  private setServed(id: NodeID, routes: string[]): void {
    for (const r of this.served.get(id) ?? []) {
      const list = this.routers.get(r)?.filter((x) => x !== id) ?? [];
      if (list.length) this.routers.set(r, list);
      else this.routers.delete(r);
    }
    if (routes.length) this.served.set(id, routes);
    else this.served.delete(id);
    for (const r of routes) {
      const list = [...(this.routers.get(r) ?? []), id].sort((a, b) => a - b);
      this.routers.set(r, list);
    }
  }

  private elect(): Map<NodeID, string[]> {
    const out = new Map<NodeID, string[]>();
    for (const [route, ids] of this.routers) {
      if (isExitRoute(route)) continue;
      const primary = ids.find((id) => this.tailnet.isOnline(id)) ?? ids[0]!;
      const list = out.get(primary) ?? [];
      list.push(route);
      out.set(primary, list);
    }
    for (const list of out.values()) list.sort();
    return out;
  }
}
