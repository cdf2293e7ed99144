// Document-level cross-reference checks (no tailnet needed), in Tailscale's wording.
import { classifyAlias } from './alias.js';
import { fail } from './errors.js';
import type { Policy } from './parse.js';

function checkTagsExist(p: Policy, list: string[], side: string): void {
  for (const s of list) {
    if (s.startsWith('tag:') && !(s in p.tagOwners)) fail(`${side}=tag not found: "${s}"`);
  }
}

function checkAliasSyntax(p: Policy, list: string[]): void {
  for (const s of list) {
    const a = classifyAlias(s, p.hosts);
    if (a.kind === 'invalid') fail(`"${s}": invalid address`);
    if (a.kind === 'group' && !(a.name in p.groups)) fail(`group "${a.name}" not found`);
    if (a.kind === 'autogroup' && !['member', 'tagged', 'self', 'internet', 'danger-all'].includes(a.name)) {
      fail(`autogroup "${s}" is not supported`);
    }
  }
}

/** autogroup:self only works when every source is a user-kind principal. */
function checkSelfUsage(p: Policy, src: string[], dst: string[], allowWildcard = false): void {
  if (src.includes('autogroup:self')) fail('"autogroup:self" not valid on the src side of a rule');
  if (!dst.includes('autogroup:self')) return;
  for (const s of src) {
    const a = classifyAlias(s, p.hosts);
    // ACLs accept "*" next to autogroup:self (it narrows to the same user); grants do not.
    const ok = (allowWildcard && a.kind === 'wildcard') || a.kind === 'user' || a.kind === 'userDomain' || a.kind === 'group' || (a.kind === 'autogroup' && a.name === 'member');
    if (!ok) fail('autogroup:self can only be used with users, groups, or supported autogroups');
  }
}

export function validateStatic(p: Policy): void {
  for (const [k, owners] of Object.entries(p.tagOwners)) {
    for (const o of owners) {
      if (o.startsWith('tag:') && !(o in p.tagOwners)) fail(`tagOwners["${k}"]: tag "${o}" not found`);
      if (o.startsWith('group:') && !(o in p.groups)) fail(`tagOwners["${k}"]: group "${o}" not found`);
    }
  }
  for (const r of p.acls) {
    checkTagsExist(p, r.src, 'src');
    checkTagsExist(p, r.dst.map((d) => d.alias), 'dst');
    checkSelfUsage(p, r.src, r.dst.map((d) => d.alias), true);
    checkAliasSyntax(p, r.src);
    checkAliasSyntax(p, r.dst.map((d) => d.alias));
  }
  for (const g of p.grants) {
    checkTagsExist(p, g.src, 'src');
    checkTagsExist(p, g.dst, 'dst');
    for (const v of g.via) if (!(v in p.tagOwners)) fail(`tag "${v}" not found`);
    checkSelfUsage(p, g.src, g.dst);
    checkAliasSyntax(p, g.src);
    checkAliasSyntax(p, g.dst);
  }
  for (const r of p.ssh) {
    checkTagsExist(p, r.src, 'src');
    checkTagsExist(p, r.dst, 'dst');
    checkSelfUsage(p, r.src, r.dst);
    for (const d of r.dst) {
      const a = classifyAlias(d, p.hosts);
      const ok = a.kind === 'tag' || a.kind === 'user' || a.kind === 'group' || a.kind === 'wildcard' ||
        (a.kind === 'autogroup' && ['self', 'member', 'tagged'].includes(a.name));
      if (!ok) fail(`invalid dst "${d}"`);
    }
    checkAliasSyntax(p, r.src);
  }
  for (const n of p.nodeAttrs) {
    for (const t of n.target) {
      const a = classifyAlias(t, p.hosts);
      if (a.kind === 'invalid') fail(`"${t}": invalid address`);
    }
  }
}
