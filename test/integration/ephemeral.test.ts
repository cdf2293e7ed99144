// Ephemeral nodes disappear once offline longer than ephemeral_node_inactivity_timeout;
// their peers are told. Logging out an ephemeral node removes it at once.

import { test } from 'vitest';
import assert from 'node:assert/strict';
import { useServer } from '../helpers/fixture.js';

const f = useServer({
  configure: (c) => {
    c.ephemeral_node_inactivity_timeout = '300ms';
    c.ephemeral_node_inactivity_timeout_ms = 300;
  },
});
const join = (hostname: string, ephemeral: boolean) => f.join(hostname, { ephemeral });

test('an ephemeral node is removed after it stays offline, and its peer learns it', async () => {
  const stays = await join('stays', false);
  const eph = await join('fleeting', true);
  await stays.waitFor((nm) => nm.peerByName('fleeting')?.Online === true, 3000, 'fleeting online');
  const id = f.srv.server.tailnet.nodeByNodeKey(eph.nodeKey)!.id;
  assert.equal(f.srv.server.tailnet.node(id)!.ephemeral, true);
  eph.close();
  await stays.waitFor((nm) => !nm.peerByName('fleeting'), 5000, 'fleeting removed');
  assert.equal(f.srv.server.tailnet.node(id), undefined);
  assert.ok(f.srv.server.tailnet.node(f.srv.server.tailnet.nodeByNodeKey(stays.nodeKey)!.id), 'the ordinary node stays');
});

test('logging out an ephemeral node removes it immediately', async () => {
  const stays = f.clients[0]!;
  const eph = await join('brief', true);
  await stays.waitFor((nm) => !!nm.peerByName('brief'), 3000, 'brief present');
  eph.stopStream();
  const r = await eph.logout();
  assert.equal(r.NodeKeyExpired, true);
  assert.equal(f.srv.server.tailnet.nodeByNodeKey(eph.nodeKey), undefined);
  await stays.waitFor((nm) => !nm.peerByName('brief'), 3000, 'brief removed');
});
