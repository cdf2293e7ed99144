// Group members from outside the policy text (PolicyUser.groups: OIDC groups): they join the
// groups the policy declares, in rules, tagOwners and tests alike; a group the policy does
// not declare gets none and is still refused where a rule names it.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { compilePolicy, mayOwnTag, parsePolicy, PolicyError, type PolicyUser } from '../../src/acl/index.js';
import { refusedTags } from '../../src/policy/tagowners.js';
import { node } from './helpers.js';

const USERS: PolicyUser[] = [
  { id: 1, name: 'odin', email: 'odin@example.com' },
  { id: 2, name: 'thor', email: 'thor@example.org', groups: ['group:eng', 'group:undeclared'] },
  { id: 3, name: 'freya', email: 'freya@example.com' },
];
const NODES = [node(1, { userId: 1 }), node(2, { userId: 2 }), node(3, { userId: 3 })];

const POLICY = `{
  "groups": {"group:eng": ["odin@example.com"], "group:empty": []},
  "tagOwners": {"tag:ci": ["group:eng"]},
  "acls": [{"action": "accept", "src": ["group:eng"], "dst": ["group:eng:*"]}],
  "tests": [{"src": "thor@example.org", "accept": ["odin@example.com:22"]}],
}`;

test('a user in a declared group through PolicyUser.groups is a member beside the static ones', () => {
  const c = compilePolicy(parsePolicy(POLICY), { users: USERS, nodes: NODES });
  assert.deepEqual(c.peers(1), [2], 'odin (static) sees thor (from outside)');
  assert.deepEqual(c.peers(2), [1]);
  assert.deepEqual(c.peers(3), [], 'freya is in neither');
  assert.deepEqual(refusedTags(c, 2, [], ['tag:ci']), [], 'thor owns tag:ci through group:eng');
  assert.equal(refusedTags(c, 3, [], ['tag:ci']).length, 1);
  assert.equal(mayOwnTag(c.policy, 'tag:ci', { user: USERS[1]! }), true);
  assert.equal(mayOwnTag(c.policy, 'tag:ci', { user: USERS[2]! }), false);
});

test('without the outside membership the same policy fails its own test', () => {
  const plain = USERS.map(({ groups: _g, ...u }) => u);
  assert.throws(() => compilePolicy(parsePolicy(POLICY), { users: plain, nodes: NODES }), PolicyError);
});

test('an undeclared group gets no members and naming it in a rule is still refused', () => {
  const c = compilePolicy(parsePolicy(POLICY), { users: USERS, nodes: NODES });
  assert.equal(mayOwnTag(parsePolicy('{"groups": {}, "tagOwners": {"tag:x": []}}'), 'tag:x', { user: USERS[1]! }), false);
  assert.deepEqual(c.peers(3), []);
  assert.throws(
    () => parsePolicy('{"acls": [{"action": "accept", "src": ["group:undeclared"], "dst": ["*:*"]}]}'),
    /group not defined in policy: "group:undeclared"/,
  );
});
