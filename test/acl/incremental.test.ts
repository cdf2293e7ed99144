// Incremental updates keep the cached per-viewer views (routes, via steering, SSH, peer
// capabilities) equal to a full recompile, on tailnets with routers, exit nodes and SSH.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CompiledPolicy, parsePolicy, type PolicyNode } from '../../src/acl/index.js';
import { USERS, node } from './helpers.js';

const TAGS = ['tag:a', 'tag:b', 'tag:r'];
const ROUTES = [[], ['10.1.0.0/16'], ['10.2.0.0/16'], ['10.1.0.0/16', '10.2.0.0/16'], ['0.0.0.0/0', '::/0']];
const SRC = ['tag:a', 'tag:r', 'odin@example.com', 'autogroup:member', 'autogroup:tagged', '*'];
const DST = ['tag:a', 'tag:r', 'autogroup:member', '10.1.0.0/16', '10.0.0.0/8', 'autogroup:internet', '*'];

const nodeArb = (id: number) =>
  fc.record({ tag: fc.option(fc.constantFrom(...TAGS), { nil: undefined }), user: fc.constantFrom(1, 2, 3), routes: fc.constantFrom(...ROUTES) })
    .map(({ tag, user, routes }) => node(id, { ...(tag ? { tags: [tag] } : { userId: user }), routableIPs: routes, approvedRoutes: routes }));

const tailnetArb = fc.integer({ min: 1, max: 7 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => nodeArb(i + 1))));

const policyArb = fc.record({
  acls: fc.array(fc.record({ src: fc.subarray(SRC, { minLength: 1, maxLength: 2 }), dst: fc.subarray(DST, { minLength: 1, maxLength: 2 }) }), { maxLength: 3 }),
  grants: fc.array(fc.record({
    src: fc.subarray(SRC, { minLength: 1, maxLength: 2 }),
    dst: fc.constantFrom(['10.1.0.0/16'], ['10.2.0.0/16']),
    via: fc.constantFrom([], ['tag:r'], ['tag:b']),
  }), { maxLength: 2 }),
  ssh: fc.array(fc.record({
    // autogroup:self only accepts user-based sources.
    sd: fc.constantFrom(
      { src: ['autogroup:member'], dst: ['autogroup:self'] },
      { src: ['odin@example.com', 'autogroup:member'], dst: ['tag:r', 'autogroup:self'] },
      { src: ['tag:a', 'autogroup:tagged'], dst: ['tag:a'] },
      { src: ['autogroup:member', 'tag:r'], dst: ['tag:a', 'tag:r'] },
    ),
    users: fc.constantFrom(['root'], ['autogroup:nonroot'], ['localpart:*@example.com']),
  }), { maxLength: 3 }),
});

type Pol = typeof policyArb extends fc.Arbitrary<infer T> ? T : never;

function compile(pol: Pol, nodes: PolicyNode[]): CompiledPolicy {
  const text = JSON.stringify({
    tagOwners: Object.fromEntries(TAGS.map((t) => [t, []])),
    acls: pol.acls.map((a) => ({ action: 'accept', src: a.src, dst: a.dst.map((d) => `${d}:*`) })),
    grants: pol.grants.map((g) => ({ src: g.src, dst: g.dst, ip: ['*'], ...(g.via.length ? { via: g.via } : {}) })),
    ssh: pol.ssh.map((s) => ({ action: 'accept', src: s.sd.src, dst: s.sd.dst, users: s.users })),
  });
  return new CompiledPolicy(parsePolicy(text), { users: USERS, nodes });
}

function views(c: CompiledPolicy, nodes: PolicyNode[]): unknown[] {
  return nodes.map((v) => ({
    ssh: c.sshPolicy(v.id),
    self: c.selfRoutes(v.id),
    peers: c.peers(v.id).map((p) => [p, c.peerRoutes(v.id, p), c.peerCapMap(v.id, p), c.peerAddresses(v.id, p)]),
  }));
}

test('incremental changes keep routes, SSH and peer capabilities equal to a recompile', () => {
  const changeArb = fc.record({ kind: fc.constantFrom('add', 'remove', 'retag', 'reroute'), n: nodeArb(100), which: fc.nat() });
  fc.assert(fc.property(tailnetArb, policyArb, fc.array(changeArb, { maxLength: 4 }), (nodes, pol, changes) => {
    const inc = compile(pol, nodes);
    let cur = [...nodes];
    let next = 100;
    for (const ch of changes) {
      // Warm every cache so invalidation is exercised; remember the views to check that
      // nodes outside the reported set kept theirs.
      const prev = new Map(views(inc, cur).map((v, i) => [cur[i].id, JSON.stringify(v)]));
      let affected = new Set<number>();
      if (ch.kind === 'add') {
        const n = { ...ch.n, id: next, name: `n${next}`, ipv4: `100.99.0.${next - 99}`, ipv6: `fd7a:115c:a1e0::99:${next}` };
        next++;
        cur.push(n);
        affected = inc.applyNodeChange(n).affected;
      } else if (cur.length) {
        const victim = cur[ch.which % cur.length];
        let changed: PolicyNode | null = null;
        if (ch.kind === 'retag') changed = { ...victim, tags: ch.n.tags, userId: ch.n.tags.length ? null : ch.n.userId };
        if (ch.kind === 'reroute') changed = { ...victim, routableIPs: ch.n.routableIPs, approvedRoutes: ch.n.approvedRoutes };
        if (changed) {
          const c = changed;
          cur = cur.map((x) => (x.id === victim.id ? c : x));
          affected = inc.applyNodeChange(c).affected;
        } else {
          cur = cur.filter((x) => x.id !== victim.id);
          affected = inc.applyNodeChange({ removed: victim.id }).affected;
        }
      }
      const now = views(inc, cur);
      cur.forEach((n, i) => {
        if (prev.has(n.id) && !affected.has(n.id)) assert.equal(JSON.stringify(now[i]), prev.get(n.id), `node ${n.id} changed unreported`);
      });
    }
    assert.deepEqual(views(inc, cur), views(compile(pol, cur), cur));
  }), { numRuns: 200 });
});
