// Via grants steer a subnet destination, for the grant's sources, through routers carrying
// one of the "via" tags: those routers get the filter rule and become the viewer's primary
// for the prefix, instead of the globally elected primary.
import type { CompiledPolicy } from './compiled.js';
import { formatPrefix, overlaps, type Range } from './ipset.js';
import { primariesOf, exitRoutesOf, type RouteView } from './routes.js';
import type { NodeRec } from './tailnet.js';

export function viaPeers(_c: CompiledPolicy, _viewer: NodeRec): number[] {
  // Via routers are destinations of the grant already (see dstContains), so they are peers.
  return [];
}

/**
 * Via tags steering `route` for `viewer`, or null when no via grant applies. A rule without
 * via that also grants the viewer the route wins: the viewer then uses the elected primary.
 */
function steering(c: CompiledPolicy, viewer: NodeRec, route: Range): Set<string> | null {
  return c.memo(viewer.node.id, `via|${formatPrefix(route)}`, () => scanSteering(c, viewer, route));
}

function scanSteering(c: CompiledPolicy, viewer: NodeRec, route: Range): Set<string> | null {
  if (c.canUseRoute(viewer, formatPrefix(route), true)) return null;
  let tags: Set<string> | null = null;
  for (const st of c.ruleStates()) {
    if (!st.def.via.length || !c.srcNodes(st).has(viewer.node.id)) continue;
    if (!st.dsts.some((d) => d.prefixes.some((p) => overlaps(p.range, route)))) continue;
    tags ??= new Set();
    for (const t of st.def.via) tags.add(t);
  }
  return tags;
}

export function viaRoutesFor(c: CompiledPolicy, viewer: NodeRec, peer: NodeRec): RouteView | null {
  if (!c.hasVia) return null;
  const allowed: string[] = [];
  const primary: string[] = [];
  const globalPrim = new Set(primariesOf(peer, c.primaryMap()));
  let steeredAny = false;
  for (const r of peer.subnets) {
    const text = formatPrefix(r);
    const tags = steering(c, viewer, r);
    if (!tags) {
      if (globalPrim.has(text) && c.canUseRoute(viewer, text)) {
        allowed.push(text);
        primary.push(text);
      }
      continue;
    }
    steeredAny = true;
    if (!peer.node.tags.some((t) => tags.has(t))) continue;
    // The oldest via-tagged router serving the prefix is this viewer's primary.
    if (c.viaRouter(tags, r) === peer.node.id) {
      allowed.push(text);
      primary.push(text);
    }
  }
  if (!steeredAny) return null;
  for (const e of exitRoutesOf(peer)) if (c.canUseRoute(viewer, e)) allowed.push(e);
  return { allowedIPs: [...new Set(allowed)].sort(), primaryRoutes: primary.sort() };
}
