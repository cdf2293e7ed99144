import { test } from 'vitest';
import assert from 'node:assert/strict';
import { checkPolicyText, locate, mayOwnTag, parsePolicy } from '../../src/acl/index.js';

const DOC = `{
  // who may reach what
  "tagOwners": {"tag:web": ["alice@example.com"]},
  ACLs: [
    {"action": "accept", "src": ["*"], "dst": ["*:*"]}, /* fine */
    {
      "action": "accept",
      "src": ['group:eng', "tag:nope"],
      "dst": ["tag:web:80"],
    },
  ],
}`;

test('locate finds entries through comments, single quotes, bare and differently-cased keys', () => {
  assert.deepEqual(locate(DOC, ['acls', 1, 'src', 1]), { line: 8, column: 28 });
  assert.deepEqual(locate(DOC, ['tagOwners', 'tag:web', 0]), { line: 3, column: 29 });
  assert.deepEqual(locate(DOC, ['acls', 0]), { line: 5, column: 5 });
});

test('policy check reports each fault with its line and column', () => {
  const r = checkPolicyText(DOC);
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.deepEqual(r.issues, [
    { message: 'group not defined in policy: "group:eng"', line: 8, column: 15 },
    { message: 'src=tag not found: "tag:nope"', line: 8, column: 28 },
  ]);
});

test('mayOwnTag: users, groups, owner tags and role autogroups from tagOwners', () => {
  const p = parsePolicy(JSON.stringify({
    groups: { 'group:eng': ['bob@example.com'] },
    tagOwners: { 'tag:web': ['alice@example.com', 'group:eng'], 'tag:ci': ['tag:web'], 'tag:prod': ['autogroup:admin'], 'tag:a': ['tag:b'], 'tag:b': ['tag:a'] },
  }));
  const alice = { id: 1, name: 'alice', email: 'alice@example.com' };
  const bob = { id: 2, name: 'bob', email: 'bob@example.com' };
  const carol = { id: 3, name: 'carol', email: 'carol@example.com' };
  assert.equal(mayOwnTag(p, 'tag:web', { user: alice }), true);
  assert.equal(mayOwnTag(p, 'tag:web', { user: bob }), true);
  assert.equal(mayOwnTag(p, 'tag:web', { user: carol }), false);
  // tag:ci is owned by tag:web, so whoever owns tag:web, and nodes tagged tag:web, may apply it.
  assert.equal(mayOwnTag(p, 'tag:ci', { user: alice }), true);
  assert.equal(mayOwnTag(p, 'tag:ci', { user: null, tags: ['tag:web'] }), true);
  assert.equal(mayOwnTag(p, 'tag:prod', { user: carol }), false);
  assert.equal(mayOwnTag(p, 'tag:prod', { user: carol, admin: true }), true);
  assert.equal(mayOwnTag(p, 'tag:a', { user: alice }), false);
  assert.equal(mayOwnTag(p, 'tag:undefined', { user: alice }), false);
});

test('the same fault in two entries is located twice and named once', () => {
  const text = '{\n  "acls": [\n    {"action": "accept", "src": ["group:ops"], "dst": ["*:*"]},\n    {"action": "accept", "src": ["group:ops"], "dst": ["*:22"]}\n  ]\n}';
  const r = checkPolicyText(text);
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.error, 'group not defined in policy: "group:ops"');
  assert.deepEqual(r.issues.map((i) => i.line), [3, 4]);
});
