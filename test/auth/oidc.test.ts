// headscale's oidc.allowed_* and email_verified_required rules, claim by claim.

import { test } from 'vitest';
import assert from 'node:assert/strict';
import { checkAllowed, providerIdentifier, type OidcClaims } from '../../src/auth/oidc.js';
import type { Config } from '../../src/config/types.js';

const base: Config['oidc'] = {
  only_start_if_oidc_is_available: true,
  issuer: 'https://sso.example',
  client_id: 'sb',
  client_secret: 's',
  client_secret_path: '',
  scope: ['openid'],
  extra_params: {},
  allowed_domains: [],
  allowed_groups: [],
  allowed_users: [],
  email_verified_required: true,
  expiry: '180d',
  expiry_ms: 0,
  use_expiry_from_token: false,
  pkce: { enabled: false, method: 'S256' },
  groups: { enabled: true, claim: 'groups', prefix: '', map: {} },
};
const who = (c: Partial<OidcClaims>): OidcClaims => ({ iss: 'https://sso.example', sub: '1', ...c });

test('no allowed_* lets anyone with a verified (or no) email in', () => {
  assert.equal(checkAllowed(base, who({ email: 'a@x.example', email_verified: true })), null);
  assert.equal(checkAllowed(base, who({})), null);
});

test('an unverified email is refused only when email_verified_required', () => {
  assert.match(checkAllowed(base, who({ email: 'a@x.example', email_verified: false }))!, /not verified/);
  assert.equal(checkAllowed({ ...base, email_verified_required: false }, who({ email: 'a@x.example' })), null);
});

test('allowed_domains compares the email domain without case; no email is refused', () => {
  const cfg = { ...base, allowed_domains: ['corp.example'] };
  assert.equal(checkAllowed(cfg, who({ email: 'a@CORP.example', email_verified: true })), null);
  assert.match(checkAllowed(cfg, who({ email: 'a@corp.example.evil', email_verified: true }))!, /allowed_domains/);
  assert.match(checkAllowed(cfg, who({}))!, /\(no email\) is not in oidc\.allowed_domains/);
});

test('allowed_users matches the whole email; allowed_groups needs one shared group', () => {
  const users = { ...base, allowed_users: ['a@corp.example'] };
  assert.equal(checkAllowed(users, who({ email: 'a@corp.example', email_verified: true })), null);
  assert.match(checkAllowed(users, who({ email: 'b@corp.example', email_verified: true }))!, /allowed_users/);
  const groups = { ...base, allowed_groups: ['/admins', 'eng'] };
  assert.equal(checkAllowed(groups, who({ groups: ['sales', 'eng'] })), null);
  assert.match(checkAllowed(groups, who({ groups: ['sales'] }))!, /allowed_groups/);
  assert.match(checkAllowed(groups, who({}))!, /allowed_groups/);
});

test('the provider identifier is issuer/sub, without a doubled slash', () => {
  assert.equal(providerIdentifier({ iss: 'https://sso.example/', sub: 'u1' }), 'https://sso.example/u1');
  assert.equal(providerIdentifier({ iss: 'https://sso.example/realms/x', sub: 'u1' }), 'https://sso.example/realms/x/u1');
});
