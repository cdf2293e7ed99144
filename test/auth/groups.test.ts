// oidc.groups: provider groups to policy groups (prefix or explicit map) and reading the claim.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { groupsClaim, policyGroupsOf, type GroupsConfig } from '../../src/auth/groups.js';

const cfg = (over: Partial<GroupsConfig> = {}): GroupsConfig => ({ enabled: true, claim: 'groups', prefix: '', map: {}, ...over });

test('by default provider group G joins group:G; a prefix goes in front', () => {
  assert.deepEqual(policyGroupsOf(['eng', 'ops', 'eng'], cfg()), ['group:eng', 'group:ops']);
  assert.deepEqual(policyGroupsOf(['eng'], cfg({ prefix: 'oidc-' })), ['group:oidc-eng']);
  assert.deepEqual(policyGroupsOf([''], cfg()), [], 'an empty group name joins nothing');
});

test('with a map only mapped groups count, and the prefix is not applied', () => {
  const m = cfg({ prefix: 'x-', map: { '/engineering': 'group:eng', 'Domain Admins': 'group:admins' } });
  assert.deepEqual(policyGroupsOf(['/engineering', 'Domain Admins', 'sales'], m), ['group:admins', 'group:eng']);
  assert.deepEqual(policyGroupsOf(['constructor', 'toString'], m), [], 'object built-ins are not mapping entries');
});

test('disabled, nobody joins anything', () => {
  assert.deepEqual(policyGroupsOf(['eng'], cfg({ enabled: false })), []);
});

test('the claim is read by name; a lone string is a list of one; other types are no claim', () => {
  assert.deepEqual(groupsClaim({ groups: ['a', 'b', 'a', 3] }, 'groups'), ['a', 'b']);
  assert.deepEqual(groupsClaim({ roles: 'admin' }, 'roles'), ['admin']);
  assert.equal(groupsClaim({ groups: { a: 1 } }, 'groups'), undefined);
  assert.equal(groupsClaim({}, 'groups'), undefined);
});
