// Map streams carry a keep-alive frame after a quiet spell (tailscaled restarts its poll
// when it hears nothing for two minutes), and none while real updates flow.

import { test } from 'vitest';
import assert from 'node:assert/strict';
import type { MapResponse } from '../../src/tailcfg/types.js';
import { useServer } from '../helpers/fixture.js';

const KEEPALIVE_MS = 150;
const f = useServer({ started: (srv) => (srv.server.mapKeepAliveMs = KEEPALIVE_MS) });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a quiet stream gets keep-alives; a busy one does not', async () => {
  const a = await f.join('listener');
  const b = await f.join('talker');
  await a.waitFor((nm) => nm.peerByName('talker')?.Online === true, 3000, 'talker online');
  const seen: MapResponse[] = [];
  a.on('map', (m: MapResponse) => seen.push(m));

  await sleep(1000);
  const quietKeepAlives = seen.filter((m) => m.KeepAlive).length;
  // About one per 150 ms (±10 % jitter) over a second.
  assert.ok(quietKeepAlives >= 4 && quietKeepAlives <= 9, `keep-alives in a quiet second: ${quietKeepAlives}`);
  for (const m of seen.filter((x) => x.KeepAlive)) assert.deepEqual(Object.keys(m), ['KeepAlive']);

  // Changes every 50 ms: each one is a frame, so no keep-alive is due.
  seen.length = 0;
  const id = f.srv.server.tailnet.nodeByNodeKey(b.nodeKey)!.id;
  for (let i = 0; i < 20; i++) {
    await f.srv.server.tailnet.updateNode(id, { endpoints: [`192.0.2.${i + 1}:41641`] }, { endpoints: true });
    await sleep(50);
  }
  const busyKeepAlives = seen.filter((m) => m.KeepAlive).length;
  const updates = seen.filter((m) => !m.KeepAlive).length;
  assert.ok(updates >= 18, `updates seen: ${updates}`);
  assert.ok(busyKeepAlives <= 1, `keep-alives while busy: ${busyKeepAlives}`);
});
