// The mesh inside the server: derp.server.mesh_key_path and mesh_with as configured, a link
// from the server's relay to another relay (a harness relay holding the same key, linked
// back by a mesh client of its own), a node of the tailnet reaching a client there, and
// the mesh metrics on the server's /metrics.

import { afterAll as after, beforeAll as before, test } from 'vitest';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { useServer } from '../helpers/fixture.js';
import { publicFromPrivate } from '../../src/noise/keys.js';
import { DEFAULT_LIMITS } from '../../src/derp/server/conn.js';
import { MeshClient } from '../../src/derp/server/mesh-client.js';
import { MeshKey } from '../../src/derp/server/mesh-key.js';
import { DerpTestClient, T } from './client.js';
import { startRelay, type RelayHarness } from './harness.js';

const until = async (what: string, fn: () => boolean | Promise<boolean>, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

const keyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'embedded-mesh-'));
const keyFile = path.join(keyDir, 'derp_mesh.key');
const key = new MeshKey(randomBytes(32).toString('hex'));
fs.writeFileSync(keyFile, key.text + '\n', { mode: 0o600 });
// The other relay of the region, up before the server starts so mesh_with can name it.
const peer: RelayHarness = await startRelay({ meshKey: key });

const f = useServer({
  configure: (c, dir) => {
    c.metrics_listen_addr = '127.0.0.1:0';
    c.derp.urls = [];
    c.derp.server.enabled = true;
    c.derp.server.verify_clients = true;
    c.derp.server.stun_listen_addr = '127.0.0.1:0';
    c.derp.server.private_key_path = path.join(dir, 'derp_server_private.key');
    c.derp.server.mesh_key_path = keyFile;
    c.derp.server.mesh_with = [peer.url];
  },
});

let back: MeshClient;
before(() => {
  back = new MeshClient({ url: f.url, relay: peer.relay, meshKey: key, stats: peer.stats, limits: DEFAULT_LIMITS, log: { info: () => {}, debug: () => {} }, backoffMs: { min: 50, max: 200 } });
  back.start();
});
after(async () => {
  back?.close();
  await peer.close();
  fs.rmSync(keyDir, { recursive: true, force: true });
});

test('the server links to mesh_with and admits the peer\'s link past verify_clients; a node reaches a client on the peer and back', async () => {
  const derp = f.srv.server.derp!;
  await until('server link watching', () => derp.mesh.length === 1 && derp.mesh[0]!.state === 'watching');
  await until('peer link watching', () => back.state === 'watching');

  const node = await f.join('mesh-a');
  const a = await DerpTestClient.connect(f.url, { key: { priv: node.nodePrivateKey, pub: publicFromPrivate(node.nodePrivateKey) } });
  const b = await DerpTestClient.connect(peer.url); // not a node of the tailnet: the peer relay does not check
  await until('b known to the server', () => derp.relay.forwardedKeyCount >= 1);
  await until('a known to the peer', () => peer.relay.forwardedKeyCount >= 1);
  a.send(b.key.pub, Buffer.from('from a node'));
  const got = await b.next(T.RecvPacket);
  assert.deepEqual(got.body.subarray(0, 32), a.key.pub);
  assert.equal(got.body.subarray(32).toString(), 'from a node');
  b.send(a.key.pub, Buffer.from('from the peer'));
  assert.equal((await a.next(T.RecvPacket)).body.subarray(32).toString(), 'from the peer');

  const text = await (await fetch(`${f.srv.server.metricsAddress}/metrics`)).text();
  const value = (name: string) => Number(new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  assert.equal(value('switchboard_derp_mesh_peers'), 1);
  assert.equal(value('switchboard_derp_mesh_watchers'), 1);
  assert.equal(value('switchboard_derp_packets_forwarded_total{direction="out"}'), 1);
  assert.equal(value('switchboard_derp_packets_forwarded_total{direction="in"}'), 1);
  a.close();
  b.close();
});

test('a restart keeps the mesh key file as it was and links again', async () => {
  const before = fs.readFileSync(keyFile, 'utf8');
  await f.restart();
  assert.equal(fs.readFileSync(keyFile, 'utf8'), before);
  await until('server link watching again', () => f.srv.server.derp!.mesh[0]?.state === 'watching');
});
