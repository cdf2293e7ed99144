// A client that stops answering (frozen machine, dead link) without closing its
// connection is found by HTTP/2 pings and shown offline to its peers.

import { test } from 'vitest';
import assert from 'node:assert/strict';
import { useServer } from '../helpers/fixture.js';

const f = useServer({
  // Short probes so the test takes a second, not a minute.
  started: (srv) => (srv.server.liveness = { intervalMs: 200, timeoutMs: 300 }),
});

test('a hung client is marked offline at its peer', async () => {
  const a = await f.join('watcher');
  const b = await f.join('frozen');
  await a.waitFor((nm) => nm.peerByName('frozen')?.Online === true, 3000, 'frozen online');
  b.simulateHang();
  const t0 = Date.now();
  await a.waitFor((nm) => nm.peerByName('frozen')?.Online === false, 5000, 'frozen offline');
  assert.ok(Date.now() - t0 >= 200, 'not before a probe could have failed');
  assert.equal(a.netmap.peerByName('watcher'), undefined);
});
