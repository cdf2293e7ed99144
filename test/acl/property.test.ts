// Property tests over random tailnets and policies: no access beyond what rules grant,
// monotonicity when removing rules, and incremental updates equal a full recompile.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CompiledPolicy, parsePolicy, type PolicyNode } from '../../src/acl/index.js';
import { USERS, node } from './helpers.js';

const TAGS = ['tag:a', 'tag:b', 'tag:c'];
const ALIASES = [...TAGS, 'odin@example.com', 'thor@example.org', 'group:g', 'autogroup:member', 'autogroup:tagged', '*'];

const nodeArb = (id: number) =>
  fc.record({ tag: fc.option(fc.constantFrom(...TAGS), { nil: undefined }), user: fc.constantFrom(1, 2, 3) }).map(({ tag, user }) =>
    node(id, tag ? { tags: [tag] } : { userId: user }),
  );

const tailnetArb = fc.integer({ min: 1, max: 8 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => nodeArb(i + 1))));

const ruleArb = fc.record({
  src: fc.subarray(ALIASES, { minLength: 1, maxLength: 2 }),
  dst: fc.subarray(ALIASES, { minLength: 1, maxLength: 2 }),
  port: fc.constantFrom('*', '22', '80,443'),
});

const rulesArb = fc.array(ruleArb, { minLength: 0, maxLength: 4 });

function policyText(rules: { src: string[]; dst: string[]; port: string }[]): string {
  return JSON.stringify({
    tagOwners: Object.fromEntries(TAGS.map((t) => [t, []])),
    groups: { 'group:g': ['thor@example.org', 'freya@example.com'] },
    acls: rules.map((r) => ({ action: 'accept', src: r.src, dst: r.dst.map((d) => `${d}:${r.port}`) })),
  });
}

function compile(rules: { src: string[]; dst: string[]; port: string }[], nodes: PolicyNode[]): CompiledPolicy {
  return new CompiledPolicy(parsePolicy(policyText(rules)), { users: USERS, nodes });
}

/** Pairs (a, b) with some rule from an alias matching a to an alias matching b. */
function granted(rules: { src: string[]; dst: string[] }[], nodes: PolicyNode[]): Set<string> {
  const m = (alias: string, n: PolicyNode) =>
    alias === '*' || n.tags.includes(alias) ||
    (alias === 'autogroup:member' && !n.tags.length) || (alias === 'autogroup:tagged' && n.tags.length > 0) ||
    (!n.tags.length && ((alias === 'odin@example.com' && n.userId === 1) || (alias === 'thor@example.org' && n.userId === 2) ||
      (alias === 'group:g' && (n.userId === 2 || n.userId === 3))));
  const out = new Set<string>();
  for (const r of rules) for (const a of nodes) for (const b of nodes) {
    if (r.src.some((s) => m(s, a)) && r.dst.some((d) => m(d, b))) out.add(`${a.id}>${b.id}`);
  }
  return out;
}

test('a node never gets a peer or filter rule the policy does not grant', () => {
  fc.assert(fc.property(tailnetArb, rulesArb, (nodes, rules) => {
    const c = compile(rules, nodes);
    const g = granted(rules, nodes);
    for (const n of nodes) {
      for (const p of c.peers(n.id)) assert.ok(g.has(`${n.id}>${p}`) || g.has(`${p}>${n.id}`), `unexpected peer ${n.id}-${p}`);
      if (c.packetFilter(n.id).length) assert.ok(nodes.some((a) => g.has(`${a.id}>${n.id}`)) || rules.some((r) => r.src.includes('*')));
    }
  }), { numRuns: 150 });
});

test('removing a rule never widens access', () => {
  fc.assert(fc.property(tailnetArb, rulesArb.filter((r) => r.length > 0), fc.nat(), (nodes, rules, k) => {
    const full = compile(rules, nodes);
    const fewer = compile(rules.filter((_, i) => i !== k % rules.length), nodes);
    for (const n of nodes) {
      const wide = new Set(full.peers(n.id));
      for (const p of fewer.peers(n.id)) assert.ok(wide.has(p));
      const wideDst = new Set(full.packetFilter(n.id).flatMap((r) => r.DstPorts ?? []).map((d) => `${d.IP}:${d.Ports.First}-${d.Ports.Last}`));
      for (const r of fewer.packetFilter(n.id)) for (const d of r.DstPorts ?? []) assert.ok(wideDst.has(`${d.IP}:${d.Ports.First}-${d.Ports.Last}`));
    }
  }), { numRuns: 150 });
});

test('incremental node changes equal a full recompile', () => {
  const changeArb = fc.record({ kind: fc.constantFrom('add', 'remove', 'retag'), n: nodeArb(100), which: fc.nat() });
  fc.assert(fc.property(tailnetArb, rulesArb, fc.array(changeArb, { maxLength: 4 }), (nodes, rules, changes) => {
    const inc = compile(rules, nodes);
    // Warm the caches so invalidation is exercised.
    for (const n of nodes) { inc.packetFilter(n.id); inc.peers(n.id); }
    let cur = [...nodes];
    let next = 100;
    for (const ch of changes) {
      if (ch.kind === 'add') {
        const n = { ...ch.n, id: next, name: `n${next}`, ipv4: `100.99.0.${next - 99}`, ipv6: `fd7a:115c:a1e0::99:${next}` };
        next++;
        cur.push(n);
        inc.applyNodeChange(n);
      } else if (cur.length) {
        const victim = cur[ch.which % cur.length];
        if (ch.kind === 'remove') {
          cur = cur.filter((x) => x.id !== victim.id);
          inc.applyNodeChange({ removed: victim.id });
        } else {
          const changed = { ...victim, tags: ch.n.tags, userId: ch.n.tags.length ? null : ch.n.userId };
          cur = cur.map((x) => (x.id === victim.id ? changed : x));
          inc.applyNodeChange(changed);
        }
      }
    }
    const full = compile(rules, cur);
    for (const n of cur) {
      assert.deepEqual(inc.peers(n.id), full.peers(n.id), `peers of ${n.id}`);
      assert.deepEqual(inc.packetFilter(n.id), full.packetFilter(n.id), `filter of ${n.id}`);
    }
  }), { numRuns: 200 });
});
