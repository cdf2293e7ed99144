// Policy engine benchmark: 10,000 nodes, 50 rules, 20 groups, 50 tags. Measures a full
// compile with every node's filter and peer set, one node joining incrementally, and the
// per-node queries of a first map (peers, routes, capabilities, SSH) on a tailnet with
// subnet routers, exit nodes and SSH rules.
import { CompiledPolicy, parsePolicy, type PolicyNode, type PolicyUser } from '../src/acl/index.js';

export interface PolicyBenchResult {
  nodes: number;
  compileAllMs: number;
  joinUpdateMs: number;
  firstJoinMs: number;
  affected: number;
  filterRules: number;
  peerEntries: number;
  /** First map of one node right after compiling (rule-level sets still cold). */
  firstMapColdMs: number;
  /** Median first map of further nodes (rule-level sets warm, node views cold). */
  firstMapMs: number;
  /** peerRoutes + peerCapMap calls in one first map. */
  firstMapPeerQueries: number;
  /** First SSH policy computation for every node. */
  sshAllMs: number;
}

function build(nodeCount: number): { text: string; users: PolicyUser[]; nodes: PolicyNode[] } {
  const users: PolicyUser[] = Array.from({ length: 200 }, (_, i) => ({ id: i + 1, name: `u${i}`, email: `u${i}@example.com` }));
  const tags = Array.from({ length: 50 }, (_, i) => `tag:t${i}`);
  const groups: Record<string, string[]> = {};
  for (let g = 0; g < 20; g++) groups[`group:g${g}`] = users.filter((_, i) => i % 20 === g).map((u) => u.email);
  const acls = Array.from({ length: 50 }, (_, r) => ({
    action: 'accept',
    src: [r % 5 === 0 ? tags[(r * 7) % 50] : `group:g${r % 20}`],
    dst: [`${tags[r % 50]}:${[22, 80, 443, 5432, 8080][r % 5]}`],
  }));
  const text = JSON.stringify({ groups, tagOwners: Object.fromEntries(tags.map((t) => [t, []])), acls });
  const nodes: PolicyNode[] = [];
  for (let i = 0; i < nodeCount; i++) nodes.push(mkNode(i, tags));
  return { text, users, nodes };
}

function mkNode(i: number, tags: string[]): PolicyNode {
  const tagged = i % 2 === 0;
  return {
    id: i + 1,
    name: `n${i}`,
    userId: tagged ? null : (i % 200) + 1,
    tags: tagged ? [tags[i % 50]] : [],
    ipv4: `100.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`,
    ipv6: `fd7a:115c:a1e0::${i.toString(16)}`,
    routableIPs: [],
    approvedRoutes: [],
  };
}

/**
 * The same tailnet where members reach every node on 443 (so a member's first map lists
 * every node), 1% of the tagged nodes serving /24s (pairs share a prefix, so half
 * are HA secondaries), five exit nodes, rules that use them, and SSH rules.
 */
function buildRouted(nodeCount: number): { text: string; users: PolicyUser[]; nodes: PolicyNode[] } {
  const base = build(nodeCount);
  const pol = JSON.parse(base.text);
  pol.acls.push(
    { action: 'accept', src: ['autogroup:member'], dst: ['*:443'] },
    { action: 'accept', src: ['group:g0', 'group:g1'], dst: ['10.0.0.0/8:*'] },
    { action: 'accept', src: ['autogroup:member'], dst: ['autogroup:internet:*'] },
  );
  pol.ssh = [
    { action: 'accept', src: ['autogroup:member'], dst: ['autogroup:self'], users: ['autogroup:nonroot'] },
    { action: 'check', src: ['group:g1'], dst: ['tag:t1', 'tag:t2'], users: ['root'] },
  ];
  let routers = 0;
  let exits = 0;
  for (const n of base.nodes) {
    if (!n.tags.length) continue;
    if (n.id % 200 === 1) {
      const r = `10.${(routers >> 9) & 255}.${(routers >> 1) & 255}.0/24`;
      n.routableIPs = [r];
      n.approvedRoutes = [r];
      routers++;
    } else if (n.id % 1999 === 0 && exits < 5) {
      n.routableIPs = n.approvedRoutes = ['0.0.0.0/0', '::/0'];
      exits++;
    }
  }
  return { text: JSON.stringify(pol), users: base.users, nodes: base.nodes };
}

/** Everything one node's first map asks the policy for. */
function firstMap(c: CompiledPolicy, id: number): number {
  c.packetFilter(id);
  c.sshPolicy(id);
  c.selfRoutes(id);
  c.capMap(id);
  const peers = c.peers(id);
  for (const p of peers) {
    c.peerRoutes(id, p);
    c.peerCapMap(id, p);
  }
  return peers.length * 2;
}

function benchFirstMap(nodeCount: number): Pick<PolicyBenchResult, 'firstMapColdMs' | 'firstMapMs' | 'firstMapPeerQueries' | 'sshAllMs'> {
  const { text, users, nodes } = buildRouted(nodeCount);
  const policy = parsePolicy(text);
  // A user-owned node in group:g1 (sees routers, exit nodes and the SSH check rule).
  const viewers = nodes.filter((n) => n.userId !== null && (n.userId - 1) % 20 === 1).map((n) => n.id);
  const c = new CompiledPolicy(policy, { users, nodes });
  let t = performance.now();
  const firstMapPeerQueries = firstMap(c, viewers[0]);
  const firstMapColdMs = performance.now() - t;
  const times: number[] = [];
  for (const v of viewers.slice(1, 8)) {
    t = performance.now();
    firstMap(c, v);
    times.push(performance.now() - t);
  }
  const firstMapMs = times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
  const fresh = new CompiledPolicy(policy, { users, nodes });
  t = performance.now();
  for (const n of nodes) fresh.sshPolicy(n.id);
  const sshAllMs = performance.now() - t;
  return { firstMapColdMs, firstMapMs, firstMapPeerQueries, sshAllMs };
}

export async function benchPolicy(nodeCount = 10_000): Promise<PolicyBenchResult> {
  const { text, users, nodes } = build(nodeCount);
  const t0 = performance.now();
  const compiled = new CompiledPolicy(parsePolicy(text), { users, nodes });
  let filterRules = 0;
  let peerEntries = 0;
  for (const n of nodes) {
    filterRules += compiled.packetFilter(n.id).length;
    peerEntries += compiled.peers(n.id).length;
  }
  const compileAllMs = performance.now() - t0;

  const tags = Array.from({ length: 50 }, (_, i) => `tag:t${i}`);
  // Several joins (tagged and user-owned); report the median so one JIT warm-up does not
  // dominate, plus the first join on its own.
  const times: number[] = [];
  let affectedCount = 0;
  for (let k = 0; k < 7; k++) {
    const joiner = mkNode(nodeCount + k * 51, tags);
    const t1 = performance.now();
    const { affected } = compiled.applyNodeChange(joiner);
    for (const id of affected) {
      compiled.packetFilter(id);
      compiled.peers(id);
    }
    times.push(performance.now() - t1);
    if (k === 0) affectedCount = affected.size;
  }
  const firstJoinMs = times[0];
  const joinUpdateMs = [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)];
  return {
    nodes: nodeCount, compileAllMs, joinUpdateMs, firstJoinMs, affected: affectedCount, filterRules, peerEntries,
    ...benchFirstMap(nodeCount),
  };
}

if (process.argv[1] && process.argv[1].endsWith('bench/policy.js')) {
  benchPolicy().then((r) => console.log(JSON.stringify(r, null, 2)));
}
