// Bad input to /machine/*: each is refused with a message naming the problem, and
// nothing about the tailnet changes.

import { describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { testBackends } from '../helpers/databases.js';
import { useServer } from '../helpers/fixture.js';

for (const backend of testBackends()) {
  describe(`bad input to the control protocol (${backend.name})`, () => {
    const f = useServer({ db: () => backend.storeOpts() });
    const client = (hostname: string) => f.client(hostname);
    const nodeCount = () => f.srv.server.tailnet.nodeCount();
    const newKey = (o: { reusable?: boolean; expiration?: Date | null } = {}) =>
      f.srv.server.tailnet.createPreAuthKey({ userId: 1, reusable: o.reusable ?? false, ephemeral: false, expiration: o.expiration ?? null, tags: [] });

    test('an unknown key is refused with a clear Error and creates nothing', async () => {
      const before = nodeCount();
      const bogus = 'hskey-auth-AAAAAAAAAAAA-' + 'B'.repeat(64);
      const r = await client('x1').register({ authKey: bogus });
      assert.equal(r.MachineAuthorized, false);
      assert.match(r.Error, /invalid pre-auth key/);
      const r2 = await client('x2').register({ authKey: 'not-a-key-at-all' });
      assert.match(r2.Error, /invalid pre-auth key/);
      assert.equal(nodeCount(), before);
    });

    test('an expired or revoked key is refused', async () => {
      const before = nodeCount();
      const { key, record } = await newKey({ expiration: new Date(Date.now() + 60_000) });
      await f.srv.server.tailnet.expirePreAuthKey({ id: record.id });
      const r = await client('x3').register({ authKey: key });
      assert.match(r.Error, /expired/);
      assert.equal(nodeCount(), before);
    });

    test('a single-use key works once, then is refused', async () => {
      const { key } = await newKey();
      const ok = await client('once').register({ authKey: key });
      assert.equal(ok.MachineAuthorized, true);
      const before = nodeCount();
      const again = await client('twice').register({ authKey: key });
      assert.match(again.Error, /already been used/);
      assert.equal(nodeCount(), before);
    });

    test('a single-use key raced from many clients registers exactly one node', async () => {
      const { key } = await newKey();
      const before = nodeCount();
      const racers = Array.from({ length: 8 }, (_, i) => client(`racer${i}`));
      await Promise.all(racers.map((c) => c.connect()));
      const results = await Promise.all(racers.map((c) => c.register({ authKey: key })));
      const winners = results.filter((r) => r.MachineAuthorized);
      assert.equal(winners.length, 1, JSON.stringify(results.map((r) => r.Error)));
      for (const r of results) if (!r.MachineAuthorized) assert.match(r.Error, /already been used/);
      assert.equal(nodeCount(), before + 1);
    });

    test('malformed bodies get 400 and oversized ones 413, naming the problem', async () => {
      const c = client('garbage');
      const before = nodeCount();
      let r = await c.post('/machine/register', '{"Version": 113, "NodeKey": ');
      assert.equal(r.status, 400);
      assert.match(r.body.toString(), /RegisterRequest: malformed JSON/);
      r = await c.post('/machine/register', '[1,2,3]');
      assert.equal(r.status, 400);
      assert.match(r.body.toString(), /expected a JSON object/);
      r = await c.post('/machine/register', { Version: 113, NodeKey: 'nodekey:xyz' });
      assert.equal(r.status, 400);
      assert.match(r.body.toString(), /^NodeKey: /);
      r = await c.post('/machine/register', { Version: 100, NodeKey: c.nodeKey });
      assert.equal(r.status, 400);
      assert.match(r.body.toString(), /capability version 100 is too old/);
      r = await c.post('/machine/register', { Version: 113, NodeKey: c.nodeKey, Auth: 'key' });
      assert.equal(r.status, 400);
      assert.match(r.body.toString(), /^Auth: expected an object/);
      r = await c.post('/machine/map', { Version: 113, NodeKey: c.nodeKey, Compress: 'gzip' });
      assert.equal(r.status, 400);
      assert.match(r.body.toString(), /Compress: unsupported compression/);
      r = await c.post('/machine/register', Buffer.alloc(2 << 20, 0x20));
      assert.equal(r.status, 413);
      assert.match(r.body.toString(), /larger than/);
      assert.equal(nodeCount(), before);
    });

    test('an oversized Hostinfo is refused naming the field and bound; a large real one passes', async () => {
      const { key } = await newKey({ reusable: true });
      const before = nodeCount();
      const c = client('bloat');
      const reg = (Hostinfo: unknown) => c.post('/machine/register', { Version: 113, NodeKey: c.nodeKey, Auth: { AuthKey: key }, Hostinfo });
      const cases: Array<[unknown, RegExp]> = [
        [{ Hostname: 'h'.repeat(300) }, /^Hostinfo\.Hostname: 300 characters, at most 256/],
        [{ Hostname: 'ok', OSVersion: 'x'.repeat(900_000) }, /^Hostinfo: \d+ bytes of JSON, at most 65536/],
        [{ RoutableIPs: Array.from({ length: 2000 }, (_, i) => `10.${i >> 8}.${i & 255}.0/24`) }, /^Hostinfo\.RoutableIPs: 2000 entries, at most 1024/],
        [{ RequestTags: ['tag:a', 7] }, /^Hostinfo\.RequestTags\[1\]: expected a string/],
        [{ Services: [{ Proto: 'tcp', Port: 22, Description: 'd'.repeat(1000) }] }, /^Hostinfo\.Services\[0\]\.Description: 1000 characters/],
        [{ NetInfo: { DERPLatency: Object.fromEntries(Array.from({ length: 600 }, (_, i) => [`${i}-v4`, 0.01])) } }, /^Hostinfo\.NetInfo\.DERPLatency: 600 entries/],
        [{ Env: 'e'.repeat(257) }, /^Hostinfo\.Env: 257 characters, at most 256/],
      ];
      for (const [hostinfo, want] of cases) {
        const r = await reg(hostinfo);
        assert.equal(r.status, 400, JSON.stringify(hostinfo).slice(0, 80));
        assert.match(r.body.toString(), want);
      }
      assert.equal(nodeCount(), before, 'no node from a refused registration');
      // A big but real host: many services, four SSH host keys, thirty DERP regions.
      const real = {
        Hostname: 'buildbox',
        OS: 'linux',
        OSVersion: 'Debian 12.8 (bookworm); kernel=6.1.0-28-amd64',
        Services: Array.from({ length: 300 }, (_, i) => ({ Proto: 'tcp', Port: 1000 + i, Description: `svc-${i}` })),
        SSH_HostKeys: Array.from({ length: 4 }, (_, i) => `ssh-rsa ${'A'.repeat(700)}${i}`),
        NetInfo: { PreferredDERP: 1, DERPLatency: Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`${i + 1}-v4`, 0.02])) },
      };
      const ok = await reg(real);
      assert.equal(ok.status, 200, ok.body.toString());
      const node = f.srv.server.tailnet.nodeByNodeKey(c.nodeKey)!;
      assert.equal(node.hostinfo.Services?.length, 300);
      // The same bound holds on map requests, and the stored Hostinfo stays as it was.
      const m = await c.post('/machine/map', { Version: 113, NodeKey: c.nodeKey, Stream: false, OmitPeers: true, Hostinfo: { Hostname: 'x'.repeat(10_000) } });
      assert.equal(m.status, 400);
      assert.match(m.body.toString(), /^Hostinfo\.Hostname: 10000 characters/);
      const e = await c.post('/machine/map', { Version: 113, NodeKey: c.nodeKey, Stream: false, OmitPeers: true, Endpoints: Array.from({ length: 500 }, (_, i) => `192.0.2.1:${i}`) });
      assert.equal(e.status, 400);
      assert.match(e.body.toString(), /^Endpoints: 500 entries, at most 128/);
      assert.equal(f.srv.server.tailnet.nodeByNodeKey(c.nodeKey)!.hostinfo.Hostname, 'buildbox');
    });

    test('a map request must come from the machine that owns the node key', async () => {
      const { key } = await newKey();
      const owner = client('owner');
      await owner.register({ authKey: key });
      const thief = client('thief');
      const r = await thief.post('/machine/map', { Version: 113, NodeKey: owner.nodeKey, Stream: false, OmitPeers: true, Endpoints: ['1.2.3.4:5'] });
      assert.equal(r.status, 401);
      assert.match(r.body.toString(), /another machine/);
      const node = f.srv.server.tailnet.nodeByNodeKey(owner.nodeKey)!;
      assert.deepEqual(node.endpoints, [], 'nothing recorded from the impostor');
      const unknown = await thief.post('/machine/map', { Version: 113, NodeKey: thief.nodeKey, Stream: true });
      assert.equal(unknown.status, 401);
      assert.match(unknown.body.toString(), /not registered/);
    });

    test('endpoints without an implementation answer honestly', async () => {
      const c = client('misc');
      assert.equal((await c.post('/machine/set-dns', {})).status, 501);
      assert.equal((await c.post('/machine/set-device-attr', {})).status, 501);
      assert.equal((await c.post('/machine/update-health', { Warnings: {} })).status, 200);
      const r = await c.post('/machine/nope', {});
      assert.equal(r.status, 404);
      assert.match(r.body.toString(), /unknown control endpoint/);
    });

    test('a non-streaming map request with peers gets one full map', async () => {
      const { key } = await newKey();
      const c = client('oneshot');
      await c.register({ authKey: key });
      const m = await c.fetchMap();
      assert.ok(m.Node);
      assert.ok(Array.isArray(m.Peers));
      assert.ok(m.Peers!.length >= 1);
      const ids = m.Peers!.map((p) => p.ID);
      assert.deepEqual(ids, [...ids].sort((a, b) => a - b), 'peers sorted by ID');
    });
  });
}
