// Rule order in a node's packet filter when autogroup:self is mixed with other destinations.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { compilePolicy, parsePolicy } from '../../src/acl/index.js';
import { USERS, node } from './helpers.js';

const NODES = [node(1, { userId: 1 }), node(2, { userId: 2 })];

function srcsOf(dst: string[]): string[][] {
  const p = parsePolicy(JSON.stringify({ groups: { 'group:a': ['odin@example.com'] }, acls: [{ action: 'accept', src: ['*'], dst }] }));
  return compilePolicy(p, { users: USERS, nodes: NODES }).packetFilter(1).map((r) => r.SrcIPs);
}

test('self part precedes trailing autogroup:member destinations', () => {
  const got = srcsOf(['autogroup:self:*', 'autogroup:member:22']);
  assert.equal(got.length, 2);
  assert.deepEqual(got[0], ['100.64.0.2', 'fd7a:115c:a1e0::1:1']);
});

test('self part follows other destinations wherever it is listed', () => {
  for (const dst of [['autogroup:self:*', 'group:a:22'], ['group:a:22', 'autogroup:self:*'], ['autogroup:member:22', 'autogroup:self:*']]) {
    const got = srcsOf(dst);
    assert.equal(got.length, 2);
    assert.deepEqual(got[1], ['100.64.0.2', 'fd7a:115c:a1e0::1:1'], dst.join(' '));
  }
});
