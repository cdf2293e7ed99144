// Tailscale SSH: the per-destination SSHPolicy. Check rules come before accept rules;
// "localpart:*@domain" users become one extra rule per source user whose login matches.
import type { SSHAction, SSHPolicy, SSHPrincipal, SSHRule } from '../tailcfg/types.js';
import type { CompiledPolicy } from './compiled.js';
import { fail } from './errors.js';
import type { Policy, SshEntry } from './parse.js';
import { nodeInSource } from './resolve.js';
import type { SshSources } from './sshsources.js';
import type { NodeRec, TailnetIndex } from './tailnet.js';

function action(e: SshEntry, baseURL: string): SSHAction {
  if (e.action === 'check') {
    return { holdAndDelegate: `${baseURL}/machine/ssh/action/$SRC_NODE_ID/to/$DST_NODE_ID?local_user=$LOCAL_USER` };
  }
  return { accept: true, allowAgentForwarding: true, allowLocalPortForwarding: true, allowRemotePortForwarding: true };
}

function localpartDomain(u: string): string | null {
  return u.startsWith('localpart:*@') ? u.slice('localpart:*@'.length) : null;
}

const NOT_OURS = 'is not associated with this Tailnet and cannot be used in user:*@<domain> expressions';

function checkDomain(d: string, own: string | undefined): void {
  // Without a known tailnet domain there is nothing to compare against.
  if (own === undefined) return;
  // Passkey accounts form their own pseudo-domain that every tailnet may name.
  if (d === 'passkey') return;
  // Tailscale reports a non-lowercase domain under its passkey pseudo-domain.
  if (d !== d.toLowerCase()) fail(`PASSKEY ${NOT_OURS}`);
  if (d !== own) fail(`${d} ${NOT_OURS}`);
}

/**
 * Domains in "localpart:*@domain" SSH users and in "user:*@domain" aliases (any rule
 * position) must belong to the tailnet; refused otherwise, in Tailscale's words.
 */
export function checkSshDomains(policy: Policy, idx: TailnetIndex): void {
  const own = idx.domain();
  for (const e of policy.ssh) {
    for (const u of e.users) {
      const d = localpartDomain(u);
      if (d !== null) checkDomain(d, own);
    }
  }
  const aliases = [
    ...policy.acls.flatMap((r) => [...r.src, ...r.dst.map((d) => d.alias)]),
    ...policy.grants.flatMap((g) => [...g.src, ...g.dst]),
    ...policy.ssh.flatMap((r) => [...r.src, ...r.dst]),
    ...policy.nodeAttrs.flatMap((n) => n.target),
  ];
  for (const a of aliases) {
    if (a.startsWith('user:*@')) checkDomain(a.slice('user:*@'.length), own);
  }
}

function sshUsers(users: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const u of users) {
    if (localpartDomain(u) !== null) continue;
    if (u === 'autogroup:nonroot') out['*'] = '=';
    else out[u] = u;
  }
  // Root is denied unless named explicitly.
  if (!('root' in out)) out.root = '';
  return out;
}

function principals(ids: number[], idx: TailnetIndex): SSHPrincipal[] {
  const out: SSHPrincipal[] = [];
  for (const id of ids) for (const a of idx.nodes.get(id)?.addrText ?? []) out.push({ nodeIP: a });
  return out;
}

export function buildSshPolicy(c: CompiledPolicy, rec: NodeRec, resolved: SshSources): SSHPolicy | null {
  const idx = c.idx;
  const base = c.opts.baseURL ?? '';
  const checks: SSHRule[] = [];
  const accepts: SSHRule[] = [];
  for (const { entry: e, src, dst, sources, byUser } of resolved.entries) {
    const domains = e.users.map(localpartDomain).filter((d): d is string => d !== null);
    const direct = dst.all || dst.nodes.has(rec.node.id);
    const viaSelf = dst.self && !rec.tagged && rec.node.userId !== null;
    // With localpart users, Tailscale also delivers the rule to the sources themselves,
    // limited to the source's own user (or the tagged node itself).
    const asSource = domains.length > 0 && nodeInSource(src, rec);
    if (!direct && !viaSelf && !asSource) continue;
    let srcIds = sources;
    if (!direct && !rec.tagged) srcIds = byUser.get(rec.node.userId!) ?? [];
    else if (!direct) srcIds = sources.filter((n) => n.node.id === rec.node.id);
    if (!srcIds.length) continue;
    const act = action(e, base);
    const users = sshUsers(e.users);
    const target = e.action === 'check' ? checks : accepts;
    const mk = (ids: number[], u: Record<string, string>): SSHRule => {
      const r: SSHRule = { principals: principals(ids, idx), sshUsers: u, action: { ...act } };
      if (e.acceptEnv && e.acceptEnv.length) r.acceptEnv = [...e.acceptEnv];
      return r;
    };
    if (!domains.length) {
      target.push(mk(srcIds.map((n) => n.node.id), users));
      continue;
    }
    // Per source user: the shared users, then the user's own login name if it matches.
    const groups = new Map<number | null, number[]>();
    for (const n of srcIds) {
      const k = n.tagged ? null : n.node.userId;
      const g = groups.get(k) ?? [];
      g.push(n.node.id);
      groups.set(k, g);
    }
    const keys = [...groups.keys()].sort((a, b) => (a ?? Infinity) - (b ?? Infinity));
    for (const k of keys) {
      const ids = groups.get(k)!;
      target.push(mk(ids, users));
      const u = k === null ? undefined : idx.users.get(k);
      if (!u) continue;
      const at = u.email.lastIndexOf('@');
      if (at > 0 && domains.includes(u.email.slice(at + 1))) {
        const local = u.email.slice(0, at);
        target.push(mk(ids, { [local]: local }));
      }
    }
  }
  const rules = [...checks, ...accepts];
  return rules.length ? { rules } : null;
}
