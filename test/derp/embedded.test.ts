// The embedded relay inside the server: its key kept on disk, its region in every node's
// DERP map, admission by the tailnet's node keys (verify_clients), relaying between two
// joined nodes over the main listener, STUN, and the metrics.

import { test } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import dgram from 'node:dgram';
import { useServer } from '../helpers/fixture.js';
import { parsePrivate, publicFromPrivate } from '../../src/noise/keys.js';
import { DerpTestClient, T, newNodeKey } from './client.js';

const f = useServer({
  configure: (c, dir) => {
    c.metrics_listen_addr = '127.0.0.1:0';
    c.server_url = 'https://relay.example.test:8443';
    c.derp.urls = [];
    c.derp.server.enabled = true;
    c.derp.server.verify_clients = true;
    c.derp.server.region_id = 901;
    c.derp.server.region_code = 'sb';
    c.derp.server.region_name = 'Switchboard test';
    c.derp.server.stun_listen_addr = '127.0.0.1:0';
    c.derp.server.ipv4 = '192.0.2.10';
    c.derp.server.private_key_path = path.join(dir, 'derp_server_private.key');
  },
});

/** The node's own key pair, as the DERP client needs it. */
function keyOf(c: { nodePrivateKey: Buffer }) {
  return { priv: c.nodePrivateKey, pub: publicFromPrivate(c.nodePrivateKey) };
}

test('the relay key is created 0600 and kept across restarts', async () => {
  const p = path.join(f.dir, 'derp_server_private.key');
  assert.equal(fs.statSync(p).mode & 0o777, 0o600);
  const key = parsePrivate(fs.readFileSync(p, 'utf8').trim());
  assert.deepEqual(f.srv.server.derp!.relay.publicKey, publicFromPrivate(key));
  await f.restart();
  assert.deepEqual(f.srv.server.derp!.relay.publicKey, publicFromPrivate(key));
});

test('every node gets the embedded region in its DERP map', async () => {
  const c = await f.join('mapped');
  await c.waitFor((nm) => nm.derpMap?.Regions['901'] !== undefined, 5000, 'embedded region');
  const r = c.netmap.derpMap!.Regions['901']!;
  assert.equal(r.RegionCode, 'sb');
  assert.equal(r.RegionName, 'Switchboard test');
  assert.deepEqual(r.Nodes[0], { Name: '901', RegionID: 901, HostName: 'relay.example.test', IPv4: '192.0.2.10', STUNPort: 0, DERPPort: 8443 });
});

test('verify_clients: a node of the tailnet logs in, an unknown key and an expired node are refused', async () => {
  const a = await f.join('v-a');
  const ok = await DerpTestClient.connect(f.url, { key: keyOf(a) });
  assert.deepEqual(ok.serverInfo, { version: 2 });
  ok.close();
  await assert.rejects(DerpTestClient.connect(f.url, { key: newNodeKey() }), /closed while waiting for frame type 3/);
  const b = await f.join('v-b');
  const node = f.srv.server.tailnet.nodeByNodeKey(b.nodeKey)!;
  await f.srv.server.tailnet.expireNode(node.id);
  await assert.rejects(DerpTestClient.connect(f.url, { key: keyOf(b) }), /closed while waiting for frame type 3/);
});

test('verify_clients: a node deleted or expired while connected loses the relay at once', async () => {
  const t = f.srv.server.tailnet;
  const gone = await f.join('d-gone');
  const late = await f.join('d-late');
  const kept = await f.join('d-kept');
  const dGone = await DerpTestClient.connect(f.url, { key: keyOf(gone) });
  const dLate = await DerpTestClient.connect(f.url, { key: keyOf(late) });
  const dKept = await DerpTestClient.connect(f.url, { key: keyOf(kept) });
  await t.deleteNode(t.nodeByNodeKey(gone.nodeKey)!.id);
  assert.equal(await dGone.closedWithin(3000), true, 'deleted node disconnected');
  await t.expireNode(t.nodeByNodeKey(late.nodeKey)!.id);
  assert.equal(await dLate.closedWithin(3000), true, 'expired node disconnected');
  assert.equal(await dKept.closedWithin(300), false, 'others stay');
  dKept.close();
});

test('two joined nodes relay through the main listener; metrics count it', async () => {
  const a = await f.join('r-a');
  const b = await f.join('r-b');
  const da = await DerpTestClient.connect(f.url, { key: keyOf(a) });
  const db = await DerpTestClient.connect(f.url, { key: keyOf(b), websocket: true });
  da.send(db.key.pub, Buffer.from('through switchboard'));
  const got = await db.next(T.RecvPacket);
  assert.deepEqual(got.body.subarray(0, 32), da.key.pub);
  assert.equal(got.body.subarray(32).toString(), 'through switchboard');
  const text = await (await fetch(`${f.srv.server.metricsAddress}/metrics`)).text();
  const value = (name: string) => Number(new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  assert.equal(value('switchboard_derp_clients'), 2);
  assert.ok(value('switchboard_derp_packets_relayed_total') >= 1);
  assert.ok(value('switchboard_derp_bytes_relayed_total') >= 19);
  assert.ok(value('switchboard_derp_connections_total{reason="not_admitted",result="refused"}') >= 2);
  assert.equal(value('switchboard_derp_region_info{region_code="sb",region_id="901"}'), 1);
  da.close();
  db.close();
});

test('STUN answers on stun_listen_addr', async () => {
  const [, port] = /:(\d+)$/.exec(f.srv.server.derp!.stunAddress)!;
  const sock = dgram.createSocket('udp4');
  try {
    const req = Buffer.alloc(20);
    req.writeUInt16BE(1, 0);
    Buffer.from('2112a442', 'hex').copy(req, 4);
    const got = new Promise<Buffer>((r) => sock.once('message', (m) => r(m)));
    sock.send(req, Number(port), '127.0.0.1');
    const res = await got;
    assert.equal(res.readUInt16BE(0), 0x0101);
  } finally {
    sock.close();
  }
});

test('probe endpoints are served on the main listener', async () => {
  assert.equal((await fetch(`${f.url}/derp/probe`)).status, 200);
  assert.equal((await fetch(`${f.url}/generate_204`)).status, 204);
  assert.equal((await fetch(`${f.url}/derp`)).status, 426);
});
