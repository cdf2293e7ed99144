// Two instances starting at once on an empty database both try the first-start bootstrap:
// the one whose insert loses (its memory did not show the other's user yet) starts anyway.

import { describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { bootstrapIfEmpty } from '../../src/server/bootstrap.js';
import { Tailnet } from '../../src/state/tailnet.js';
import { testBackends } from '../helpers/databases.js';

const opts = { prefixV4: '100.64.0.0/10', prefixV6: null, allocation: 'sequential' as const };

for (const backend of testBackends()) {
  describe(`first-start bootstrap raced by two instances (${backend.name})`, () => {
    test('the second sees the user taken in the database and bootstraps nothing', async () => {
      const { store, cleanup } = await backend.makeStore();
      try {
        // Both loaded the empty tailnet before either created anything.
        const first = await Tailnet.load(store, opts);
        const second = await Tailnet.load(store, opts);
        const made = await bootstrapIfEmpty(first, 'http://127.0.0.1:8080', 'user-and-key');
        assert.equal(made?.user, 'default');
        assert.equal(await bootstrapIfEmpty(second, 'http://127.0.0.1:8080', 'user-and-key'), null);
        assert.equal((await store.loadAll()).preAuthKeys.length, 1, 'one bootstrap key, not two');
      } finally {
        await cleanup();
      }
    });
  });
}
