// The rule index (a node's views from the rules it takes part in) and the peer sets shared
// between alike nodes give exactly what computing each node alone from every rule gives,
// on random tailnets and policies, fresh and after incremental node changes.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CompiledPolicy, parsePolicy, type PolicyNode } from '../../src/acl/index.js';
import { USERS, node } from './helpers.js';

const TAGS = ['tag:a', 'tag:b', 'tag:r'];
const ROUTES = [[], ['10.1.0.0/16'], ['10.2.0.0/16'], ['0.0.0.0/0', '::/0']];
const SRC = ['tag:a', 'tag:r', 'odin@example.com', 'thor@example.org', 'group:g', 'autogroup:member', 'autogroup:tagged', '*', '100.64.0.0/30'];
const DST = ['tag:a', 'tag:b', 'autogroup:self', 'autogroup:member', 'freya@example.com', '10.1.0.0/16', 'autogroup:internet', '*', '100.64.0.2'];
const SELF_SRC = ['autogroup:member', 'odin@example.com', 'group:g'];

const nodeArb = (id: number) =>
  fc.record({ tag: fc.option(fc.constantFrom(...TAGS), { nil: undefined }), user: fc.constantFrom(1, 2, 3), routes: fc.constantFrom(...ROUTES) })
    .map(({ tag, user, routes }) => node(id, { ...(tag ? { tags: [tag] } : { userId: user }), routableIPs: routes, approvedRoutes: routes }));

const tailnetArb = fc.integer({ min: 1, max: 10 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => nodeArb(i + 1))));

const ruleArb = fc.record({
  src: fc.subarray(SRC, { minLength: 1, maxLength: 2 }),
  dst: fc.subarray(DST, { minLength: 1, maxLength: 2 }),
  ports: fc.constantFrom('*', '22', '80,443'),
  proto: fc.constantFrom(undefined, 'tcp', 'udp'),
});

const policyArb = fc.record({
  acls: fc.array(ruleArb, { maxLength: 5 }),
  apps: fc.array(fc.record({ src: fc.subarray(SELF_SRC, { minLength: 1, maxLength: 2 }), dst: fc.constantFrom(['autogroup:self'], ['tag:a'], ['*']), drive: fc.boolean() }), { maxLength: 2 }),
  ssh: fc.boolean(),
});

type Pol = typeof policyArb extends fc.Arbitrary<infer T> ? T : never;

function text(pol: Pol): string {
  return JSON.stringify({
    groups: { 'group:g': ['odin@example.com', 'freya@example.com'] },
    tagOwners: Object.fromEntries(TAGS.map((t) => [t, []])),
    acls: pol.acls.map((a) => {
      // autogroup:self only takes user sources.
      const dst = a.src.every((s) => SELF_SRC.includes(s)) ? a.dst : a.dst.filter((d) => d !== 'autogroup:self');
      return { action: 'accept', src: a.src, dst: (dst.length ? dst : ['*']).map((d) => `${d}:${a.ports}`), ...(a.proto ? { proto: a.proto } : {}) };
    }),
    grants: pol.apps.map((g) => ({
      src: g.src,
      dst: g.dst,
      app: { [g.drive ? 'tailscale.com/cap/drive' : 'example.com/cap/x']: [{ shares: ['*'] }] },
    })),
    ssh: pol.ssh ? [{ action: 'accept', src: ['autogroup:member'], dst: ['autogroup:self'], users: ['root'] }] : [],
  });
}

function views(c: CompiledPolicy, nodes: PolicyNode[]): unknown[] {
  return nodes.map((n) => ({ id: n.id, filter: c.packetFilter(n.id), peers: c.peers(n.id), ssh: c.sshPolicy(n.id) }));
}

test('rule index and shared peer sets equal the per-node reference, fresh and after changes', () => {
  const changeArb = fc.record({ kind: fc.constantFrom('add', 'remove', 'retag', 'reroute'), n: nodeArb(100), which: fc.nat() });
  fc.assert(fc.property(tailnetArb, policyArb, fc.array(changeArb, { maxLength: 5 }), (nodes, pol, changes) => {
    const policy = parsePolicy(text(pol));
    const ref = (ns: PolicyNode[]) => views(new CompiledPolicy(policy, { users: USERS, nodes: ns }, { reference: true }), ns);
    const inc = new CompiledPolicy(policy, { users: USERS, nodes });
    assert.deepEqual(views(inc, nodes), ref(nodes));
    let cur = [...nodes];
    let next = 100;
    for (const ch of changes) {
      if (ch.kind === 'add') {
        const n = { ...ch.n, id: next, name: `n${next}`, ipv4: `100.99.0.${next - 99}`, ipv6: `fd7a:115c:a1e0::99:${next}` };
        next++;
        cur.push(n);
        inc.applyNodeChange(n);
      } else if (cur.length) {
        const victim = cur[ch.which % cur.length]!;
        let changed: PolicyNode | null = null;
        if (ch.kind === 'retag') changed = { ...victim, tags: ch.n.tags, userId: ch.n.tags.length ? null : ch.n.userId };
        if (ch.kind === 'reroute') changed = { ...victim, routableIPs: ch.n.routableIPs, approvedRoutes: ch.n.approvedRoutes };
        if (changed) {
          const c = changed;
          cur = cur.map((x) => (x.id === victim.id ? c : x));
          inc.applyNodeChange(c);
        } else {
          cur = cur.filter((x) => x.id !== victim.id);
          inc.applyNodeChange({ removed: victim.id });
        }
      }
      assert.deepEqual(views(inc, cur), ref(cur));
    }
  }), { numRuns: 300 });
});
