import type { CompiledPolicy, CapMap } from './compiled.js';
import type { NodeRec } from './tailnet.js';

export function nodeCapMap(_c: CompiledPolicy, _rec: NodeRec): CapMap {
  return {};
}
export function peerCapMapOf(_c: CompiledPolicy, _v: NodeRec, _p: NodeRec): CapMap {
  return {};
}
