// What a lite update's Hostinfo costs: a change peers see is stored and sent; a change
// in DERP latencies alone (re-reported every few minutes by every client) is neither.

import { test } from 'vitest';
import assert from 'node:assert/strict';
import type { MapResponse } from '../../src/tailcfg/types.js';
import { useServer } from '../helpers/fixture.js';

const f = useServer({});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('latency-only Hostinfo changes stay in memory; a new preferred DERP region is stored and patched', async () => {
  const watcher = await f.join('watcher');
  const c = await f.join('roamer');
  await watcher.waitFor((nm) => nm.peerByName('roamer')?.Online === true, 3000, 'roamer online');
  const id = f.srv.server.tailnet.nodeByNodeKey(c.nodeKey)!.id;
  const stored = async () => (await f.srv.server.store.loadAll()).nodes.find((n) => n.id === id)!;
  // Reports are written lazily (within LAZY_WRITE_MS): the row once the write is in.
  const storedOnce = async (done: (n: Awaited<ReturnType<typeof stored>>) => boolean) => {
    for (let i = 0; ; i++) {
      const n = await stored();
      if (done(n) || i >= 100) return n;
      await sleep(20);
    }
  };
  const seen: MapResponse[] = [];
  watcher.on('map', (m: MapResponse) => seen.push(m));

  c.hostinfo = { ...c.hostinfo, NetInfo: { PreferredDERP: 1, DERPLatency: { '1-v4': 0.012 } } };
  await c.liteUpdate();
  await watcher.waitFor((nm) => nm.peerByName('roamer')?.HomeDERP === 1, 3000, 'roamer on DERP 1');
  assert.equal((await storedOnce((n) => n.hostinfo.NetInfo?.PreferredDERP === 1)).hostinfo.NetInfo?.PreferredDERP, 1);
  seen.length = 0;

  c.hostinfo = { ...c.hostinfo, NetInfo: { PreferredDERP: 1, DERPLatency: { '1-v4': 0.034 } } };
  await c.liteUpdate();
  assert.deepEqual(f.srv.server.tailnet.node(id)!.hostinfo.NetInfo?.DERPLatency, { '1-v4': 0.034 });
  assert.deepEqual((await stored()).hostinfo.NetInfo?.DERPLatency, { '1-v4': 0.012 }, 'not written');
  await sleep(200);
  assert.equal(seen.filter((m) => !m.KeepAlive).length, 0, 'peers are not told');

  c.hostinfo = { ...c.hostinfo, OSVersion: 'changed 2.0' };
  await c.liteUpdate();
  await watcher.waitFor((nm) => nm.peerByName('roamer')?.Hostinfo?.OSVersion === 'changed 2.0', 3000, 'new OS version at watcher');
  const row = await storedOnce((n) => n.hostinfo.OSVersion === 'changed 2.0');
  assert.equal(row.hostinfo.OSVersion, 'changed 2.0');
  assert.deepEqual(row.hostinfo.NetInfo?.DERPLatency, { '1-v4': 0.034 }, 'the latest latencies go along');
});
