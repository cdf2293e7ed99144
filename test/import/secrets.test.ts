// The stored hash forms keys imported from headscale keep (src/state/secrets.ts).

import { describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import bcrypt from 'bcryptjs';
import { ApiKeyService } from '../../src/api/apikeys.js';
import { testBackends } from '../helpers/databases.js';
import { hashSecret, isLegacyHash, newSecret, plaintextKeyPrefix, secretMatches, secretPrefix } from '../../src/state/secrets.js';

const SECRET = 'Oy9BLGYYpGg-HdXjlwXQT8-9IfrcQ2aIdJfzhddkxQoSgN0JkdVEUxXboxS55mrH';
const TOKEN = `hskey-auth-q3rud-OszD6G-${SECRET}`;

describe('imported secrets', () => {
  test('a prefix may contain "-" (headscale uses URL-safe base64); lengths stay fixed', () => {
    assert.equal(secretPrefix('hskey-auth', TOKEN), 'q3rud-OszD6G');
    assert.equal(secretPrefix('hskey-auth', TOKEN + 'x'), null);
    assert.equal(secretPrefix('hskey-auth', TOKEN.replace('q3rud-OszD6G-', 'q3rud-OszD6G!')), null);
    assert.equal(secretPrefix('hskey-api', TOKEN), null);
    const ours = newSecret('hskey-auth');
    assert.equal(secretPrefix('hskey-auth', ours.token), ours.prefix);
  });

  test('bcrypt of the secret part, as headscale stores it', () => {
    const stored = `bcrypt:${bcrypt.hashSync(SECRET, 4)}`;
    assert.equal(secretMatches(TOKEN, stored), true);
    assert.equal(secretMatches(TOKEN.slice(0, -1) + 'x', stored), false);
    assert.equal(isLegacyHash(stored), true);
    // headscale's oldest API keys: "<prefix>.<secret>".
    assert.equal(secretMatches('hFKcRjLyfw.s3cret', `bcrypt:${bcrypt.hashSync('s3cret', 4)}`), true);
    assert.equal(secretMatches('hFKcRjLyfw.s3creT', `bcrypt:${bcrypt.hashSync('s3cret', 4)}`), false);
    assert.equal(secretMatches(TOKEN, 'bcrypt:not-a-hash'), false);
  });

  test('newer headscale\'s "$sha256$" of the secret part; ours of the whole token; unusable ones match nothing', () => {
    const hs = `$sha256$${createHash('sha256').update(SECRET).digest('hex')}`;
    assert.equal(secretMatches(TOKEN, hs), true);
    assert.equal(secretMatches(TOKEN.replace('Oy9', 'Oy8'), hs), false);
    assert.equal(isLegacyHash(hs), true);
    assert.equal(secretMatches(TOKEN, hashSecret(TOKEN)), true);
    assert.equal(isLegacyHash(hashSecret(TOKEN)), false);
    assert.equal(secretMatches(TOKEN, 'none:3'), false);
    assert.equal(secretMatches('', ''), false);
    assert.match(plaintextKeyPrefix('plaintextlegacykey'), /^[0-9a-f]{12}$/);
  });
});

describe('an imported API key of headscale\'s oldest form', () => {
  test('"<prefix>.<secret>" authenticates, a wrong secret does not, and the hash is re-stored', async () => {
    const { store, cleanup } = await testBackends()[0]!.makeStore();
    try {
      await store.createApiKey({ prefix: 'hFKcRjLy-w', keyHash: `bcrypt:${bcrypt.hashSync('s3cret', 4)}`, expiration: null, lastSeen: null });
      const keys = await ApiKeyService.load(store);
      assert.equal(await keys.verify('hFKcRjLy-w.s3creT'), false);
      assert.equal(await keys.verify('hFKcRjLy-w.s3cret'), true);
      assert.equal((await store.listApiKeys())[0]!.keyHash, hashSecret('hFKcRjLy-w.s3cret'));
      assert.equal(await (await ApiKeyService.load(store)).verify('hFKcRjLy-w.s3cret'), true);
      // Listed and expired by its prefix as written.
      await keys.expire({ prefix: 'hFKcRjLy-w' });
      assert.equal(await keys.verify('hFKcRjLy-w.s3cret'), false);
    } finally {
      await cleanup();
    }
  });
});
