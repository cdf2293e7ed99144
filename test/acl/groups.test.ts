// Groups: Tailscale refuses groups that name groups (captured from its control plane by
// headscale: two-deep, three-deep and cyclic all answer "group members cannot be
// recursive"), and no policy shape may cost more than linear time or overflow the stack.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { compilePolicy, parsePolicy, PolicyError } from '../../src/acl/index.js';
import { POLICY_LIMITS } from '../../src/acl/parse.js';
import { USERS, node } from './helpers.js';

function refusedWith(text: string, message: string | RegExp): void {
  assert.throws(() => parsePolicy(text), (e: unknown) => {
    assert.ok(e instanceof PolicyError, `expected a PolicyError, got ${String(e)}`);
    if (typeof message === 'string') assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });
}

/** group:l0_0 = [group:l1_0, group:l1_1], each level's two groups name both of the next. */
export function diamond(depth: number): string {
  const groups: Record<string, string[]> = {};
  for (let l = 0; l < depth; l++) {
    for (const i of [0, 1]) groups[`group:l${l}_${i}`] = [`group:l${l + 1}_0`, `group:l${l + 1}_1`];
  }
  groups[`group:l${depth}_0`] = ['odin@example.com'];
  groups[`group:l${depth}_1`] = ['thor@example.org'];
  return JSON.stringify({ groups, acls: [{ action: 'accept', src: ['group:l0_0'], dst: ['group:l0_1:*'] }] });
}

test('a group naming a group is refused, as Tailscale does, naming the last parent', () => {
  refusedWith('{"groups":{"group:inner":["thor@example.org"],"group:outer":["group:inner"]}}',
    'groups["group:outer"]: "group:inner": group members cannot be recursive');
  refusedWith('{"groups":{"group:a":["group:b"],"group:b":["group:c"],"group:c":["thor@example.org"]}}',
    'groups["group:b"]: "group:c": group members cannot be recursive');
  refusedWith('{"groups":{"group:a":["group:b"],"group:b":["group:a"]}}',
    'groups["group:b"]: "group:a": group members cannot be recursive');
  refusedWith('{"groups":{"group:a":["group:a"]}}', 'groups["group:a"]: "group:a": group members cannot be recursive');
  // A member naming a group that does not exist is still a group reference.
  refusedWith('{"groups":{"group:a":["odin@example.com","group:nope"]}}', 'groups["group:a"]: "group:nope": group members cannot be recursive');
});

// No clock here (timings belong in bench/): a walk that expands every path of the diamond
// does 2^depth steps, so at depth 40 or 200 it would never return and the test times out.
test('the diamond policy is refused at any depth, never with a RangeError', () => {
  for (const depth of [1, 2, 17, 18, 21, 40, 200]) {
    refusedWith(diamond(depth), /group members cannot be recursive$/);
  }
});

test('flat groups still resolve to their users', () => {
  const p = parsePolicy(JSON.stringify({
    groups: { 'group:ops': ['odin@example.com', 'thor@example.org', 'nobody@example.com'] },
    acls: [{ action: 'accept', src: ['group:ops'], dst: ['*:22'] }],
  }));
  const c = compilePolicy(p, { users: USERS, nodes: [node(1, { userId: 1 }), node(2, { userId: 2 }), node(3, { userId: 3 })] });
  assert.equal(c.packetFilter(3).length, 1);
  assert.equal(c.packetFilter(3)[0]!.SrcIPs.length, 4, 'odin and thor, v4 and v6');
});

test('size limits name the entry', () => {
  const many = Array.from({ length: POLICY_LIMITS.groupMembers + 1 }, (_, i) => `u${i}@example.com`);
  refusedWith(JSON.stringify({ groups: { 'group:big': many } }),
    `groups["group:big"]: ${many.length} members; the limit is ${POLICY_LIMITS.groupMembers}`);
  refusedWith(' '.repeat(POLICY_LIMITS.textLength + 1), /^policy is \d+ characters long; the limit is \d+$/);
  const deep = `${'['.repeat(10_000)}1${']'.repeat(10_000)}`;
  refusedWith(`{"grants": [{"src": ["*"], "dst": ["*"], "app": {"example.com/cap/x": [${deep}]}}]}`,
    `app["example.com/cap/x"]: values nest deeper than ${POLICY_LIMITS.valueDepth} levels`);
});
