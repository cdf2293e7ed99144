import type { SSHPolicy } from '../tailcfg/types.js';
import type { CompiledPolicy } from './compiled.js';
import type { NodeRec } from './tailnet.js';

export function buildSshPolicy(_c: CompiledPolicy, _rec: NodeRec): SSHPolicy | null {
  return null;
}
