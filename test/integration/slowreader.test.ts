// A client that stops reading its map stream must not make the server queue without
// bound: past limits.max_queued_map_bytes the session skips deltas, and once the client
// reads again it gets one full map of the present state instead of everything it missed.

import { test } from 'vitest';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { MapResponse } from '../../src/tailcfg/types.js';
import { useServer } from '../helpers/fixture.js';

const LIMIT = 256 * 1024;

const f = useServer({
  configure: (c) => {
    c.limits.max_queued_map_bytes = LIMIT;
  },
  // The liveness pings would cut the hung client off before a loaded machine has queued enough.
  started: (srv) => (srv.server.liveness = { intervalMs: 600_000, timeoutMs: 600_000 }),
});

test('a non-reading client holds at most the configured bytes queued, then catches up with one full map', async () => {
  const slow = await f.join('slow');
  const busy = await f.join('busy');
  await slow.waitFor((nm) => nm.peerByName('busy')?.Online === true, 3000, 'busy online');
  const tailnet = f.srv.server.tailnet;
  const busyId = busy.netmap.self!.ID;
  const slowId = slow.netmap.self!.ID;
  const session = f.srv.server.mapSession(slowId)!;
  assert.ok(session, 'slow has a map session');

  slow.simulateHang();
  // Each change re-renders busy for slow: ~9 KiB of incompressible Hostinfo per delta, so
  // 2,500 of them (~22 MiB) fill both socket buffers (loopback: up to ~10 MiB), the
  // client's 4 MiB HTTP/2 window and then the queue.
  let last = '';
  for (let i = 0; i < 2500; i++) {
    last = randomBytes(9 * 1024).toString('base64');
    const h = tailnet.node(busyId)!.hostinfo;
    await tailnet.updateNode(busyId, { hostinfo: { ...h, OSVersion: last } });
    // Events of one turn of the event loop go out as one batch: yield so each is its own delta.
    await new Promise((r) => setImmediate(r));
  }
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(session.behind, true, 'the session stopped queueing');
  assert.ok(session.peakQueuedBytes > 0);
  assert.ok(session.peakQueuedBytes <= LIMIT, `queued ${session.peakQueuedBytes} bytes, limit ${LIMIT}`);
  assert.equal(f.srv.server.mapSession(slowId), session, 'still connected (it is only slow)');

  const fulls: MapResponse[] = [];
  slow.on('map', (m: MapResponse) => {
    if (m.Peers) fulls.push(m);
  });
  slow.resumeAfterHang();
  // The queue drains; the next change finds it empty and sends the full map.
  await new Promise((r) => setTimeout(r, 500));
  const h = tailnet.node(busyId)!.hostinfo;
  last = 'caught-up';
  await tailnet.updateNode(busyId, { hostinfo: { ...h, OSVersion: last } });
  await slow.waitFor((nm) => nm.peerByName('busy')?.Hostinfo?.OSVersion === last, 10_000, 'the latest Hostinfo of busy');
  assert.equal(session.behind, false);
  assert.equal(fulls.length, 1, 'one full map replaced the skipped deltas');
  assert.ok(session.peakQueuedBytes <= LIMIT, `queued ${session.peakQueuedBytes} bytes after catching up`);
});
