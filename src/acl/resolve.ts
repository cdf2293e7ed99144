// Alias resolution: a policy word (tag, group, user, host, CIDR, autogroup) to the set of
// nodes and literal address ranges it denotes in the current tailnet.
import { classifyAlias } from './alias.js';
import { fail } from './errors.js';
import { anyOverlap, contains, type Range } from './ipset.js';
import type { Policy } from './parse.js';
import type { NodeRec, TailnetIndex } from './tailnet.js';

export interface Selection {
  /** "*": every node (and, on the source side, the approved subnet routes). */
  all: boolean;
  /** autogroup:danger-all: any address at all. */
  any: boolean;
  /** autogroup:internet (destination only). */
  internet: boolean;
  /** autogroup:self (destination only). */
  self: boolean;
  nodes: Set<number>;
  prefixes: { range: Range; text: string }[];
}

export function emptySelection(): Selection {
  return { all: false, any: false, internet: false, self: false, nodes: new Set(), prefixes: [] };
}

/** Users a group stands for, per policy and tailnet index (both are fixed once compiled). */
const groupMemo = new WeakMap<Policy, WeakMap<TailnetIndex, Map<string, number[]>>>();

function groupUsers(p: Policy, idx: TailnetIndex, name: string): number[] {
  let byIdx = groupMemo.get(p);
  if (!byIdx) groupMemo.set(p, (byIdx = new WeakMap()));
  let m = byIdx.get(idx);
  if (!m) byIdx.set(idx, (m = new Map()));
  let out = m.get(name);
  if (!out) {
    // Parsing refuses groups inside groups, so members are users only: no recursion.
    const set = new Set<number>();
    for (const member of p.groups[name] ?? []) {
      if (!member.startsWith('group:')) for (const u of usersOf(p, idx, member)) set.add(u);
    }
    // Members from the identity provider join only groups the policy declares.
    if (Object.hasOwn(p.groups, name)) for (const u of idx.groupMembers(name)) set.add(u);
    out = [...set];
    m.set(name, out);
  }
  return out;
}

export function usersOf(p: Policy, idx: TailnetIndex, alias: string): number[] {
  const a = classifyAlias(alias, p.hosts);
  if (a.kind === 'user') {
    const u = idx.userByLogin(a.login);
    return u === undefined ? [] : [u];
  }
  if (a.kind === 'userDomain') {
    const d = a.domain.toLowerCase();
    return [...idx.users.values()].filter((u) => u.email.toLowerCase().endsWith(`@${d}`)).map((u) => u.id);
  }
  if (a.kind === 'group') return groupUsers(p, idx, a.name);
  return [];
}

/**
 * Role autogroups. This server keeps no admin roles: every user administers the tailnet
 * (as in the captures), and the owner is the first user.
 */
export function roleHolds(idx: TailnetIndex, role: 'admin' | 'owner', rec: NodeRec): boolean {
  if (rec.tagged || rec.node.userId === null) return false;
  if (role === 'admin') return true;
  const owner = [...idx.users.values()].sort((x, y) => x.id - y.id)[0];
  return owner !== undefined && rec.node.userId === owner.id;
}

/** Adds what `alias` denotes to `sel`. */
export function addAlias(p: Policy, idx: TailnetIndex, alias: string, sel: Selection): void {
  const a = classifyAlias(alias, p.hosts);
  switch (a.kind) {
    case 'wildcard':
      sel.all = true;
      return;
    case 'autogroup':
      switch (a.name) {
        case 'member':
          for (const id of idx.members) sel.nodes.add(id);
          return;
        case 'tagged':
          for (const id of idx.tagged) sel.nodes.add(id);
          return;
        case 'self':
          sel.self = true;
          return;
        case 'internet':
          sel.internet = true;
          return;
        case 'danger-all':
          sel.any = true;
          return;
        case 'admin':
        case 'owner':
          for (const id of idx.members) if (roleHolds(idx, a.name, idx.nodes.get(id)!)) sel.nodes.add(id);
          return;
        default:
          fail(`autogroup "${alias}" is not supported`);
      }
      return;
    case 'tag':
      for (const id of idx.byTag.get(a.name) ?? []) sel.nodes.add(id);
      return;
    case 'user':
    case 'userDomain':
    case 'group':
      for (const u of usersOf(p, idx, alias)) for (const id of idx.byUser.get(u) ?? []) sel.nodes.add(id);
      return;
    case 'host':
    case 'prefix':
      sel.prefixes.push({ range: a.range, text: alias });
      return;
    default:
      fail(`"${alias}": invalid address`);
  }
}

export function select(p: Policy, idx: TailnetIndex, aliases: string[]): Selection {
  const sel = emptySelection();
  for (const a of aliases) addAlias(p, idx, a, sel);
  return sel;
}

/** Does the node's own address fall in the selection (source-side membership)? */
export function nodeInSource(sel: Selection, rec: NodeRec): boolean {
  if (sel.all || sel.any) return true;
  if (sel.nodes.has(rec.node.id)) return true;
  for (const p of sel.prefixes) for (const a of rec.addrs) if (contains(p.range, a)) return true;
  return false;
}

/** Is the node a destination of the selection (own address or served subnet overlaps)? */
export function nodeIsDestination(sel: Selection, rec: NodeRec): boolean {
  if (sel.all || sel.any) return true;
  if (sel.nodes.has(rec.node.id)) return true;
  if (sel.internet && rec.exitApproved) return true;
  for (const p of sel.prefixes) {
    if (anyOverlap([p.range], rec.addrs) || anyOverlap([p.range], rec.subnets)) return true;
  }
  return false;
}

/** Does an alias name this node through its identity (tag, user, group, member/tagged)? */
export function aliasHasNode(p: Policy, idx: TailnetIndex, alias: string, rec: NodeRec): boolean {
  const a = classifyAlias(alias, p.hosts);
  switch (a.kind) {
    case 'autogroup':
      return (a.name === 'member' && !rec.tagged) || (a.name === 'tagged' && rec.tagged) ||
        ((a.name === 'admin' || a.name === 'owner') && roleHolds(idx, a.name, rec));
    case 'tag':
      return rec.node.tags.includes(a.name);
    case 'user':
    case 'userDomain':
    case 'group':
      return !rec.tagged && rec.node.userId !== null && usersOf(p, idx, alias).includes(rec.node.userId);
    default:
      return false;
  }
}

/** Updates a selection's node set for one node that joined, changed or left. */
export function patchSelection(p: Policy, idx: TailnetIndex, aliases: string[], sel: Selection, id: number, rec: NodeRec | undefined): void {
  sel.nodes.delete(id);
  if (rec && aliases.some((a) => aliasHasNode(p, idx, a, rec))) sel.nodes.add(id);
}
