// Classification of alias strings (the words that appear in src/dst/target lists).
import { parsePrefix, type Range } from './ipset.js';

export type Alias =
  | { kind: 'wildcard' }
  | { kind: 'autogroup'; name: string }
  | { kind: 'group'; name: string }
  | { kind: 'tag'; name: string }
  | { kind: 'user'; login: string }
  | { kind: 'userDomain'; domain: string }
  | { kind: 'host'; name: string; range: Range }
  | { kind: 'prefix'; range: Range }
  | { kind: 'invalid'; text: string };

export const AUTOGROUPS = ['member', 'tagged', 'self', 'internet', 'nonroot', 'danger-all', 'admin', 'owner', 'it-admin', 'network-admin', 'billing-admin', 'auditor', 'shared'];

export function classifyAlias(s: string, hosts: Record<string, Range>): Alias {
  if (s === '*') return { kind: 'wildcard' };
  if (s.startsWith('autogroup:')) return { kind: 'autogroup', name: s.slice('autogroup:'.length) };
  if (s.startsWith('group:')) return { kind: 'group', name: s };
  if (s.startsWith('tag:')) return { kind: 'tag', name: s };
  if (s.startsWith('user:*@')) return { kind: 'userDomain', domain: s.slice('user:*@'.length) };
  if (s.startsWith('user:')) return { kind: 'user', login: s.slice('user:'.length) };
  if (Object.prototype.hasOwnProperty.call(hosts, s)) return { kind: 'host', name: s, range: hosts[s] };
  const r = parsePrefix(s);
  if (r) return { kind: 'prefix', range: r };
  if (s.includes('@')) return { kind: 'user', login: s };
  return { kind: 'invalid', text: s };
}
