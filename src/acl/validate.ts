// Document-level checks (no tailnet needed), in Tailscale's wording. Each position in the
// policy accepts its own set of alias kinds; docs/policy-rules.md lists them with the
// messages, and this file follows that table section by section.
import { classifyAlias, type Alias } from './alias.js';
import type { Issues, PolicyPath } from './errors.js';
import type { EntryIndex, Policy } from './parse.js';

/** The autogroups Tailscale knows in rule positions; anything else is refused as unknown. */
const KNOWN_AUTOGROUPS = ['internet', 'member', 'nonroot', 'tagged', 'self', 'danger-all'];
const KNOWN_LIST = `[${KNOWN_AUTOGROUPS.map((a) => `autogroup:${a}`).join(' ')}]`;

/** Autogroups allowed per position, in the order Tailscale lists them in its messages. */
const ACL_SRC = ['member', 'tagged', 'danger-all'];
const ACL_DST = ['internet', 'member', 'tagged', 'self'];
const SSH_SRC = ['member', 'tagged'];
const SSH_DST = ['member', 'tagged', 'self'];
/** nodeAttrs targets also take the role autogroups (admin, owner, ...), which name users. */
const NODEATTR_TARGET = ['member', 'tagged'];
const ROLE_AUTOGROUPS = ['admin', 'owner', 'it-admin', 'network-admin', 'billing-admin', 'auditor'];
/** Role autogroups rule sources resolve (every user administers; the owner is the first user). */
const SRC_ROLES = ['admin', 'owner'];

const list = (names: string[]) => `[${names.map((a) => `autogroup:${a}`).join(' ')}]`;

type Side = 'src' | 'dst';

class Checker {
  constructor(private readonly p: Policy, private readonly issues: Issues) {}

  add(message: string, path: PolicyPath): void {
    this.issues.add(message, path);
  }

  alias(s: string): Alias {
    return classifyAlias(s, this.p.hosts);
  }

  /** Checks shared by every position: the word parses, and what it names is defined. */
  defined(a: Alias, s: string, path: PolicyPath, tagMessage: (t: string) => string): boolean {
    if (a.kind === 'invalid') {
      this.add(`"${s}": invalid address`, path);
      return false;
    }
    if (a.kind === 'group' && !(a.name in this.p.groups)) {
      this.add(`group not defined in policy: "${a.name}"`, path);
      return false;
    }
    if (a.kind === 'tag' && !(a.name in this.p.tagOwners)) {
      this.add(tagMessage(a.name), path);
      return false;
    }
    if (a.kind === 'autogroup' && !KNOWN_AUTOGROUPS.includes(a.name)) {
      this.add(`invalid autogroup: got "${s}", must be one of ${KNOWN_LIST}`, path);
      return false;
    }
    return true;
  }

  /** ACL and grant sources. */
  ruleSrc(list_: string[], base: PolicyPath): void {
    list_.forEach((s, i) => {
      const path = [...base, i];
      const a = this.alias(s);
      // Sources may name users by role (docs: autogroup:admin, autogroup:owner).
      if (a.kind === 'autogroup' && SRC_ROLES.includes(a.name)) return;
      if (!this.defined(a, s, path, (t) => `src=tag not found: "${t}"`)) return;
      if (a.kind !== 'autogroup') return;
      if (a.name === 'internet') this.add('autogroup:internet can only be used in ACL destinations', path);
      else if (a.name === 'self') this.add('"autogroup:self" not valid on the src side of a rule', path);
      else if (!ACL_SRC.includes(a.name)) this.add(`autogroup not supported for ACL sources: "${s}", can be ${list(ACL_SRC)}`, path);
    });
  }

  /** ACL and grant destinations (aliases without their ports). */
  ruleDst(aliases: string[], base: PolicyPath, tagMessage: (t: string) => string): void {
    aliases.forEach((s, i) => {
      const path = [...base, i];
      const a = this.alias(s);
      if (!this.defined(a, s, path, tagMessage)) return;
      if (a.kind !== 'autogroup') return;
      if (a.name === 'danger-all') this.add('cannot use autogroup:danger-all as a dst', path);
      else if (!ACL_DST.includes(a.name)) this.add(`autogroup not supported for ACL destinations: "${s}", can be ${list(ACL_DST)}`, path);
    });
  }

  /**
   * autogroup:self as a destination needs sources that are users: users, groups and
   * autogroup:member. ACLs also take "*", which narrows per node; grants do not.
   */
  selfSources(src: string[], dst: string[], path: PolicyPath, allowWildcard: boolean): void {
    if (!dst.includes('autogroup:self')) return;
    for (const s of src) {
      const a = this.alias(s);
      const ok = (allowWildcard && a.kind === 'wildcard') || a.kind === 'user' || a.kind === 'userDomain' ||
        a.kind === 'group' || (a.kind === 'autogroup' && a.name === 'member');
      if (!ok) {
        this.add('autogroup:self can only be used with users, groups, or supported autogroups', path);
        return;
      }
    }
  }

  sshSrc(src: string[], base: PolicyPath): void {
    src.forEach((s, i) => {
      const path = [...base, i];
      const a = this.alias(s);
      if (a.kind === 'wildcard' || a.kind === 'host' || a.kind === 'prefix') {
        this.add(`invalid src "${s}"`, path);
        return;
      }
      if (!this.defined(a, s, path, (t) => `tag not found: "${t}"`)) return;
      if (a.kind !== 'autogroup') return;
      if (a.name === 'internet') this.add('autogroup:internet can only be used in ACL destinations', path);
      else if (a.name === 'self') this.add('"autogroup:self" not valid on the src side of a rule', path);
      else if (!SSH_SRC.includes(a.name)) this.add(`autogroup not supported for SSH sources: "${s}", can be ${list(SSH_SRC)}`, path);
    });
  }

  sshDst(dst: string[], base: PolicyPath): void {
    dst.forEach((s, i) => {
      const path = [...base, i];
      const a = this.alias(s);
      if (a.kind === 'wildcard') {
        this.add("wildcard (*) is not supported as SSH destination; use 'autogroup:member' for user-owned devices, " +
          "'autogroup:tagged' for tagged devices, or specific tags/users", path);
        return;
      }
      // SSH reaches devices, not address ranges: hosts, IPs and groups are refused.
      if (a.kind === 'host' || a.kind === 'prefix' || a.kind === 'group') {
        this.add(`invalid dst "${s}"`, path);
        return;
      }
      if (!this.defined(a, s, path, (t) => `tag not found: "${t}"`)) return;
      if (a.kind !== 'autogroup') return;
      if (a.name === 'internet') this.add('autogroup:internet can only be used in ACL destinations', path);
      else if (!SSH_DST.includes(a.name)) this.add(`autogroup not supported for SSH destinations: "${s}", can be ${list(SSH_DST)}`, path);
    });
  }

  /**
   * Tailscale SSH's trust model: a tagged source never reaches user-owned devices, and a
   * user destination is reachable only from that same user.
   */
  sshCombination(src: string[], dst: string[], path: PolicyPath): void {
    let tagged = false;
    let groupLike = false;
    const users = new Set<string>();
    for (const s of src) {
      const a = this.alias(s);
      if (a.kind === 'tag' || (a.kind === 'autogroup' && a.name === 'tagged')) tagged = true;
      else if (a.kind === 'group' || a.kind === 'userDomain' || (a.kind === 'autogroup' && a.name === 'member')) groupLike = true;
      else if (a.kind === 'user') users.add(s);
    }
    for (const d of dst) {
      const a = this.alias(d);
      if (a.kind === 'user' || a.kind === 'userDomain') {
        if (tagged) {
          this.add(`tags in SSH source cannot access user-owned devices (${d}); use autogroup:tagged or specific tags as destinations instead`, path);
        } else if (groupLike || users.size !== 1 || !users.has(d)) {
          this.add(`user destination requires source to contain only that same user "${d}"; use autogroup:self instead for same-user SSH access`, path);
        }
      } else if (a.kind === 'autogroup' && a.name === 'self' && tagged) {
        this.add('autogroup:self destination requires source to contain only users or groups, not tags or autogroup:tagged', path);
      } else if (a.kind === 'autogroup' && a.name === 'member' && tagged) {
        this.add('tags in SSH source cannot access autogroup:member (user-owned devices)', path);
      }
    }
  }

  nodeAttrTargets(target: string[], base: PolicyPath): void {
    target.forEach((s, i) => {
      const path = [...base, i];
      const a = this.alias(s);
      if (a.kind === 'autogroup') {
        if (NODEATTR_TARGET.includes(a.name) || ROLE_AUTOGROUPS.includes(a.name)) return;
        this.add(`nodeAttrs target does not support this autogroup: "${s}", can be ${list(NODEATTR_TARGET)}`, path);
        return;
      }
      this.defined(a, s, path, (t) => `tag not found: "${t}"`);
    });
  }

  /** tagOwners and autoApprovers name owners: users, groups, tags (and role autogroups). */
  owner(s: string, path: PolicyPath, kind: 'owner' | 'auto approver', roles: string[]): void {
    if (s.startsWith('group:')) {
      if (!(s in this.p.groups)) this.add(`group not defined in policy: "${s}"`, path);
    } else if (s.startsWith('tag:')) {
      if (!(s in this.p.tagOwners)) this.add(`tag not found: "${s}"`, path);
    } else if (s.startsWith('autogroup:')) {
      if (!roles.includes(s.slice('autogroup:'.length))) this.add(`invalid ${kind} format: "${s}"`, path);
    } else if (!s.includes('@')) {
      this.add(`invalid ${kind} format: "${s}"`, path);
    }
  }
}

export function validateStatic(p: Policy, issues: Issues, idx: EntryIndex): void {
  const c = new Checker(p, issues);

  for (const [k, owners] of Object.entries(p.tagOwners)) {
    owners.forEach((o, i) => c.owner(o, ['tagOwners', k, i], 'owner', [...ROLE_AUTOGROUPS, 'member']));
  }

  p.acls.forEach((r, n) => {
    const at: PolicyPath = ['acls', idx.acls[n]];
    const dst = r.dst.map((d) => d.alias);
    c.ruleSrc(r.src, [...at, 'src']);
    c.ruleDst(dst, [...at, 'dst'], (t) => `dst="${t}": tag not found: "${t}"`);
    c.selfSources(r.src, dst, at, true);
  });

  p.grants.forEach((g, n) => {
    const at: PolicyPath = ['grants', idx.grants[n]];
    c.ruleSrc(g.src, [...at, 'src']);
    c.ruleDst(g.dst, [...at, 'dst'], (t) => `dst=tag not found: "${t}"`);
    g.via.forEach((v, i) => {
      if (!(v in p.tagOwners)) c.add(`tag "${v}" not found`, [...at, 'via', i]);
    });
    c.selfSources(g.src, g.dst, at, false);
  });

  p.ssh.forEach((r, n) => {
    const at: PolicyPath = ['ssh', idx.ssh[n]];
    c.sshSrc(r.src, [...at, 'src']);
    c.sshDst(r.dst, [...at, 'dst']);
    c.sshCombination(r.src, r.dst, at);
  });

  p.nodeAttrs.forEach((na, n) => c.nodeAttrTargets(na.target, ['nodeAttrs', idx.nodeAttrs[n], 'target']));

  for (const [route, approvers] of Object.entries(p.autoApprovers.routes)) {
    approvers.forEach((a, i) => c.owner(a, ['autoApprovers', 'routes', route, i], 'auto approver', []));
  }
  p.autoApprovers.exitNode.forEach((a, i) => c.owner(a, ['autoApprovers', 'exitNode', i], 'auto approver', []));

  p.sshTests.forEach((t, n) => {
    t.dst.forEach((d, i) => {
      const path: PolicyPath = ['sshTests', idx.sshTests[n], 'dst', i];
      const a = c.alias(d);
      // An sshTests destination names one SSH-reachable device.
      if (a.kind === 'tag' && !(a.name in p.tagOwners)) c.add(`test(s) failed:\nSSH tests dst contains unknown tag "${d}"`, path);
      if ((a.kind === 'prefix' || a.kind === 'host') && a.range.lo !== a.range.hi) {
        c.add(`test(s) failed:\nSSH tests dst contains disallowed element "${d}"`, path);
      }
    });
  });
}
