// The event another instance's change to a node stands for: the same kinds a local change
// emits, so peers get a PeerChange when one suffices and the whole node otherwise.

import { test } from 'vitest';
import assert from 'node:assert/strict';
import type { NodeRecord } from '../../src/state/model.js';
import { remoteNodeEvent } from '../../src/state/remote.js';

const base: NodeRecord = {
  id: 7,
  machineKey: 'mkey:aa',
  nodeKey: 'nodekey:bb',
  discoKey: 'discokey:cc',
  endpoints: ['192.0.2.1:41641'],
  hostinfo: { Hostname: 'n7', OS: 'linux', NetInfo: { PreferredDERP: 1 } },
  ipv4: '100.64.0.7',
  ipv6: 'fd7a:115c:a1e0::7',
  hostname: 'n7',
  givenName: 'n7',
  userId: 1,
  registerMethod: 'authkey',
  tags: [],
  authKeyId: 1,
  ephemeral: false,
  expiry: null,
  lastSeen: null,
  approvedRoutes: [],
  createdAt: new Date(1000),
  updatedAt: new Date(2000),
};

const at = (changes: Partial<NodeRecord>): NodeRecord => ({ ...base, ...changes, updatedAt: new Date(3000) });

test('a new row is nodeAdded, a missing one nodeRemoved, nothing at all is nothing', () => {
  assert.deepEqual(remoteNodeEvent(undefined, base), { kind: 'nodeAdded', nodeId: 7 });
  assert.deepEqual(remoteNodeEvent(base, null), { kind: 'nodeRemoved', nodeId: 7 });
  assert.equal(remoteNodeEvent(undefined, null), null);
});

test('only the bookkeeping timestamp changed: no event', () => {
  assert.equal(remoteNodeEvent(base, at({})), null);
});

test('PeerChange fields become a patch naming each of them', () => {
  assert.deepEqual(remoteNodeEvent(base, at({ endpoints: ['192.0.2.9:1'], discoKey: 'discokey:dd' })), {
    kind: 'nodePatched',
    nodeId: 7,
    patch: { endpoints: true, discoKey: true },
  });
  assert.deepEqual(remoteNodeEvent(base, at({ expiry: new Date(5000), lastSeen: new Date(4000) })), {
    kind: 'nodePatched',
    nodeId: 7,
    patch: { keyExpiry: true, lastSeen: true },
  });
  assert.deepEqual(remoteNodeEvent(base, at({ hostinfo: { ...base.hostinfo, NetInfo: { PreferredDERP: 2 } } })), {
    kind: 'nodePatched',
    nodeId: 7,
    patch: { derpRegion: true },
  });
});

test('anything else (name, tags, routes, addresses, hostinfo beyond NetInfo) is the whole node', () => {
  for (const changes of [
    { givenName: 'renamed' },
    { tags: ['tag:x'] },
    { approvedRoutes: ['10.0.0.0/8'] },
    { ipv4: '100.64.0.8' },
    { userId: 2 },
    { hostinfo: { ...base.hostinfo, OSVersion: '6.1' } },
    { endpoints: ['192.0.2.9:1'], givenName: 'both' },
  ] as Array<Partial<NodeRecord>>) {
    assert.deepEqual(remoteNodeEvent(base, at(changes)), { kind: 'nodeChanged', nodeId: 7 }, JSON.stringify(changes));
  }
});

test('only latencies in NetInfo moved: peers are not told, as with a local report', () => {
  const now = at({ hostinfo: { ...base.hostinfo, NetInfo: { PreferredDERP: 1, DERPLatency: { '1-v4': 0.01 } } } });
  assert.equal(remoteNodeEvent(base, now), null);
});
