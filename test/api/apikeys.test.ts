// ApiKeyService on a real SQLite store, with an injected clock.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'vitest';
import { ApiKeyService, normalizePrefix } from '../../src/api/apikeys.js';
import { createStore } from '../../src/db/index.js';

test('keys are stored hashed, verified, expired, deleted; lastSeen written at most once a minute', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-keys-'));
  const store = await createStore({ type: 'sqlite', path: join(dir, 'db.sqlite') });
  try {
    await store.migrate();
    let now = new Date('2030-01-01T00:00:00Z');
    const svc = await ApiKeyService.load(store, { now: () => now });
    const { key, record } = await svc.create(new Date('2030-02-01T00:00:00Z'));
    assert.match(key, /^hskey-api-[A-Za-z0-9]{12}-[A-Za-z0-9]{64}$/);
    const stored = (await store.listApiKeys())[0]!;
    assert.equal(stored.prefix, key.slice(10, 22));
    assert.ok(!JSON.stringify(stored).includes(key.slice(23)), 'the secret is not stored');
    assert.match(stored.keyHash, /^[0-9a-f]{64}$/);

    assert.equal(await svc.verify(key), true);
    assert.equal(await svc.verify(key.slice(0, -1) + (key.endsWith('a') ? 'b' : 'a')), false);
    assert.equal(await svc.verify('garbage'), false);
    const lastSeen = async () => (await store.listApiKeys())[0]!.lastSeen?.toISOString();
    // The write is in the background; wait for it rather than guess how long it takes.
    const eventually = async (want: string) => {
      for (let i = 0; i < 100 && (await lastSeen()) !== want; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(await lastSeen(), want);
    };
    await eventually(now.toISOString());
    const seen1 = await lastSeen();

    now = new Date(now.getTime() + 30_000);
    assert.equal(await svc.verify(key), true);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(await lastSeen(), seen1, 'no write within a minute');

    now = new Date(now.getTime() + 31_000);
    assert.equal(await svc.verify(key), true);
    await eventually(now.toISOString());

    // A key made by another instance sharing the database is found after a reload.
    const other = await ApiKeyService.load(store, { now: () => now });
    const made = await other.create(null);
    now = new Date(now.getTime() + 10_000);
    assert.equal(await svc.verify(made.key), true);

    await svc.expire(`hskey-api-${record.prefix}-***`);
    assert.equal(await svc.verify(key), false);
    await svc.delete({ id: record.id });
    assert.deepEqual(svc.list().map((k) => k.id), [made.record.id]);
    await assert.rejects(svc.delete(record.prefix), /not found/);
    await assert.rejects(svc.expire({}), /must provide id or prefix/);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('normalizePrefix accepts every form a user may paste', () => {
  assert.equal(normalizePrefix('abcdefABCDEF'), 'abcdefABCDEF');
  assert.equal(normalizePrefix('hskey-api-abcdefABCDEF-***'), 'abcdefABCDEF');
  assert.equal(normalizePrefix(`hskey-api-abcdefABCDEF-${'x'.repeat(64)}`), 'abcdefABCDEF');
  assert.equal(normalizePrefix('hskey-api-short'), null);
  assert.equal(normalizePrefix('nope'), null);
});
