// End to end over real TCP on loopback: our TypeScript client speaks Noise, HTTP/2
// and zstd to a real server backed by a real database, on every test backend.

import { describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { testBackends } from '../helpers/databases.js';
import { useServer } from '../helpers/fixture.js';

// Both HTTP/2 clients: ours (the default) and node:http2's, an independent implementation.
for (const backend of testBackends()) {
  for (const http2 of ['builtin', 'node'] as const) {
    describe(`join and reach each other (${backend.name}, ${http2} HTTP/2 client)`, () => {
      const f = useServer({ db: () => backend.storeOpts() });
      const clients = f.clients;
      const client = (hostname: string) => f.client(hostname, { http2 });

      test('first start creates a default user and a reusable key that joins two nodes', async () => {
        assert.ok(f.srv.bootstrap, 'bootstrap info on first start');
        assert.match(f.srv.bootstrap.command, /^tailscale up --login-server http:\/\/127\.0\.0\.1:8080 --authkey hskey-auth-/);
        const a = client('alpha');
        const b = client('beta');
        const ra = await a.register({ authKey: f.srv.bootstrap.key });
        const rb = await b.register({ authKey: f.srv.bootstrap.key });
        assert.equal(ra.Error, '');
        assert.equal(ra.MachineAuthorized, true);
        assert.equal(rb.MachineAuthorized, true);
        assert.equal(ra.Login.LoginName, 'default');

        const first = await a.startStream();
        assert.ok(first.Node, 'first map carries Node');
        assert.ok(first.DERPMap, 'first map carries DERPMap');
        assert.ok(first.PacketFilters, 'first map carries PacketFilters');
        assert.ok(first.ControlTime);
        assert.equal(first.Node!.Name, 'alpha.switchboard.internal.');
        assert.deepEqual(first.Node!.Addresses, ['100.64.0.1/32', 'fd7a:115c:a1e0::1/128']);
        await b.startStream();
        await a.waitFor((nm) => nm.peerByName('beta')?.Online === true, 5000, 'beta online at alpha');
        await b.waitFor((nm) => nm.peerByName('alpha')?.Online === true, 5000, 'alpha online at beta');
        assert.equal(b.netmap.peerByName('alpha')!.Name, 'alpha.switchboard.internal.');
        assert.equal(b.netmap.peerByName('alpha')!.Cap, 113, "a peer carries its client's capability version");
        assert.equal(first.Node!.Cap, 113);
      });

      test('endpoints and disco key from a lite update reach the peer within a second', async () => {
        const [a, b] = clients;
        b!.endpoints = ['127.0.0.1:41641', '[::1]:41641'];
        const t0 = Date.now();
        await b!.liteUpdate();
        await a!.waitFor(
          (nm) => JSON.stringify(nm.peerByName('beta')?.Endpoints) === JSON.stringify(b!.endpoints),
          1000,
          'beta endpoints at alpha',
        );
        assert.ok(Date.now() - t0 < 1000);
        assert.equal(a!.netmap.peerByName('beta')!.DiscoKey, b!.discoKey);
      });

      test('a hostinfo change reaches the peer as a full node', async () => {
        const [a, b] = clients;
        b!.hostinfo = { ...b!.hostinfo, OSVersion: '6.1-test' };
        await b!.liteUpdate();
        await a!.waitFor((nm) => nm.peerByName('beta')?.Hostinfo.OSVersion === '6.1-test', 2000, 'beta hostinfo at alpha');
      });

      test('a stopped client shows offline at its peer', async () => {
        const [a, b] = clients;
        b!.close();
        await a!.waitFor((nm) => nm.peerByName('beta')?.Online === false, 5000, 'beta offline at alpha');
      });

      test('after a server restart clients reconnect, keep addresses and names, and see each other again', async () => {
        const [a, b] = clients;
        const addrA = a!.netmap.self!.Addresses;
        a!.close();
        await f.restart();
        assert.equal(f.srv.bootstrap, null, 'no second bootstrap');
        const ra = await a!.register();
        assert.equal(ra.MachineAuthorized, true);
        const first = await a!.startStream();
        assert.deepEqual(first.Node!.Addresses, addrA);
        await b!.register();
        await b!.startStream();
        await a!.waitFor((nm) => nm.peerByName('beta')?.Online === true, 5000, 'beta online after restart');
        await b!.waitFor((nm) => nm.peerByName('alpha')?.Online === true, 5000, 'alpha online after restart');
      });

      test('a node-key rotation keeps the node and tells peers the new key', async () => {
        const [a, b] = clients;
        const before = a!.netmap.self!.ID;
        b!.stopStream();
        // A new key without credentials is a login (`--force-reauth`): approve it, as an admin would.
        const r = await b!.rotateNodeKey();
        assert.equal(r.MachineAuthorized, false);
        const id = new URL(r.AuthURL).pathname.split('/').pop()!;
        const waiting = b!.register({ followup: r.AuthURL });
        await f.srv.server.webLogin.approve(id);
        assert.equal((await waiting).MachineAuthorized, true);
        await b!.startStream();
        assert.equal(b!.netmap.self!.Key, b!.nodeKey);
        await a!.waitFor((nm) => nm.peerByName('beta')?.Key === b!.nodeKey, 3000, 'new key at alpha');
        assert.equal(a!.netmap.self!.ID, before);
      });

      test('logout expires the node; its peer learns it', async () => {
        const [a, b] = clients;
        b!.stopStream();
        const r = await b!.logout();
        assert.equal(r.NodeKeyExpired, true);
        const node = f.srv.server.tailnet.nodeByNodeKey(b!.nodeKey)!;
        assert.ok(node.expiry && node.expiry.getTime() <= Date.now());
        await a!.waitFor((nm) => {
          const p = nm.peerByName('beta');
          return !!p && p.KeyExpiry !== '0001-01-01T00:00:00Z' && new Date(p.KeyExpiry).getTime() <= Date.now();
        }, 3000, 'beta expired at alpha');
        // The expired key is not taken back: the client is told to make a new one and log in.
        const again = await b!.register();
        assert.equal(again.NodeKeyExpired, true);
        assert.equal(again.MachineAuthorized, false);
      });

      test('a deleted node disappears from its peers', async () => {
        const [a] = clients;
        const c = client('gamma');
        const { key } = await f.srv.server.tailnet.createPreAuthKey({ userId: 1, reusable: false, ephemeral: false, expiration: null, tags: [] });
        await c.register({ authKey: key });
        await c.startStream();
        await a!.waitFor((nm) => !!nm.peerByName('gamma'), 3000, 'gamma at alpha');
        const id = f.srv.server.tailnet.nodeByNodeKey(c.nodeKey)!.id;
        await f.srv.server.tailnet.deleteNode(id);
        await a!.waitFor((nm) => !nm.peerByName('gamma'), 3000, 'gamma removed at alpha');
        const ended = await c.streamDone;
        assert.equal(ended, null, "the deleted node's stream was closed");
      });
    });
  }
}
