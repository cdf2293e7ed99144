// A client that stops answering (frozen machine, dead link) without closing its
// connection is found by HTTP/2 pings and shown offline to its peers.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TailscaleClient } from '../../src/client/client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { SwitchboardServer } from '../../src/server/server.js';

let srv: TestServer;
let dir: string;
const clients: TailscaleClient[] = [];

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-live-'));
  srv = await startTestServer({ type: 'sqlite', path: path.join(dir, 'db.sqlite') });
  // Short probes so the test takes a second, not a minute.
  (srv.server as SwitchboardServer).liveness = { intervalMs: 200, timeoutMs: 300 };
});
after(async () => {
  for (const c of clients) c.close();
  await srv.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a hung client is marked offline at its peer', async () => {
  const a = new TailscaleClient({ serverUrl: srv.url, hostname: 'watcher' });
  const b = new TailscaleClient({ serverUrl: srv.url, hostname: 'frozen' });
  clients.push(a, b);
  for (const c of clients) {
    assert.equal((await c.register({ authKey: srv.bootstrap!.key })).MachineAuthorized, true);
    await c.startStream();
  }
  await a.waitFor((nm) => nm.peerByName('frozen')?.Online === true, 3000, 'frozen online');
  b.simulateHang();
  const t0 = Date.now();
  await a.waitFor((nm) => nm.peerByName('frozen')?.Online === false, 5000, 'frozen offline');
  assert.ok(Date.now() - t0 >= 200, 'not before a probe could have failed');
  assert.equal(a.netmap.peerByName('watcher'), undefined);
});
