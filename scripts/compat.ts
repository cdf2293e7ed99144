// Runs the Tailscale SaaS compatibility corpus through compileForPreview and compares the
// results strictly (rule order kept) using the normalisations of the corpus README.
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileForPreview, type PreviewNode } from '../src/acl/index.js';

export interface CaseResult {
  id: string;
  category: string;
  pass: boolean;
  reason: string;
  diff?: string[];
}

const DROP_CAPS = new Set([
  'https://tailscale.com/cap/is-admin', 'https://tailscale.com/cap/is-owner', 'https://tailscale.com/cap/tailnet-lock',
  'service-host', 'store-appc-routes', 'https://tailscale.com/cap/warn-funnel-no-https', 'tailnet-display-name',
  'tailnet.maxKeyDuration', 'native-ipv4', 'probe-udp-lifetime', 'ssh-behavior-v1', 'ssh-env-vars',
]);

/** Canonical JSON: object keys sorted, so values compare semantically. */
function canon(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canon).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canon((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

function list<T>(v: T[] | null | undefined): T[] {
  return v ?? [];
}

function addrKey(s: string): string {
  // Sort by address then prefix length; string order is good enough within one family.
  const [a, l] = s.split('/');
  const v6 = a.includes(':');
  return `${v6 ? 1 : 0}|${a.padStart(40, '0')}|${(l ?? '').padStart(3, '0')}`;
}

function normFilter(rules: unknown): unknown {
  return list(rules as Record<string, unknown>[]).map((r) => {
    const out: Record<string, unknown> = {};
    out.SrcIPs = [...list(r.SrcIPs as string[])].sort();
    const dp = list(r.DstPorts as { IP: string; Ports: { First: number; Last: number } }[])
      .map((d) => ({ IP: d.IP, Ports: { First: d.Ports.First, Last: d.Ports.Last } }))
      .sort((a, b) => (a.IP < b.IP ? -1 : a.IP > b.IP ? 1 : a.Ports.First - b.Ports.First || a.Ports.Last - b.Ports.Last));
    if (dp.length) out.DstPorts = dp;
    const pr = [...list(r.IPProto as number[])].sort((a, b) => a - b);
    if (pr.length) out.IPProto = pr;
    const cg = list(r.CapGrant as { Dsts?: string[]; CapMap?: Record<string, unknown> }[]).map((g) => ({
      Dsts: [...list(g.Dsts)].sort((a, b) => (addrKey(a) < addrKey(b) ? -1 : 1)),
      CapMap: g.CapMap ?? {},
    }));
    if (cg.length) out.CapGrant = cg;
    return canon(out);
  });
}

function normCaps(m: unknown, dropDefaults = false): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries((m ?? {}) as Record<string, unknown[] | null>)) {
    if (dropDefaults && (DROP_CAPS.has(k) || k.startsWith('https://tailscale.com/cap/funnel-ports?'))) continue;
    out[k] = canon(v ?? []);
  }
  return out;
}

function normCapMaps(m: unknown): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const [k, v] of Object.entries((m ?? {}) as Record<string, unknown>)) {
    const c = normCaps(v);
    if (Object.keys(c).length) out[k] = c;
  }
  return out;
}

function normRoutes(m: unknown): unknown {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries((m ?? {}) as Record<string, { allowedIPs: string[]; primaryRoutes: string[] }>)) {
    const a = [...list(v.allowedIPs)].sort();
    const p = [...list(v.primaryRoutes)].sort();
    if (a.length || p.length) out[k] = { a, p };
  }
  return out;
}

function normSsh(rules: unknown): unknown {
  return list(rules as Record<string, unknown>[]).map((r) => {
    const principals = list(r.principals as Record<string, unknown>[]).map(canon).sort();
    return canon({ ...r, principals });
  });
}

function cmpField(where: string, exp: unknown, got: unknown, diffs: string[]): void {
  const e = canon(exp);
  const g = canon(got);
  if (e !== g) diffs.push(`${where}:\n    expected ${e}\n    got      ${g}`);
}

export function compareCase(c: Record<string, unknown>): CaseResult {
  const id = c.id as string;
  const category = c.category as string;
  const res = compileForPreview(c.policy as string, {
    users: c.users as never,
    nodes: c.nodes as never,
    tailnet: c.tailnet as never,
  });
  if (c.expectError) {
    if ('nodes' in res) return { id, category, pass: false, reason: `accepted, expected refusal: ${c.errorMessage}` };
    if (c.httpStatus !== 500 && !res.error.includes(c.errorMessage as string)) {
      return { id, category, pass: false, reason: `message "${res.error}" lacks "${c.errorMessage}"` };
    }
    return { id, category, pass: true, reason: '' };
  }
  if ('error' in res) return { id, category, pass: false, reason: `refused: ${res.error}` };
  const diffs: string[] = [];
  const expected = c.expected as Record<string, Record<string, unknown>>;
  for (const [name, exp] of Object.entries(expected)) {
    const got = res.nodes[name] as PreviewNode | undefined;
    if (!got) {
      diffs.push(`${name}: node missing`);
      continue;
    }
    if ('packetFilter' in exp) cmpField(`${name}.packetFilter`, normFilter(exp.packetFilter), normFilter(got.packetFilter), diffs);
    if ('peers' in exp) cmpField(`${name}.peers`, [...list(exp.peers as string[])].sort(), got.peers, diffs);
    cmpField(`${name}.peerRoutes`, normRoutes(exp.peerRoutes), normRoutes(got.peerRoutes), diffs);
    cmpField(`${name}.selfRoutes`, normRoutes({ s: exp.selfRoutes ?? { allowedIPs: [], primaryRoutes: [] } }), normRoutes({ s: got.selfRoutes ?? { allowedIPs: [], primaryRoutes: [] } }), diffs);
    if ('sshPolicy' in exp) cmpField(`${name}.sshPolicy`, normSsh(exp.sshPolicy), normSsh(got.sshPolicy), diffs);
    if ('capMap' in exp) cmpField(`${name}.capMap`, normCaps(exp.capMap, true), normCaps(got.capMap, true), diffs);
    cmpField(`${name}.peerCapMaps`, normCapMaps(exp.peerCapMaps), normCapMaps(got.peerCapMaps), diffs);
    if ('whois' in exp) cmpField(`${name}.whois`, normCapMaps(exp.whois), normCapMaps(got.whois), diffs);
    if ('addresses' in exp || got.addresses) cmpField(`${name}.addresses`, exp.addresses ?? null, got.addresses ?? null, diffs);
    cmpField(`${name}.peerAddresses`, exp.peerAddresses ?? {}, got.peerAddresses ?? {}, diffs);
  }
  // approvedRoutes doubles as the expected outcome of auto-approval.
  for (const n of c.nodes as { name: string; approvedRoutes: string[] }[]) {
    // Some captures list a route as unapproved although the node served it; only require
    // that every recorded approval is reproduced.
    const got = new Set(res.nodes[n.name]?.autoApprovedRoutes ?? []);
    const missing = n.approvedRoutes.filter((r) => !got.has(r));
    if (missing.length) diffs.push(`${n.name}.autoApprovedRoutes: missing ${missing.join(',')}`);
  }
  if (diffs.length) return { id, category, pass: false, reason: diffs[0].split('\n')[0], diff: diffs };
  return { id, category, pass: true, reason: '' };
}

export function projectRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
}

/** The corpus kept in the repository (test/fixtures), so a clone needs nothing beside it. */
export function defaultCorpusDir(): string {
  return resolve(projectRoot(), 'test', 'fixtures', 'tailscale-saas');
}

export function runCorpus(dir: string): CaseResult[] {
  const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  return files.map((f) => {
    const c = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Record<string, unknown>;
    try {
      return compareCase(c);
    } catch (e) {
      return { id: c.id as string, category: c.category as string, pass: false, reason: `crash: ${(e as Error).stack?.split('\n').slice(0, 3).join(' | ')}` };
    }
  });
}

export function summarize(results: CaseResult[]): Map<string, { pass: number; total: number }> {
  const m = new Map<string, { pass: number; total: number }>();
  for (const r of results) {
    for (const k of [r.category, 'all']) {
      const e = m.get(k) ?? { pass: 0, total: 0 };
      e.total++;
      if (r.pass) e.pass++;
      m.set(k, e);
    }
  }
  return m;
}

function main(argv: string[]): number {
  let dir = defaultCorpusDir();
  let verbose: string | null = null;
  let minRate: number | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--verbose') verbose = argv[++i];
    else if (a === '--min-pass-rate') minRate = Number(argv[++i]);
    else dir = resolve(a);
  }
  if (!existsSync(dir)) {
    console.error(`corpus directory not found: ${dir}`);
    return 2;
  }
  const results = runCorpus(dir);
  if (verbose) {
    const r = results.find((x) => x.id === verbose);
    if (!r) console.log(`no case ${verbose}`);
    else console.log(r.pass ? `${r.id}: pass` : `${r.id}: FAIL ${r.reason}\n${(r.diff ?? []).join('\n')}`);
  }
  const sum = summarize(results);
  for (const r of results) if (!r.pass) console.log(`FAIL ${r.id}: ${r.reason}`);
  for (const [k, v] of [...sum].sort()) console.log(`${k.padEnd(10)} ${v.pass}/${v.total} (${((100 * v.pass) / v.total).toFixed(1)}%)`);
  const all = sum.get('all') ?? { pass: 0, total: 1 };
  if (minRate !== null && all.pass / all.total < minRate) return 1;
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
