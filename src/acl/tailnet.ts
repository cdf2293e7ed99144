// Indexed view of the tailnet (users and nodes) that alias resolution queries. Indexes are
// maintained incrementally so a node change costs time proportional to that node.
import { formatAddr, formatPrefix, parsePrefix, type Range, rangeKey } from './ipset.js';

export interface PolicyUser {
  id: number;
  name: string;
  email: string;
  /** Policy groups ("group:…") the user is in beside the policy's own lists (OIDC groups). */
  groups?: readonly string[];
}

export interface PolicyNode {
  id: number;
  name: string;
  userId: number | null;
  tags: string[];
  ipv4: string | null;
  ipv6: string | null;
  routableIPs: string[];
  approvedRoutes: string[];
  /**
   * Whether the node is connected. Only subnet-router election looks at it (an online
   * router wins over an offline one); absent means online, as in a policy preview.
   */
  online?: boolean;
}

export interface TailnetSettings {
  /** Domain for user:*@domain / localpart:*@domain checks; defaults to the owner's. */
  domain?: string;
  devicesAutoUpdatesOn?: boolean;
  [k: string]: unknown;
}

export interface TailnetInput {
  users: PolicyUser[];
  nodes: PolicyNode[];
  settings?: TailnetSettings;
}

export interface NodeRec {
  node: PolicyNode;
  /** Registration position; lower is older (used for primary route election). */
  seq: number;
  v4: Range | null;
  v6: Range | null;
  addrs: Range[];
  /** Bare text of `addrs` (filter spelling), formatted once per node. */
  addrText: string[];
  /** `addrs` with /32 or /128 (AllowedIPs, CapGrant Dsts). */
  addrCidr: string[];
  /** Approved subnet routes (exit routes excluded). */
  subnets: Range[];
  subnetText: string[];
  exitApproved: boolean;
  tagged: boolean;
}

export const EXIT_V4 = '0.0.0.0/0';
export const EXIT_V6 = '::/0';

export function isExitRoute(s: string): boolean {
  return s === EXIT_V4 || s === EXIT_V6;
}

export class TailnetIndex {
  users = new Map<number, PolicyUser>();
  private loginIndex = new Map<string, number>();
  /** Members from outside the policy text (PolicyUser.groups), per group name. */
  private outsideMembers = new Map<string, number[]>();
  nodes = new Map<number, NodeRec>();
  byTag = new Map<string, Set<number>>();
  byUser = new Map<number, Set<number>>();
  tagged = new Set<number>();
  members = new Set<number>();
  private nextSeq = 0;
  settings: TailnetSettings;

  constructor(input: TailnetInput) {
    this.settings = input.settings ?? {};
    for (const u of input.users) this.addUser(u);
    for (const n of input.nodes) this.upsert(n);
  }

  addUser(u: PolicyUser): void {
    this.users.set(u.id, u);
    if (u.email) this.loginIndex.set(u.email.toLowerCase(), u.id);
    // headscale also lets policies name a user as "name@" (no domain).
    this.loginIndex.set(`${u.name.toLowerCase()}@`, u.id);
    for (const g of u.groups ?? []) {
      const m = this.outsideMembers.get(g);
      if (m) m.push(u.id);
      else this.outsideMembers.set(g, [u.id]);
    }
  }

  /** Users in group `name` through PolicyUser.groups (the policy's own members aside). */
  groupMembers(name: string): readonly number[] {
    return this.outsideMembers.get(name) ?? [];
  }

  userByLogin(login: string): number | undefined {
    return this.loginIndex.get(login.toLowerCase());
  }

  /** The tailnet's own domain: explicit setting, else the domain of the first (owner) user. */
  domain(): string | undefined {
    if (this.settings.domain) return this.settings.domain;
    const first = [...this.users.values()].sort((a, b) => a.id - b.id)[0];
    const at = first?.email?.indexOf('@') ?? -1;
    return at >= 0 ? first.email.slice(at + 1) : undefined;
  }

  static record(n: PolicyNode, seq: number): NodeRec {
    const v4 = n.ipv4 ? parsePrefix(n.ipv4) : null;
    const v6 = n.ipv6 ? parsePrefix(n.ipv6) : null;
    const subnets: Range[] = [];
    const subnetText: string[] = [];
    const seen = new Set<string>();
    let exit4 = false;
    let exit6 = false;
    for (const r of n.approvedRoutes) {
      if (r === EXIT_V4) exit4 = true;
      else if (r === EXIT_V6) exit6 = true;
      else {
        const p = parsePrefix(r);
        if (p && !seen.has(rangeKey(p))) {
          seen.add(rangeKey(p));
          subnets.push(p);
          subnetText.push(r);
        }
      }
    }
    const addrs = [v4, v6].filter((x): x is Range => x !== null);
    return {
      node: n, seq, v4, v6, addrs,
      addrText: addrs.map((a) => formatAddr(a.v6, a.lo)),
      addrCidr: addrs.map(formatPrefix),
      subnets, subnetText,
      exitApproved: exit4 || exit6,
      tagged: n.tags.length > 0,
    };
  }

  /** Adds or replaces a node; returns the previous record, if any. */
  upsert(n: PolicyNode): NodeRec | undefined {
    const old = this.nodes.get(n.id);
    if (old) this.unindex(old);
    const rec = TailnetIndex.record(n, old ? old.seq : this.nextSeq++);
    this.nodes.set(n.id, rec);
    this.index(rec);
    return old;
  }

  remove(id: number): NodeRec | undefined {
    const old = this.nodes.get(id);
    if (!old) return undefined;
    this.unindex(old);
    this.nodes.delete(id);
    return old;
  }

  private index(r: NodeRec): void {
    const id = r.node.id;
    if (r.tagged) {
      this.tagged.add(id);
      for (const t of r.node.tags) {
        let s = this.byTag.get(t);
        if (!s) this.byTag.set(t, (s = new Set()));
        s.add(id);
      }
    } else {
      this.members.add(id);
      if (r.node.userId !== null) {
        let s = this.byUser.get(r.node.userId);
        if (!s) this.byUser.set(r.node.userId, (s = new Set()));
        s.add(id);
      }
    }
  }

  private unindex(r: NodeRec): void {
    const id = r.node.id;
    this.tagged.delete(id);
    this.members.delete(id);
    for (const t of r.node.tags) this.byTag.get(t)?.delete(id);
    if (r.node.userId !== null) this.byUser.get(r.node.userId)?.delete(id);
  }

  /** Nodes in registration order (oldest first). */
  ordered(): NodeRec[] {
    return [...this.nodes.values()].sort((a, b) => a.seq - b.seq);
  }
}
