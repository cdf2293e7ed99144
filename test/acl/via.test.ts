// Via grants: a plain grant for the same prefix takes precedence over via steering.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { compilePolicy, parsePolicy } from '../../src/acl/index.js';
import { USERS, node } from './helpers.js';

const TAGS = { 'tag:r1': ['odin@example.com'], 'tag:r2': ['odin@example.com'], 'tag:c': ['odin@example.com'] };
const NODES = [
  node(1, { tags: ['tag:r1'], routableIPs: ['10.1.0.0/16'], approvedRoutes: ['10.1.0.0/16'] }),
  node(2, { tags: ['tag:r2'], routableIPs: ['10.1.0.0/16'], approvedRoutes: ['10.1.0.0/16'] }),
  node(3, { tags: ['tag:c'] }),
];

function routers(grants: unknown[]): number[] {
  const p = parsePolicy(JSON.stringify({ tagOwners: TAGS, grants }));
  const c = compilePolicy(p, { users: USERS, nodes: NODES });
  return [1, 2].filter((r) => c.peerRoutes(3, r).primaryRoutes.includes('10.1.0.0/16'));
}

const VIA = { src: ['tag:c'], dst: ['10.1.0.0/16'], ip: ['*'], via: ['tag:r2'] };
const PLAIN = { src: ['tag:c'], dst: ['10.1.0.0/16'], ip: ['*'] };

test('via steers the viewer to the via-tagged router', () => {
  assert.deepEqual(routers([VIA]), [2]);
});

test('a plain grant for the same prefix keeps the elected primary', () => {
  assert.deepEqual(routers([VIA, PLAIN]), [1]);
  assert.deepEqual(routers([PLAIN, VIA]), [1]);
});

test('via rules keep their policy position instead of merging with same-source rules', () => {
  const p = parsePolicy(JSON.stringify({
    tagOwners: TAGS,
    grants: [
      { src: ['tag:r1'], dst: ['10.9.0.0/16'], ip: ['*'], via: ['tag:r1'] },
      { src: ['tag:c'], dst: ['10.1.0.0/16'], ip: ['*'], via: ['tag:r2'] },
      { src: ['tag:r1'], dst: ['10.1.0.0/16'], ip: ['*'] },
    ],
  }));
  const c = compilePolicy(p, { users: USERS, nodes: NODES });
  assert.deepEqual(c.packetFilter(2).map((r) => r.SrcIPs[0]), ['100.64.0.4', '100.64.0.2']);
});
