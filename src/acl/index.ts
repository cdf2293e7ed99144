// Public API of the policy engine.
export { PolicyError } from './errors.js';
export { parsePolicy } from './parse.js';
export type { Policy } from './parse.js';
export type { PolicyUser, PolicyNode, TailnetInput, TailnetSettings } from './tailnet.js';
export { CompiledPolicy } from './compiled.js';
export type { CompileOptions, NodeChange, CapMap } from './compiled.js';
export type { RouteView } from './routes.js';
export { checkPolicyText, compileForPreview } from './preview.js';
export type { PreviewTailnet, PreviewNode } from './preview.js';
import { CompiledPolicy, type CompileOptions } from './compiled.js';
import { evaluateTests } from './tests.js';
import type { Policy } from './parse.js';
import type { TailnetInput } from './tailnet.js';

/** Compiles a policy (null: allow-all) for a tailnet; throws PolicyError if its tests fail. */
export function compilePolicy(policy: Policy | null, tailnet: TailnetInput, opts: CompileOptions = {}): CompiledPolicy {
  const c = new CompiledPolicy(policy, tailnet, opts);
  evaluateTests(c);
  return c;
}
export { mayOwnTag } from './tagowners.js';
export type { TagRequester } from './tagowners.js';
export { locate } from './locate.js';
export type { PolicyIssue, PolicyPath } from './errors.js';
