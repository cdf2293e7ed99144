// Ephemeral nodes disappear once offline longer than ephemeral_node_inactivity_timeout;
// their peers are told. Logging out an ephemeral node removes it at once.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TailscaleClient } from '../../src/client/client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let srv: TestServer;
let dir: string;
const clients: TailscaleClient[] = [];

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-eph-'));
  srv = await startTestServer({ type: 'sqlite', path: path.join(dir, 'db.sqlite') }, (c) => {
    c.ephemeral_node_inactivity_timeout = '300ms';
    c.ephemeral_node_inactivity_timeout_ms = 300;
  });
});
after(async () => {
  for (const c of clients) c.close();
  await srv.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function join(hostname: string, ephemeral: boolean): Promise<TailscaleClient> {
  const { key } = await srv.server.tailnet.createPreAuthKey({ userId: 1, reusable: false, ephemeral, expiration: null, tags: [] });
  const c = new TailscaleClient({ serverUrl: srv.url, hostname });
  clients.push(c);
  assert.equal((await c.register({ authKey: key })).MachineAuthorized, true);
  await c.startStream();
  return c;
}

test('an ephemeral node is removed after it stays offline, and its peer learns it', async () => {
  const stays = await join('stays', false);
  const eph = await join('fleeting', true);
  await stays.waitFor((nm) => nm.peerByName('fleeting')?.Online === true, 3000, 'fleeting online');
  const id = srv.server.tailnet.nodeByNodeKey(eph.nodeKey)!.id;
  assert.equal(srv.server.tailnet.node(id)!.ephemeral, true);
  eph.close();
  await stays.waitFor((nm) => !nm.peerByName('fleeting'), 5000, 'fleeting removed');
  assert.equal(srv.server.tailnet.node(id), undefined);
  assert.ok(srv.server.tailnet.node(srv.server.tailnet.nodeByNodeKey(stays.nodeKey)!.id), 'the ordinary node stays');
});

test('logging out an ephemeral node removes it immediately', async () => {
  const stays = clients[0]!;
  const eph = await join('brief', true);
  await stays.waitFor((nm) => !!nm.peerByName('brief'), 3000, 'brief present');
  eph.stopStream();
  const r = await eph.logout();
  assert.equal(r.NodeKeyExpired, true);
  assert.equal(srv.server.tailnet.nodeByNodeKey(eph.nodeKey), undefined);
  await stays.waitFor((nm) => !nm.peerByName('brief'), 3000, 'brief removed');
});
