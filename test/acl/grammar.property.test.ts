// Property tests over random policies drawn from the documented grammar (every section,
// valid and invalid words in every position): the engine either refuses with faults that
// point at real entries of the document, or compiles; and a compiled policy never grants
// more after one of its rules is removed.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CompiledPolicy, locate, parsePolicy, PolicyError, type PolicyNode, type PolicyPath } from '../../src/acl/index.js';
import { USERS, node } from './helpers.js';

const TAGS = ['tag:web', 'tag:db', 'tag:exit'];
// Words each position accepts, per docs/policy-rules.md.
const SRC = ['*', 'odin@example.com', 'thor@example.org', 'user:*@example.com', 'group:eng', ...TAGS, 'autogroup:member',
  'autogroup:tagged', 'office', '100.64.0.1', '10.1.0.0/16', 'fd7a:115c:a1e0::1'];
const DST = [...SRC, 'autogroup:internet'];
const SSH_SRC = ['odin@example.com', 'group:eng', 'autogroup:member'];
const SSH_DST = [...TAGS, 'autogroup:tagged', 'autogroup:self'];
const PORTS = ['*', '22', '80,443', '8000-8100'];
const IPS = ['*', '22', 'tcp:443', 'udp:53', 'icmp:*'];
// Words some position refuses, and the positions to plant them in.
const BAD = ['group:none', 'tag:undefined', 'autogroup:bogus', 'autogroup:danger-all', 'autogroup:self', 'autogroup:internet',
  'autogroup:nonroot', '*', 'nas', 'not an alias', '0.0.0.0/0', '100.64.0.1', 'tag:9x'];
const BAD_PORTS = ['0', '70000', 'ssh', '90-80', '1--2'];
const BAD_IPS = ['tcp:1:2', 'bogus:80', 'icmp', '*:22'];
const SLOTS = ['acls.src', 'acls.dst', 'acls.port', 'acls.proto', 'acls.action', 'grants.src', 'grants.dst', 'grants.ip', 'grants.via',
  'ssh.src', 'ssh.dst', 'ssh.users', 'ssh.checkPeriod', 'nodeAttrs.target', 'tagOwners', 'autoApprovers', 'groups', 'hosts'] as const;

const pick = (xs: string[]) => fc.array(fc.constantFrom(...xs), { minLength: 1, maxLength: 3 });

const aclArb = fc.record({ src: pick(SRC), dst: pick(DST), port: fc.constantFrom(...PORTS), proto: fc.constantFrom('', 'tcp', 'udp', '6') });
const grantArb = fc.record({
  src: pick(SRC), dst: pick(DST.filter((d) => d !== 'autogroup:internet')), ip: fc.subarray(IPS, { minLength: 1, maxLength: 2 }),
  app: fc.boolean(), via: fc.boolean(),
});
const sshArb = fc.record({ check: fc.boolean(), src: pick(SSH_SRC), dst: pick(SSH_DST), users: fc.subarray(['root', 'autogroup:nonroot', 'ubuntu'], { minLength: 1 }) });

interface Mutation { slot: (typeof SLOTS)[number]; word: string; port: string; ip: string; n: number }
const mutationArb = fc.option(fc.record({
  slot: fc.constantFrom(...SLOTS), word: fc.constantFrom(...BAD), port: fc.constantFrom(...BAD_PORTS), ip: fc.constantFrom(...BAD_IPS), n: fc.nat(),
}), { freq: 2, nil: undefined });

const policyArb = fc.record({
  acls: fc.array(aclArb, { maxLength: 3 }),
  grants: fc.array(grantArb, { maxLength: 2 }),
  ssh: fc.array(sshArb, { maxLength: 2 }),
  targets: fc.array(pick(SRC), { maxLength: 2 }),
  mutation: mutationArb,
}).map(({ acls, grants, ssh, targets, mutation }) => build(acls, grants, ssh, targets, mutation));

type Doc = Record<string, unknown>;

function build(
  acls: { src: string[]; dst: string[]; port: string; proto: string }[],
  grants: { src: string[]; dst: string[]; ip: string[]; app: boolean; via: boolean }[],
  ssh: { check: boolean; src: string[]; dst: string[]; users: string[] }[],
  targets: string[][],
  m: Mutation | undefined,
): Doc {
  const doc: Doc = {
    groups: { 'group:eng': ['thor@example.org', 'freya@example.com'] },
    hosts: { office: '10.1.0.0/16' },
    tagOwners: Object.fromEntries(TAGS.map((t) => [t, ['odin@example.com', 'group:eng']])),
    acls: acls.map((r) => ({ action: 'accept', src: r.src, dst: r.dst.map((d) => `${d}:${r.port}`), ...(r.proto ? { proto: r.proto } : {}) })),
    grants: grants.map((g) => ({
      src: g.src, dst: g.dst, ip: g.ip,
      ...(g.app ? { app: { 'example.com/cap/x': [{ v: 1 }] } } : {}), ...(g.via ? { via: ['tag:exit'] } : {}),
    })),
    ssh: ssh.map((r) => ({ action: r.check ? 'check' : 'accept', src: r.src, dst: r.dst, users: r.users, ...(r.check ? { checkPeriod: '12h' } : {}) })),
    nodeAttrs: targets.map((t) => ({ target: t, attr: ['randomize-client-port'] })),
    autoApprovers: { routes: { '10.1.0.0/16': ['tag:web'] }, exitNode: ['tag:exit'] },
  };
  if (!m) return doc;
  const [section, field] = m.slot.split('.');
  const list = doc[section] as Doc[] | Doc;
  if (Array.isArray(list)) {
    if (!list.length) return doc;
    const e = list[m.n % list.length];
    if (field === 'port') e.dst = (e.dst as string[]).map((d) => d.replace(/:[^:]*$/, `:${m.port}`));
    else if (field === 'proto') e.proto = m.word === '*' ? '*' : '06';
    else if (field === 'action') e.action = section === 'ssh' ? 'Accept' : 'deny';
    else if (field === 'ip') e.ip = [m.ip];
    else if (field === 'via') e.via = [m.word.startsWith('tag:') ? m.word : 'group:eng'];
    else if (field === 'users') e.users = [m.n % 2 ? '*' : ''];
    else if (field === 'checkPeriod') e.checkPeriod = m.n % 2 ? '200h' : 'later';
    else if (field === 'dst' && section === 'acls') e.dst = [`${m.word}:22`];
    else (e[field] as string[]).push(m.word);
  } else if (section === 'tagOwners') (list as Doc)['tag:web'] = [m.word];
  else if (section === 'autoApprovers') (list as Doc).exitNode = [m.word];
  else if (section === 'groups') (list as Doc)['group:eng'] = [m.word];
  else if (section === 'hosts') (list as Doc).nas = m.word;
  return doc;
}

/** The value at path in the parsed document, matching keys case-insensitively. */
function at(doc: unknown, path: PolicyPath): unknown {
  let cur: unknown = doc;
  for (const k of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    if (Array.isArray(cur)) cur = typeof k === 'number' ? cur[k] : undefined;
    else {
      const key = Object.keys(cur).find((x) => x.toLowerCase() === String(k).toLowerCase());
      cur = key === undefined ? undefined : (cur as Record<string, unknown>)[key];
    }
  }
  return cur;
}

test('a random policy is either refused with faults naming real entries, or compiles', () => {
  const seen = { refused: 0, compiled: 0 };
  fc.assert(fc.property(policyArb, (doc) => {
    const text = JSON.stringify(doc, null, 2);
    let p;
    try {
      p = parsePolicy(text);
    } catch (e) {
      assert.ok(e instanceof PolicyError, `not a PolicyError: ${String(e)}`);
      assert.ok(e.issues.length > 0);
      for (const i of e.issues) {
        assert.ok(i.message.length > 0);
        assert.ok(i.path.length > 0, `fault without a place: ${i.message}`);
        const v = at(doc, i.path);
        assert.notEqual(v, undefined, `path ${JSON.stringify(i.path)} of "${i.message}" is not in the document`);
        // A fault on a single word quotes that word (or reports its parts, for a dst).
        if (typeof v === 'string' && v !== '' && i.path.length > 2) {
          const head = v.includes(':') ? v.slice(0, v.lastIndexOf(':')) : v;
          assert.ok(i.message.includes(v) || i.message.includes(head) || /port|proto|user|tag:/.test(i.message),
            `"${i.message}" does not name ${JSON.stringify(v)}`);
        }
        assert.ok(locate(text, i.path), 'fault cannot be placed in the text');
      }
      seen.refused++;
      return;
    }
    seen.compiled++;
    // Accepted: it compiles against a tailnet without throwing.
    const nodes = [node(1), node(2, { userId: 2 }), node(3, { tags: ['tag:web'] }), node(4, { tags: ['tag:exit'], routableIPs: ['0.0.0.0/0', '::/0'] })];
    const c = new CompiledPolicy(p, { users: USERS, nodes });
    for (const n of nodes) {
      c.packetFilter(n.id);
      c.peers(n.id);
      c.sshPolicy(n.id);
    }
  }), { numRuns: 400 });
  // The generator must reach both outcomes, or the property says nothing.
  assert.ok(seen.refused > 20 && seen.compiled > 20, JSON.stringify(seen));
});

// Monotonicity over valid policies: the same grammar restricted to what Tailscale accepts.
const GOOD = ['*', 'odin@example.com', 'thor@example.org', 'group:eng', ...TAGS, 'autogroup:member', 'autogroup:tagged', '100.64.0.2', '10.1.0.0/16'];
const good = fc.array(fc.constantFrom(...GOOD), { minLength: 1, maxLength: 2 });
const goodRule = fc.oneof(
  fc.record({ kind: fc.constant('acl' as const), src: good, dst: good, port: fc.constantFrom('*', '22', '80,443') }),
  fc.record({ kind: fc.constant('grant' as const), src: good, dst: good, port: fc.constantFrom('*', 'tcp:22', '443') }),
  fc.record({ kind: fc.constant('app' as const), src: good, dst: fc.array(fc.constantFrom(...TAGS, 'odin@example.com'), { minLength: 1, maxLength: 2 }), port: fc.constant('') }),
  fc.record({
    kind: fc.constant('ssh' as const),
    src: fc.array(fc.constantFrom('odin@example.com', 'thor@example.org', 'group:eng', 'autogroup:member'), { minLength: 1, maxLength: 2 }),
    dst: fc.array(fc.constantFrom(...TAGS, 'autogroup:tagged', 'autogroup:self'), { minLength: 1, maxLength: 2 }),
    port: fc.constantFrom('root', 'autogroup:nonroot', 'deploy', 'check'),
  }),
);
type GoodRule = { kind: 'acl' | 'grant' | 'app' | 'ssh'; src: string[]; dst: string[]; port: string };

function goodPolicy(rules: GoodRule[]): string {
  return JSON.stringify({
    groups: { 'group:eng': ['thor@example.org', 'freya@example.com'] },
    tagOwners: Object.fromEntries(TAGS.map((t) => [t, ['odin@example.com']])),
    acls: rules.filter((r) => r.kind === 'acl').map((r) => ({ action: 'accept', src: r.src, dst: r.dst.map((d) => `${d}:${r.port}`) })),
    ssh: rules.filter((r) => r.kind === 'ssh').map((r) => ({
      action: r.port === 'check' ? 'check' : 'accept', src: r.src, dst: r.dst, users: [r.port === 'check' ? 'root' : r.port],
    })),
    grants: rules.filter((r) => r.kind === 'grant' || r.kind === 'app').map((r) => (r.kind === 'app'
      ? { src: r.src, dst: r.dst, app: { 'example.com/cap/x': [{ rule: r.src.join(',') }] } }
      : { src: r.src, dst: r.dst, ip: [r.port] })),
  });
}

const tailnetArb = fc.array(
  fc.record({ tag: fc.option(fc.constantFrom(...TAGS), { nil: undefined }), user: fc.constantFrom(1, 2, 3), route: fc.boolean() }),
  { minLength: 1, maxLength: 6 },
).map((xs) => xs.map(({ tag, user, route }, i): PolicyNode => {
  const routes = route ? ['10.1.0.0/16'] : [];
  return node(i + 1, { ...(tag ? { tags: [tag] } : { userId: user }), routableIPs: routes, approvedRoutes: routes });
}));

test('removing any rule (ACL, grant, app grant, SSH) never widens what a node gets', () => {
  fc.assert(fc.property(tailnetArb, fc.array(goodRule, { minLength: 1, maxLength: 5 }), fc.nat(), (nodes, rules, k) => {
    const full = new CompiledPolicy(parsePolicy(goodPolicy(rules)), { users: USERS, nodes });
    const fewer = new CompiledPolicy(parsePolicy(goodPolicy(rules.filter((_, i) => i !== k % rules.length))), { users: USERS, nodes });
    for (const n of nodes) {
      const peers = new Set(full.peers(n.id));
      for (const p of fewer.peers(n.id)) assert.ok(peers.has(p), `peer ${p} of ${n.id} appeared`);
      // Each (source, destination, port) triple the smaller policy delivers, the full one does too.
      const triples = (c: CompiledPolicy) => new Set(c.packetFilter(n.id).flatMap((r) =>
        r.SrcIPs.flatMap((s) => (r.DstPorts ?? []).map((d) => `${s}>${d.IP}:${d.Ports.First}-${d.Ports.Last}/${(r.IPProto ?? []).join(',')}`))));
      const wide = triples(full);
      for (const t of triples(fewer)) assert.ok(wide.has(t), `filter entry ${t} on ${n.id} appeared`);
      // SSH: every (principal, login, local user, action) the smaller policy allows, the full one does.
      const sshGrants = (c: CompiledPolicy) => new Set((c.sshPolicy(n.id)?.rules ?? []).flatMap((r) =>
        r.principals.flatMap((pr) => Object.entries(r.sshUsers).filter(([, v]) => v !== '')
          .map(([k, v]) => `${pr.nodeIP ?? '*'}|${k}=${v}|${r.action.holdAndDelegate ? 'check' : 'accept'}`))));
      const sshWide = sshGrants(full);
      for (const g of sshGrants(fewer)) assert.ok(sshWide.has(g), `ssh ${g} on ${n.id} appeared`);
      for (const p of nodes) {
        const w = full.whois(n.id, p.id);
        for (const [cap, vals] of Object.entries(fewer.whois(n.id, p.id))) {
          assert.ok(cap in w, `capability ${cap} of ${p.id} at ${n.id} appeared`);
          for (const v of vals ?? []) assert.ok((w[cap] ?? []).some((x) => JSON.stringify(x) === JSON.stringify(v)));
        }
      }
    }
  }), { numRuns: 200 });
});
