// Subnet-route election and the AllowedIPs/PrimaryRoutes each viewer gets for its peers.
// The primary for an approved prefix is the oldest registered online node serving it
// (the oldest of all when none is online), so traffic fails over when a router leaves.
import { formatPrefix } from './ipset.js';
import { EXIT_V4, EXIT_V6, type NodeRec, type TailnetIndex } from './tailnet.js';

export interface RouteView {
  allowedIPs: string[];
  primaryRoutes: string[];
}

/** prefix text (CIDR) -> primary node id. */
export function electPrimaries(idx: TailnetIndex): Map<string, number> {
  const primary = new Map<string, { id: number; seq: number; offline: boolean }>();
  for (const rec of idx.nodes.values()) {
    const offline = rec.node.online === false;
    for (const r of rec.subnets) {
      const k = formatPrefix(r);
      const cur = primary.get(k);
      const better = !cur || (cur.offline && !offline) || (cur.offline === offline && rec.seq < cur.seq);
      if (better) primary.set(k, { id: rec.node.id, seq: rec.seq, offline });
    }
  }
  return new Map([...primary].map(([k, v]) => [k, v.id]));
}

export function primariesOf(rec: NodeRec, primaries: Map<string, number>): string[] {
  return rec.subnets.map(formatPrefix).filter((k) => primaries.get(k) === rec.node.id).sort();
}

export function exitRoutesOf(rec: NodeRec): string[] {
  return rec.node.approvedRoutes.filter((r) => r === EXIT_V4 || r === EXIT_V6);
}

export function peerRouteView(peer: NodeRec, primaries: Map<string, number>, extra: string[] = []): RouteView {
  const prim = primariesOf(peer, primaries);
  const allowed = new Set([...prim, ...exitRoutesOf(peer), ...extra]);
  return { allowedIPs: [...allowed].sort(), primaryRoutes: prim };
}

export function selfRouteView(rec: NodeRec, primaries: Map<string, number>): RouteView {
  const allowed = new Set([...rec.subnets.map(formatPrefix), ...exitRoutesOf(rec)]);
  return { allowedIPs: [...allowed].sort(), primaryRoutes: primariesOf(rec, primaries) };
}
