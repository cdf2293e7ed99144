// Shared fixtures for the policy engine tests.
import type { PolicyNode, PolicyUser } from '../../src/acl/index.js';

export const USERS: PolicyUser[] = [
  { id: 1, name: 'odin', email: 'odin@example.com' },
  { id: 2, name: 'thor', email: 'thor@example.org' },
  { id: 3, name: 'freya', email: 'freya@example.com' },
];

export function node(id: number, opts: Partial<PolicyNode> = {}): PolicyNode {
  return {
    id,
    name: `n${id}`,
    userId: opts.tags && opts.tags.length ? null : opts.userId ?? 1,
    tags: [],
    ipv4: `100.64.${Math.floor(id / 250)}.${(id % 250) + 1}`,
    ipv6: `fd7a:115c:a1e0::${id.toString(16)}:1`,
    routableIPs: [],
    approvedRoutes: [],
    ...opts,
  };
}
