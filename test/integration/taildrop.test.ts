// taildrop.enabled is applied: with false, no node's own CapMap carries
// tailcfg.CapabilityFileSharing (the client then offers no file sending); by default it does.

import { describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { useServer } from '../helpers/fixture.js';

const FILE_SHARING = 'https://tailscale.com/cap/file-sharing';

describe('taildrop.enabled: false', () => {
  const f = useServer({ configure: (c) => (c.taildrop.enabled = false) });
  test('the file-sharing capability is not in the node\'s CapMap; the others still are', async () => {
    const c = await f.join('no-files');
    const caps = c.netmap.self!.CapMap ?? {};
    assert.equal(FILE_SHARING in caps, false, JSON.stringify(caps));
    assert.ok('https://tailscale.com/cap/ssh' in caps, JSON.stringify(caps));
  });
});

describe('taildrop.enabled: true (default)', () => {
  const f = useServer();
  test('the file-sharing capability is in the node\'s CapMap', async () => {
    const c = await f.join('files');
    assert.ok(FILE_SHARING in (c.netmap.self!.CapMap ?? {}));
  });
});
