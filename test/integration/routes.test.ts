// Subnet routes end to end: a router advertises a prefix in its Hostinfo, the policy's
// autoApprovers approve it, and peers that may use it get it in AllowedIPs/PrimaryRoutes.

import { test } from 'vitest';
import assert from 'node:assert/strict';
import path from 'node:path';
import { useServer } from '../helpers/fixture.js';

const POLICY = `{
  "tagOwners": {"tag:router": ["alice@"]},
  "autoApprovers": {"routes": {"10.33.0.0/16": ["tag:router"]}},
  "acls": [
    {"action": "accept", "src": ["alice@"], "dst": ["10.33.0.0/16:*", "tag:router:*"]},
  ],
}`;

const f = useServer({
  files: { 'policy.hujson': POLICY },
  configure: (c, dir) => {
    c.policy = { mode: 'file', path: path.join(dir, 'policy.hujson') };
  },
});

test('an advertised route the policy auto-approves reaches the peers allowed to use it', async () => {
  const laptop = await f.join('laptop', { user: 'alice' });
  const router = await f.join('router', { user: 'alice', tags: ['tag:router'] });
  await laptop.waitFor((nm) => !!nm.peerByName('router'), 3000, 'router visible to laptop');
  const unrelated = ['192.168.77.0/24'];
  router.hostinfo = { ...router.hostinfo, RoutableIPs: ['10.33.0.0/16', ...unrelated] };
  await router.liteUpdate();
  const node = () => f.srv.server.tailnet.nodeByNodeKey(router.nodeKey)!;
  for (let i = 0; i < 50 && !node().approvedRoutes.includes('10.33.0.0/16'); i++) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(node().approvedRoutes, ['10.33.0.0/16'], 'only the auto-approved prefix is approved');
  await laptop.waitFor((nm) => (nm.peerByName('router')?.PrimaryRoutes ?? []).includes('10.33.0.0/16'), 3000, 'route at laptop');
  const peer = laptop.netmap.peerByName('router')!;
  assert.ok(peer.AllowedIPs.includes('10.33.0.0/16'));
  assert.ok(!peer.AllowedIPs.includes('192.168.77.0/24'), 'an unapproved route is not routed');
  // The router's own filter now admits alice's traffic to the subnet.
  await router.waitFor(
    (nm) => nm.filterRules().some((r) => (r.DstPorts ?? []).some((d) => d.IP === '10.33.0.0/16')),
    3000,
    'subnet in router filter',
  );
});

test('when the primary router goes offline, the other router of the prefix takes over, and back', async () => {
  const laptop = f.clients[0]!;
  const first = f.clients[1]!;
  const second = await f.join('router2', { user: 'alice', tags: ['tag:router'] });
  second.hostinfo = { ...second.hostinfo, RoutableIPs: ['10.33.0.0/16'] };
  await second.liteUpdate();
  const primaryAt = (name: string) => (laptop.netmap.peerByName(name)?.PrimaryRoutes ?? []).includes('10.33.0.0/16');
  await laptop.waitFor((nm) => !!nm.peerByName('router2') && primaryAt('router'), 3000, 'router2 present, router primary');
  assert.equal(primaryAt('router2'), false, 'the older router stays primary while online');

  first.close();
  await laptop.waitFor(() => primaryAt('router2') && !primaryAt('router'), 5000, 'failover to router2');
  assert.ok(laptop.netmap.peerByName('router2')!.AllowedIPs.includes('10.33.0.0/16'));
  assert.ok(!laptop.netmap.peerByName('router')!.AllowedIPs.includes('10.33.0.0/16'));

  await first.register();
  await first.startStream();
  await laptop.waitFor(() => primaryAt('router') && !primaryAt('router2'), 5000, 'the older router primary again');
});
