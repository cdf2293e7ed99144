// Via grants: steer a subnet destination for given sources through nodes with given tags.
import type { CompiledPolicy } from './compiled.js';
import type { RouteView } from './routes.js';
import type { NodeRec } from './tailnet.js';

export function viaPeers(_c: CompiledPolicy, _viewer: NodeRec): number[] {
  return [];
}

export function viaRoutesFor(_c: CompiledPolicy, _viewer: NodeRec, _peer: NodeRec): RouteView | null {
  return null;
}
