// Evaluation of the policy's "tests" and "sshTests" sections against the compiled result.
// Like the control plane, any failing or malformed entry refuses the whole policy with one
// message that does not say which entry failed.
import type { CompiledPolicy } from './compiled.js';
import { fail } from './errors.js';
import { contains, parsePrefix, type Range } from './ipset.js';
import type { PolicyTest, SshTest } from './parse.js';
import { parseProto, DEFAULT_PROTOS } from './ports.js';
import { classifyAlias } from './alias.js';
import { select } from './resolve.js';
import type { NodeRec } from './tailnet.js';
import { nodeAddrText, sourceMatches } from './srcips.js';

const FAILED = 'test(s) failed';

class TestFailure extends Error {}

function bad(): never {
  throw new TestFailure();
}

/** What a test endpoint stands for: a node, or a bare address no node owns. */
interface Endpoint {
  addrs: Range[];
  node?: NodeRec;
}

/**
 * Endpoints an alias names. A single address stands for the node that owns it, else for
 * itself (a subnet host, say). Unknown names, ranges and unsupported autogroups: failure.
 */
function endpointsFor(c: CompiledPolicy, alias: string): Endpoint[] {
  const p = c.policy!;
  const a = classifyAlias(alias, p.hosts);
  if (a.kind === 'host' || a.kind === 'prefix') {
    // Only single addresses can be tested.
    if (a.range.lo !== a.range.hi) bad();
    const owner = [...c.idx.nodes.values()].filter((n) => n.addrs.some((r) => contains(r, a.range)));
    return owner.length ? owner.map((n) => ({ addrs: n.addrs, node: n })) : [{ addrs: [a.range] }];
  }
  return nodesFor(c, alias).map((n) => ({ addrs: n.addrs, node: n }));
}

/** Nodes an alias names (identity aliases, or addresses a node owns). Unknown: failure. */
function nodesFor(c: CompiledPolicy, alias: string): NodeRec[] {
  const p = c.policy!;
  const a = classifyAlias(alias, p.hosts);
  if (a.kind === 'invalid') bad();
  if (a.kind === 'tag' && !(a.name in p.tagOwners)) bad();
  if (a.kind === 'group' && !(a.name in p.groups)) bad();
  if (a.kind === 'user' && c.idx.userByLogin(a.login) === undefined) bad();
  if (a.kind === 'autogroup' && !['member', 'tagged'].includes(a.name)) bad();
  if (a.kind === 'host' || a.kind === 'prefix') {
    if (a.range.lo !== a.range.hi) bad();
    const owner = [...c.idx.nodes.values()].filter((n) => n.addrs.some((r) => contains(r, a.range)));
    if (!owner.length) bad();
    return owner;
  }
  const sel = select(p, c.idx, [alias]);
  // "*" stands for every device of the tailnet.
  return [...c.idx.nodes.values()].filter((n) => sel.all || sel.nodes.has(n.node.id));
}

/** Rules that can let traffic reach the endpoint: its node's filter, or every node's. */
function rulesFor(c: CompiledPolicy, dst: Endpoint) {
  if (dst.node) return c.packetFilter(dst.node.node.id);
  return [...c.idx.nodes.keys()].flatMap((id) => c.packetFilter(id));
}

function allowed(c: CompiledPolicy, src: Endpoint, dst: Endpoint, port: number, proto: number): boolean {
  for (const rule of rulesFor(c, dst)) {
    if (!rule.DstPorts) continue;
    const protos = rule.IPProto ?? DEFAULT_PROTOS;
    if (!protos.includes(proto)) continue;
    if (!src.addrs.some((a) => sourceMatches(rule.SrcIPs, a))) continue;
    for (const d of rule.DstPorts) {
      if (port < d.Ports.First || port > d.Ports.Last) continue;
      if (d.IP === '*') return true;
      const r = parsePrefix(d.IP);
      if (r && dst.addrs.some((a) => contains(r, a))) return true;
    }
  }
  return false;
}

function evalTest(c: CompiledPolicy, t: PolicyTest): void {
  if (t.malformed) bad();
  if (!t.accept.length && !t.deny.length) bad();
  let proto = 6;
  if (t.proto) {
    let ps: number[];
    try {
      ps = parseProto(t.proto);
    } catch {
      bad();
    }
    // Only port-carrying protocols can be tested.
    if (![6, 17, 132].includes(ps[0])) bad();
    proto = ps[0];
  }
  const srcs = endpointsFor(c, t.src);
  if (!srcs.length) bad();
  const check = (dstSpec: string, want: boolean) => {
    const i = dstSpec.lastIndexOf(':');
    if (i < 0) bad();
    const portS = dstSpec.slice(i + 1);
    if (!/^\d+$/.test(portS)) bad();
    const port = Number(portS);
    if (port < 0 || port > 65535) bad();
    // A test names one host: CIDR syntax is refused even for a single address.
    if (dstSpec.slice(0, i).includes('/')) bad();
    const dsts = endpointsFor(c, dstSpec.slice(0, i));
    if (!dsts.length) bad();
    for (const s of srcs) for (const d of dsts) if (allowed(c, s, d, port, proto) !== want) bad();
  };
  for (const a of t.accept) check(a, true);
  for (const d of t.deny) check(d, false);
}

/**
 * autogroup:self as an sshTests destination: the source user's own (untagged) devices.
 * A source that is not a single user has no "self", so nothing is tested: a failure.
 */
function ownNodes(c: CompiledPolicy, src: string): NodeRec[] {
  const a = classifyAlias(src, c.policy!.hosts);
  const uid = a.kind === 'user' ? c.idx.userByLogin(a.login) : undefined;
  if (uid === undefined) bad();
  const own = [...c.idx.nodes.values()].filter((n) => !n.tagged && n.node.userId === uid);
  if (!own.length) bad();
  return own;
}

function sshAllows(c: CompiledPolicy, src: NodeRec, dst: NodeRec, user: string, wantCheck: boolean | null): boolean {
  const pol = c.sshPolicy(dst.node.id);
  const srcIPs = src.addrs.map(nodeAddrText);
  for (const r of pol?.rules ?? []) {
    if (!r.principals.some((p) => p.any || (p.nodeIP && srcIPs.includes(p.nodeIP)))) continue;
    const mapped = user in r.sshUsers ? r.sshUsers[user] : r.sshUsers['*'] === '=' ? user : '';
    if (!mapped) continue;
    const isCheck = !!r.action.holdAndDelegate;
    if (wantCheck === null || wantCheck === isCheck) return true;
  }
  return false;
}

function evalSshTest(c: CompiledPolicy, t: SshTest): void {
  if (t.malformed) bad();
  if (!t.accept.length && !t.check.length && !t.deny.length) bad();
  const srcs = nodesFor(c, t.src);
  if (!srcs.length || !t.dst.length) bad();
  // An IPv6 literal is not a valid sshTests destination (IPv4 literals are).
  if (t.dst.some((d) => { const a = classifyAlias(d, c.policy!.hosts); return a.kind === 'prefix' && a.range.v6; })) bad();
  const dsts = t.dst.flatMap((d) => (d === 'autogroup:self' ? ownNodes(c, t.src) : nodesFor(c, d)));
  if (!dsts.length) bad();
  for (const u of [...t.accept, ...t.check, ...t.deny]) if (u.trim() === '') bad();
  for (const s of srcs) {
    for (const d of dsts) {
      for (const u of t.accept) if (!sshAllows(c, s, d, u, null)) bad();
      for (const u of t.check) if (!sshAllows(c, s, d, u, true)) bad();
      for (const u of t.deny) if (sshAllows(c, s, d, u, null)) bad();
    }
  }
}

export function evaluateTests(c: CompiledPolicy): void {
  if (!c.policy) return;
  try {
    for (const t of c.policy.tests) evalTest(c, t);
    for (const t of c.policy.sshTests) evalSshTest(c, t);
  } catch (e) {
    if (e instanceof TestFailure) fail(FAILED);
    throw e;
  }
}
