// Policy engine benchmark: 10,000 nodes, 50 rules, 20 groups, 50 tags. Measures a full
// compile with every node's filter and peer set, and one node joining incrementally.
import { CompiledPolicy, parsePolicy, type PolicyNode, type PolicyUser } from '../src/acl/index.js';

export interface PolicyBenchResult {
  nodes: number;
  compileAllMs: number;
  joinUpdateMs: number;
  firstJoinMs: number;
  affected: number;
  filterRules: number;
  peerEntries: number;
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
  return { nodes: nodeCount, compileAllMs, joinUpdateMs, firstJoinMs, affected: affectedCount, filterRules, peerEntries };
}

if (process.argv[1] && process.argv[1].endsWith('bench/policy.js')) {
  benchPolicy().then((r) => console.log(JSON.stringify(r, null, 2)));
}
