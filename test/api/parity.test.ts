// Behaviour of the /api/v1 paths added for headscale parity beyond their shapes (those are
// in golden.test.ts, with every other path): health needs a key over TCP, backfillips
// refuses unless confirmed, expire takes disableExpiry or expiry but not both, debug/node
// checks its fields and answers 501 on a server without web login.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll as after, beforeAll as before, describe, test } from 'vitest';
import { createStore } from '../../src/db/index.js';
import { Tailnet } from '../../src/state/tailnet.js';
import { addNode, call, startStack, type Stack } from './harness.js';

describe('headscale parity: the added paths', () => {
  let s: Stack;
  const sock = () => ({ socketPath: s.socketPath });
  before(async () => {
    s = await startStack();
  });
  after(async () => s.close());

  test('GET /api/v1/health → {"databaseConnectivity": true}', async () => {
    const r = await call(sock(), 'GET', '/api/v1/health');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, { databaseConnectivity: true });
    // Over TCP it needs a key like every other path.
    assert.equal((await call({ url: s.tcpUrl }, 'GET', '/api/v1/health')).status, 401);
    const { key } = await s.apiKeys.create(null);
    assert.deepEqual((await call({ url: s.tcpUrl }, 'GET', '/api/v1/health', { token: key })).body, { databaseConnectivity: true });
  });

  test('POST /api/v1/node/backfillips: refused unless confirmed, then {"changes": [...]}', async () => {
    const no = await call(sock(), 'POST', '/api/v1/node/backfillips');
    assert.equal(no.status, 400);
    assert.deepEqual(Object.keys(no.body).sort(), ['code', 'details', 'message']);
    assert.equal(no.body.code, 3); // INVALID_ARGUMENT
    assert.match(no.body.message, /not confirmed/);
    const yes = await call(sock(), 'POST', '/api/v1/node/backfillips?confirmed=true');
    assert.equal(yes.status, 200, yes.text);
    assert.deepEqual(yes.body, { changes: [] }); // every node already has both families
  });

  test('POST /api/v1/node/{node_id}/expire?disableExpiry=true → node with expiry null', async () => {
    const n = await addNode(s, null, 'never-expires');
    const exp = await call(sock(), 'POST', `/api/v1/node/${n.id}/expire`);
    assert.equal(exp.status, 200, exp.text);
    assert.equal(typeof exp.body.node.expiry, 'string');
    const r = await call(sock(), 'POST', `/api/v1/node/${n.id}/expire?disableExpiry=true`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.node.id, String(n.id));
    assert.equal(r.body.node.expiry, null);
    assert.equal(s.tailnet.getNode(n.id).expiry, null);
    const both = await call(sock(), 'POST', `/api/v1/node/${n.id}/expire?disableExpiry=true&expiry=2030-01-01T00:00:00Z`);
    assert.equal(both.status, 400);
  });

  test('POST /api/v1/debug/node: fields checked, then 501 (no pending registrations here)', async () => {
    const missing = await call(sock(), 'POST', '/api/v1/debug/node', { body: { user: 'u', key: 'k' } });
    assert.equal(missing.status, 400);
    assert.match(missing.body.message, /"name"/);
    const badRoute = await call(sock(), 'POST', '/api/v1/debug/node', { body: { user: 'u', key: 'k', name: 'n', routes: ['nope'] } });
    assert.equal(badRoute.status, 400);
    assert.match(badRoute.body.message, /"routes"/);
    const r = await call(sock(), 'POST', '/api/v1/debug/node', { body: { user: 'u', key: 'k', name: 'n', routes: ['10.0.0.0/8'] } });
    assert.equal(r.status, 501);
    assert.equal(r.body.code, 12); // UNIMPLEMENTED
  });
});

describe('Tailnet.backfillNodeIPs', () => {
  test('assigns a newly configured family and removes one no longer configured', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchboard-backfill-'));
    const store = await createStore({ type: 'sqlite', path: join(dir, 'db.sqlite') });
    try {
      await store.migrate();
      const v4only = await Tailnet.load(store, { prefixV4: '100.64.0.0/10', prefixV6: null, allocation: 'sequential' });
      const a = await v4only.addNode(reg('alpha', 1));
      assert.equal(a.ipv6, null);
      assert.deepEqual(await v4only.backfillNodeIPs(), []);

      const both = await Tailnet.load(store, { prefixV4: '100.64.0.0/10', prefixV6: 'fd7a:115c:a1e0::/48', allocation: 'sequential' });
      const changes = await both.backfillNodeIPs();
      assert.equal(changes.length, 1);
      assert.match(changes[0]!, new RegExp(`^assigned IPv6 "fd7a:115c:a1e0::1" to Node\\(${a.id}\\) "alpha"$`));
      assert.equal(both.getNode(a.id).ipv6, 'fd7a:115c:a1e0::1');
      assert.deepEqual(await both.backfillNodeIPs(), [], 'a second run changes nothing');
      // A node added afterwards must not get the backfilled address again.
      const b = await both.addNode(reg('beta', 2));
      assert.notEqual(b.ipv6, 'fd7a:115c:a1e0::1');

      const v6only = await Tailnet.load(store, { prefixV4: null, prefixV6: 'fd7a:115c:a1e0::/48', allocation: 'sequential' });
      const removed = await v6only.backfillNodeIPs();
      assert.deepEqual(removed, [
        `removing IPv4 "${a.ipv4}" from Node(${a.id}) "alpha"`,
        `removing IPv4 "${b.ipv4}" from Node(${b.id}) "beta"`,
      ]);
      const reloaded = await Tailnet.load(store, { prefixV4: null, prefixV6: 'fd7a:115c:a1e0::/48', allocation: 'sequential' });
      assert.equal(reloaded.getNode(a.id).ipv4, null, 'the removal is stored');
      assert.equal(reloaded.getNode(a.id).ipv6, 'fd7a:115c:a1e0::1');
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

function reg(hostname: string, n: number) {
  const hex = (seed: number) => seed.toString(16).padStart(2, '0').repeat(32);
  return {
    machineKey: `mkey:${hex(n + 50)}`,
    nodeKey: `nodekey:${hex(n + 150)}`,
    discoKey: `discokey:${hex(n + 220)}`,
    endpoints: [],
    hostinfo: { Hostname: hostname },
    hostname,
    userId: null,
    registerMethod: 'authkey' as const,
    tags: ['tag:x'],
    authKeyId: null,
    ephemeral: false,
    expiry: null,
    lastSeen: null,
    approvedRoutes: [],
  };
}
