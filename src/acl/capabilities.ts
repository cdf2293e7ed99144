// Node capability maps: defaults every node carries, nodeAttrs from the policy, and the
// capabilities a viewer sees on its peers (exit-node suggestions).
import type { CompiledPolicy, CapMap } from './compiled.js';
import { classifyAlias } from './alias.js';
import { select, nodeInSource } from './resolve.js';
import type { NodeRec } from './tailnet.js';

export const CAP_FILE_SHARING = 'https://tailscale.com/cap/file-sharing';
export const CAP_SSH = 'https://tailscale.com/cap/ssh';
export const CAP_DISABLE_IPV4 = 'disable-ipv4';
export const CAP_SUGGEST_EXIT = 'suggest-exit-node';

/** Does a nodeAttrs target list name this node? */
function targets(c: CompiledPolicy, aliases: string[], rec: NodeRec): boolean {
  const p = c.policy!;
  for (const a of aliases) {
    const k = classifyAlias(a, p.hosts);
    if (k.kind === 'autogroup' && k.name === 'admin') {
      if (!rec.tagged) return true;
      continue;
    }
    if (k.kind === 'autogroup' && k.name === 'owner') {
      const owner = [...c.idx.users.values()].sort((x, y) => x.id - y.id)[0];
      if (!rec.tagged && owner && rec.node.userId === owner.id) return true;
      continue;
    }
    // Other role autogroups (it-admin, auditor, ...) name users by roles this server does not keep.
    if (k.kind === 'autogroup' && !['member', 'tagged'].includes(k.name)) continue;
    if (k.kind === 'invalid') continue;
    if (nodeInSource(select(p, c.idx, [a]), rec)) return true;
  }
  return false;
}

export function nodeCapMap(c: CompiledPolicy, rec: NodeRec): CapMap {
  const out: CapMap = {
    [CAP_FILE_SHARING]: [],
    [CAP_SSH]: [],
    'default-auto-update': [c.idx.settings.devicesAutoUpdatesOn === true],
  };
  const p = c.policy;
  if (!p) return out;
  if (p.randomizeClientPort) out['randomize-client-port'] = null;
  for (const na of p.nodeAttrs) {
    if (!targets(c, na.target, rec)) continue;
    for (const a of na.attr) if (!(a in out)) out[a] = null;
    for (const [k, v] of Object.entries(na.app ?? {})) out[k] = [...((out[k] as unknown[] | null) ?? []), ...structuredClone(v)];
  }
  return out;
}

export function hasAttr(c: CompiledPolicy, rec: NodeRec, attr: string): boolean {
  const p = c.policy;
  if (!p) return false;
  return p.nodeAttrs.some((na) => na.attr.includes(attr) && targets(c, na.target, rec));
}

export function peerCapMapOf(_c: CompiledPolicy, _viewer: NodeRec, peer: NodeRec): CapMap {
  // Approved exit nodes are offered as suggestions to every peer. (CompiledPolicyView.plainPeer
  // counts on nothing but an approved exit route putting capabilities on a peer.)
  return peer.exitApproved ? { [CAP_SUGGEST_EXIT]: null } : {};
}
