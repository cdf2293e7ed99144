// CLI helpers: check a policy text, and compile it against a tailnet description into the
// per-node shape the compatibility corpus records (one object per node name).
import { CompiledPolicy, type CapMap, type CompileOptions } from './compiled.js';
import { PolicyError } from './errors.js';
import { locate } from './locate.js';
import { parsePolicy } from './parse.js';
import type { PolicyNode, PolicyUser, TailnetSettings } from './tailnet.js';
import { evaluateTests } from './tests.js';

export interface PreviewNodeInput {
  name: string;
  user: string | null;
  tags?: string[];
  ipv4?: string | null;
  ipv6?: string | null;
  routableIPs?: string[];
  approvedRoutes?: string[];
  id?: number;
}

export interface PreviewTailnet {
  users: PolicyUser[];
  nodes: PreviewNodeInput[];
  tailnet?: { settings?: Record<string, unknown>; dns?: unknown } & Record<string, unknown>;
}

export interface PreviewNode {
  packetFilter: unknown[];
  peers: string[];
  peerRoutes?: Record<string, { allowedIPs: string[]; primaryRoutes: string[] }>;
  selfRoutes?: { allowedIPs: string[]; primaryRoutes: string[] };
  sshPolicy: unknown[] | null;
  capMap: CapMap;
  peerCapMaps?: Record<string, CapMap>;
  whois: Record<string, CapMap>;
  addresses?: string[];
  peerAddresses?: Record<string, string[]>;
  autoApprovedRoutes?: string[];
}

export interface CheckIssue {
  message: string;
  /** 1-based position of the entry at fault in the policy text, when it can be placed. */
  line?: number;
  column?: number;
}

export function checkPolicyText(text: string): { ok: true } | { ok: false; error: string; issues: CheckIssue[] } {
  try {
    parsePolicy(text);
    return { ok: true };
  } catch (e) {
    if (!(e instanceof PolicyError)) throw e;
    const issues = e.issues.map((i) => {
      const pos = i.path.length ? locate(text, i.path) : null;
      return pos ? { message: i.message, ...pos } : { message: i.message };
    });
    return { ok: false, error: e.message, issues };
  }
}

export function toPolicyNodes(t: PreviewTailnet): PolicyNode[] {
  const byName = new Map(t.users.map((u) => [u.name, u.id]));
  return t.nodes.map((n, i) => ({
    id: n.id ?? i + 1,
    name: n.name,
    userId: n.user === null ? null : byName.get(n.user) ?? null,
    tags: n.tags ?? [],
    ipv4: n.ipv4 ?? null,
    ipv6: n.ipv6 ?? null,
    routableIPs: n.routableIPs ?? [],
    approvedRoutes: n.approvedRoutes ?? [],
  }));
}

function settingsOf(t: PreviewTailnet): TailnetSettings {
  const s = (t.tailnet?.settings ?? {}) as Record<string, unknown>;
  return { ...s, devicesAutoUpdatesOn: s.devices_auto_updates_on === true };
}

export function compileForPreview(
  policyText: string,
  tailnetJson: PreviewTailnet,
  opts: CompileOptions = {},
): { nodes: Record<string, PreviewNode> } | { error: string } {
  try {
    const policy = parsePolicy(policyText);
    const nodes = toPolicyNodes(tailnetJson);
    // Routes the policy auto-approves count as approved, as they would on registration.
    const probe = new CompiledPolicy(policy, { users: tailnetJson.users, nodes: [] });
    for (const n of nodes) {
      const auto = probe.autoApprovedRoutes(n);
      n.approvedRoutes = [...new Set([...n.approvedRoutes, ...auto])].filter((r) => n.routableIPs.includes(r));
    }
    const compiled = new CompiledPolicy(policy, { users: tailnetJson.users, nodes, settings: settingsOf(tailnetJson) }, {
      baseURL: 'https://unused',
      ...opts,
    });
    evaluateTests(compiled);
    const name = new Map(nodes.map((n) => [n.id, n.name]));
    const out: Record<string, PreviewNode> = {};
    for (const n of nodes) {
      const peers = compiled.peers(n.id);
      const pn: PreviewNode = {
        packetFilter: compiled.packetFilter(n.id),
        peers: peers.map((p) => name.get(p)!).sort(),
        sshPolicy: compiled.sshPolicy(n.id)?.rules ?? null,
        capMap: compiled.capMap(n.id),
        whois: {},
      };
      const pr: NonNullable<PreviewNode['peerRoutes']> = {};
      const pc: Record<string, CapMap> = {};
      for (const p of peers) {
        const v = compiled.peerRoutes(n.id, p);
        if (v.allowedIPs.length || v.primaryRoutes.length) pr[name.get(p)!] = v;
        const cm = compiled.peerCapMap(n.id, p);
        if (Object.keys(cm).length) pc[name.get(p)!] = cm;
        const pa = compiled.peerAddresses(n.id, p);
        const rec = compiled.node(p)!;
        if (pa.length !== rec.addrs.length) (pn.peerAddresses ??= {})[name.get(p)!] = pa;
        const w = compiled.whois(n.id, p);
        if (Object.keys(w).length) pn.whois[name.get(p)!] = w;
      }
      if (Object.keys(pr).length) pn.peerRoutes = pr;
      if (Object.keys(pc).length) pn.peerCapMaps = pc;
      const sr = compiled.selfRoutes(n.id);
      if (sr.allowedIPs.length || sr.primaryRoutes.length) pn.selfRoutes = sr;
      const own = compiled.selfAddresses(n.id);
      if (own.length !== compiled.node(n.id)!.addrs.length) pn.addresses = own;
      pn.autoApprovedRoutes = compiled.autoApprovedRoutes(n);
      out[n.name] = pn;
    }
    return { nodes: out };
  } catch (e) {
    if (e instanceof PolicyError) return { error: e.message };
    throw e;
  }
}
