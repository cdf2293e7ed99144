// The DERP mesh: a client holding the relay's mesh key watches connections, forwards and
// closes peers; a client without it (or with a wrong one) gets none of that; two embedded
// relays linked by our mesh client relay between their clients.

import { afterAll as after, beforeAll as before, describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_LIMITS } from '../../src/derp/server/conn.js';
import { MeshClient, parseMeshUrl } from '../../src/derp/server/mesh-client.js';
import { MeshKey, loadOrCreateMeshKey } from '../../src/derp/server/mesh-key.js';
import { DerpTestClient, T, discoPacket, encodeFrame, newNodeKey } from './client.js';
import { startRelay, type RelayHarness } from './harness.js';

const until = async (what: string, fn: () => boolean | Promise<boolean>, ms = 5000) => {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

const KEY = new MeshKey(randomBytes(32).toString('hex'));
const meshInfo = (key = KEY.text) => ({ version: 2, meshKey: key });
const quiet = { info: () => {}, debug: () => {} };

/** Parses a peer present body: key, IP (16 bytes), port, flags. */
function present(body: Buffer): { key: Buffer; ip: Buffer; port: number; flags: number } {
  assert.equal(body.length, 51, 'peer present is 32 + 16 + 2 + 1 bytes');
  return { key: body.subarray(0, 32), ip: body.subarray(32, 48), port: body.readUInt16BE(48), flags: body[50]! };
}

const V4_MAPPED_LOOPBACK = Buffer.from('00000000000000000000ffff7f000001', 'hex');

describe('mesh key file', () => {
  test('generated 0600 with 64 hex digits, then kept; bad content is refused naming the file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshkey-'));
    const p = path.join(dir, 'sub', 'mesh.key');
    const logs: string[] = [];
    const k = loadOrCreateMeshKey(p, (m) => logs.push(m));
    assert.match(k.text, /^[0-9a-f]{64}$/);
    assert.equal(fs.statSync(p).mode & 0o777, 0o600);
    assert.ok(!logs.join('\n').includes(k.text), 'the key is never logged');
    assert.equal(loadOrCreateMeshKey(p, () => {}).text, k.text);
    fs.writeFileSync(p, 'not hex\n');
    assert.throws(() => loadOrCreateMeshKey(p, () => {}), /derp\.server\.mesh_key_path: .*mesh\.key must hold 64 or more hex digits/);
    // derper's files: 64+ hex digits, whitespace trimmed.
    fs.writeFileSync(p, `  ${'ab'.repeat(40)}\n`, { mode: 0o644 });
    assert.equal(loadOrCreateMeshKey(p, () => {}).text, 'ab'.repeat(40));
    assert.equal(fs.statSync(p).mode & 0o777, 0o600, 'loose permissions are tightened');
  });

  test('matches only the exact key text', () => {
    assert.ok(KEY.matches(KEY.text));
    assert.ok(!KEY.matches(KEY.text.slice(0, -1)));
    assert.ok(!KEY.matches(KEY.text + '0'));
    assert.ok(!KEY.matches(''));
    assert.ok(!KEY.matches(42));
    assert.ok(!KEY.matches(undefined));
  });

  test('mesh URLs: /derp by default, ports by scheme, bad ones named', () => {
    assert.deepEqual(parseMeshUrl('https://derp2.example.com'), { secure: true, host: 'derp2.example.com', port: 443, path: '/derp' });
    assert.deepEqual(parseMeshUrl('http://[::1]:8080/derp'), { secure: false, host: '::1', port: 8080, path: '/derp' });
    assert.throws(() => parseMeshUrl('derp2.example.com'), /is not a URL/);
    assert.throws(() => parseMeshUrl('ftp://x/'), /http:\/\/ or https:\/\//);
    assert.throws(() => parseMeshUrl('http://u:p@x/'), /credentials/);
  });
});

describe('a mesh peer on the relay (our test client holding the mesh key)', () => {
  let h: RelayHarness;
  before(async () => (h = await startRelay({ meshKey: KEY, verify: () => 'not in this tailnet' })));
  after(() => h.close());

  test('a mesh key passes admission that would refuse a node; a regular client is still refused', async () => {
    const m = await DerpTestClient.connect(h.url, { info: meshInfo() });
    assert.deepEqual(m.serverInfo, { version: 2 });
    await assert.rejects(DerpTestClient.connect(h.url), /closed/);
    // Re-checking admission (a node removed, a key expired) leaves mesh peers alone.
    h.relay.revalidate();
    assert.equal(await m.closedWithin(300), false, 'the mesh peer stays connected');
    m.close();
  });
});

describe('watching, forwarding and closing peers', () => {
  let h: RelayHarness;
  before(async () => (h = await startRelay({ meshKey: KEY })));
  after(() => h.close());

  test('watch conns: present for everyone connected, then live present and gone', async () => {
    const a = await DerpTestClient.connect(h.url);
    const b = await DerpTestClient.connect(h.url);
    const m = await DerpTestClient.connect(h.url, { info: meshInfo() });
    m.raw(encodeFrame(T.WatchConns));
    const seen = new Map<string, ReturnType<typeof present>>();
    for (let i = 0; i < 3; i++) {
      const p = present((await m.next(T.PeerPresent)).body);
      seen.set(p.key.toString('hex'), p);
    }
    const pa = seen.get(a.key.pub.toString('hex'))!;
    assert.ok(pa, 'a announced');
    assert.ok(seen.has(b.key.pub.toString('hex')), 'b announced');
    assert.deepEqual(pa.ip, V4_MAPPED_LOOPBACK);
    assert.ok(pa.port > 0);
    assert.equal(pa.flags, 1, 'a regular client');
    assert.equal(seen.get(m.key.pub.toString('hex'))?.flags, 2, 'the mesh peer itself, flagged as one');
    await until('one watcher', async () => (await h.metric('switchboard_derp_mesh_watchers')) === 1);

    const c = await DerpTestClient.connect(h.url);
    const pc = present((await m.next(T.PeerPresent)).body);
    assert.deepEqual(pc.key, c.key.pub);
    c.close();
    const g = await m.next(T.PeerGone);
    assert.deepEqual(g.body.subarray(0, 32), c.key.pub);
    assert.equal(g.body[32], 0, 'reason: disconnected');
    for (const x of [a, b, m]) x.close();
    await until('watcher gone', async () => (await h.metric('switchboard_derp_mesh_watchers')) === 0);
  });

  test('a forwarded packet reaches its destination with the original source; replies to it go back to the mesh', async () => {
    const a = await DerpTestClient.connect(h.url);
    const m = await DerpTestClient.connect(h.url, { info: meshInfo() });
    const remote = newNodeKey().pub;
    const p = randomBytes(700);
    m.raw(encodeFrame(T.ForwardPacket, Buffer.concat([remote, a.key.pub, p])));
    const f = await a.next(T.RecvPacket);
    assert.deepEqual(f.body.subarray(0, 32), remote);
    assert.deepEqual(f.body.subarray(32), p);
    assert.equal(await h.metric('switchboard_derp_packets_forwarded_total{direction="in"}'), 1);

    // The relay learns that `remote` lives behind a forwarder; a's reply goes there.
    const got: Buffer[] = [];
    const fwd = { name: 'test', forwardPacket: (src: Buffer, dst: Buffer, pkt: Buffer) => got.push(Buffer.concat([src, dst, pkt])) };
    h.relay.addForwarder(remote, fwd);
    a.send(remote, Buffer.from('back'));
    await until('forwarded out', () => got.length === 1);
    assert.deepEqual(got[0], Buffer.concat([a.key.pub, remote, Buffer.from('back')]));
    assert.equal(await h.metric('switchboard_derp_packets_forwarded_total{direction="out"}'), 1);
    assert.equal(await h.metric('switchboard_derp_mesh_keys'), 1);

    // When the mesh forgets `remote`, a (who heard from it) is told it is gone.
    h.relay.removeForwarder(remote, fwd);
    const g = await a.next(T.PeerGone);
    assert.deepEqual(g.body, Buffer.concat([remote, Buffer.from([0])]));
    a.close();
    m.close();
  });

  test('a forwarded packet for a key not here is dropped (never forwarded on); a disco one gets "not here"', async () => {
    const m = await DerpTestClient.connect(h.url, { info: meshInfo() });
    const got: Buffer[] = [];
    const absent = newNodeKey().pub;
    h.relay.addForwarder(absent, { name: 'loop', forwardPacket: (s) => got.push(s) });
    const before = await h.metric('switchboard_derp_packets_dropped_total{reason="unknown_dest_on_fwd",kind="disco"}');
    m.raw(encodeFrame(T.ForwardPacket, Buffer.concat([newNodeKey().pub, absent, discoPacket()])));
    const g = await m.next(T.PeerGone);
    assert.deepEqual(g.body, Buffer.concat([absent, Buffer.from([1])]));
    assert.equal(await h.metric('switchboard_derp_packets_dropped_total{reason="unknown_dest_on_fwd",kind="disco"}'), before + 1);
    assert.equal(got.length, 0, 'a forwarded packet is not forwarded again');
    m.close();
  });

  test('close peer disconnects every connection of that key', async () => {
    const key = newNodeKey();
    const a1 = await DerpTestClient.connect(h.url, { key });
    const a2 = await DerpTestClient.connect(h.url, { key });
    const m = await DerpTestClient.connect(h.url, { info: meshInfo() });
    m.raw(encodeFrame(T.ClosePeer, key.pub));
    assert.ok(await a1.closedWithin(3000));
    assert.ok(await a2.closedWithin(3000));
    assert.ok(!m.closed);
    m.raw(encodeFrame(T.ClosePeer, newNodeKey().pub)); // not connected: nothing happens
    m.raw(encodeFrame(T.Ping, randomBytes(8)));
    await m.next(T.Pong);
    m.close();
  });

  test('a wrong mesh key gets no privileges and is logged without the key', async () => {
    const wrong = randomBytes(32).toString('hex');
    for (const type of [T.WatchConns, T.ClosePeer, T.ForwardPacket]) {
      const w = await DerpTestClient.connect(h.url, { info: meshInfo(wrong) });
      const body = type === T.WatchConns ? Buffer.alloc(0) : type === T.ClosePeer ? newNodeKey().pub : Buffer.alloc(64 + 4);
      w.raw(encodeFrame(type, body));
      assert.ok(await w.closedWithin(3000), `frame 0x${type.toString(16)} with a wrong mesh key closes the connection`);
    }
    const all = h.logs.join('\n');
    assert.match(all, /presented a mesh key that is not this relay's/);
    assert.ok(!all.includes(wrong) && !all.includes(KEY.text), 'no mesh key in the log');
    // A client with no mesh key at all is cut off too.
    const n = await DerpTestClient.connect(h.url);
    n.raw(encodeFrame(T.WatchConns));
    assert.ok(await n.closedWithin(3000));
  });

  test('malformed mesh frames close the mesh connection', async () => {
    const bad: Array<[string, Buffer]> = [
      ['watch conns with a payload', encodeFrame(T.WatchConns, Buffer.from([0]))],
      ['close peer of 31 bytes', encodeFrame(T.ClosePeer, Buffer.alloc(31))],
      ['forward packet shorter than two keys', encodeFrame(T.ForwardPacket, Buffer.alloc(63))],
      ['forward packet over 64 KiB', encodeFrame(T.ForwardPacket, Buffer.alloc(64 + (64 << 10) + 1))],
    ];
    for (const [what, f] of bad) {
      const m = await DerpTestClient.connect(h.url, { info: meshInfo() });
      m.raw(f);
      assert.ok(await m.closedWithin(3000), what);
    }
    // The largest legal forward is fine.
    const a = await DerpTestClient.connect(h.url);
    const m = await DerpTestClient.connect(h.url, { info: meshInfo() });
    const big = randomBytes(64 << 10);
    m.raw(encodeFrame(T.ForwardPacket, Buffer.concat([newNodeKey().pub, a.key.pub, big])));
    assert.deepEqual((await a.next(T.RecvPacket)).body.subarray(32), big);
    a.close();
    m.close();
  });
});

describe('two embedded relays meshed by our mesh client', () => {
  let r1: RelayHarness;
  let r2: RelayHarness;
  let l1: MeshClient;
  let l2: MeshClient;
  const logs: string[] = [];
  const log = { info: (m: string) => logs.push(m), debug: () => {} };
  before(async () => {
    r1 = await startRelay({ meshKey: KEY, gauges: () => ({ meshPeerCount: l1?.state === 'watching' ? 1 : 0 }) });
    r2 = await startRelay({ meshKey: KEY });
    const backoffMs = { min: 50, max: 200 };
    l1 = new MeshClient({ url: r2.url, relay: r1.relay, meshKey: KEY, stats: r1.stats, limits: DEFAULT_LIMITS, log, backoffMs });
    l2 = new MeshClient({ url: r1.url, relay: r2.relay, meshKey: KEY, stats: r2.stats, limits: DEFAULT_LIMITS, log, backoffMs });
    l1.start();
    l2.start();
    await until('both links watching', () => l1.state === 'watching' && l2.state === 'watching');
  });
  after(async () => {
    l1.close();
    l2.close();
    await r1.close();
    await r2.close();
  });

  test('a client on one relay reaches a client on the other, and back; leaving is noticed across', async () => {
    const a = await DerpTestClient.connect(r1.url);
    const b = await DerpTestClient.connect(r2.url);
    await until('b known on r1', () => l1.keyCount >= 1 && r1.relay.forwardedKeyCount >= 1);
    await until('a known on r2', () => r2.relay.forwardedKeyCount >= 1);
    const p = randomBytes(1000);
    a.send(b.key.pub, p);
    const f = await b.next(T.RecvPacket);
    assert.deepEqual(f.body.subarray(0, 32), a.key.pub);
    assert.deepEqual(f.body.subarray(32), p);
    b.send(a.key.pub, Buffer.from('back'));
    const g = await a.next(T.RecvPacket);
    assert.deepEqual(g.body.subarray(0, 32), b.key.pub);
    assert.equal(g.body.subarray(32).toString(), 'back');
    assert.equal(await r1.metric('switchboard_derp_packets_forwarded_total{direction="out"}'), 1);
    assert.equal(await r2.metric('switchboard_derp_packets_forwarded_total{direction="in"}'), 1);
    assert.equal(await r1.metric('switchboard_derp_mesh_peers'), 1);

    a.close();
    const gone = await b.next(T.PeerGone);
    assert.deepEqual(gone.body, Buffer.concat([a.key.pub, Buffer.from([0])]));
    await until('a forgotten on r2', () => r2.relay.forwardedKeyCount === 0 || !hasForwarder(r2, a.key.pub));
    b.close();
  });

  test('a broken link reconnects and learns the peers again; meanwhile packets are not lost silently', async () => {
    const b = await DerpTestClient.connect(r2.url);
    await until('b known on r1', () => hasForwarder(r1, b.key.pub));
    // Cut r1's link at r2's end: r2 closes every connection it holds, our link among them.
    const r2conns = (r2.relay as unknown as { conns: Set<{ canMesh: boolean; close(e: Error): void }> }).conns;
    for (const c of [...r2conns]) if (c.canMesh) c.close(new Error('test cut'));
    await until('b forgotten on r1', () => !hasForwarder(r1, b.key.pub));
    await until('relearned', () => l1.state === 'watching' && hasForwarder(r1, b.key.pub));
    const a = await DerpTestClient.connect(r1.url);
    a.send(b.key.pub, Buffer.from('after reconnect'));
    assert.equal((await b.next(T.RecvPacket)).body.subarray(32).toString(), 'after reconnect');
    assert.match(logs.join('\n'), /lost the link/);
    a.close();
    b.close();
  });

  test('a link to itself stops for good', async () => {
    const self = new MeshClient({ url: r1.url, relay: r1.relay, meshKey: KEY, stats: r1.stats, limits: DEFAULT_LIMITS, log, backoffMs: { min: 50, max: 50 } });
    self.start();
    await until('self detected', () => self.state === 'self');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(self.state, 'self');
    assert.match(logs.join('\n'), /is this relay itself; not meshing with it/);
    self.close();
  });

  test('a link with the wrong mesh key is refused privileges and keeps retrying', async () => {
    const other = new MeshKey(randomBytes(32).toString('hex'));
    const r3 = await startRelay({ meshKey: other });
    const bad = new MeshClient({ url: r3.url, relay: r1.relay, meshKey: KEY, stats: r1.stats, limits: DEFAULT_LIMITS, log, backoffMs: { min: 50, max: 100 } });
    bad.start();
    await until('refusal logged', () => r3.logs.some((l) => l.includes('not this relay')));
    await until('link dropped', () => bad.state !== 'watching');
    const c = await DerpTestClient.connect(r3.url);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(bad.keyCount, 0, 'learned nothing');
    assert.ok(!hasForwarder(r1, c.key.pub));
    bad.close();
    c.close();
    await r3.close();
  });
});

function hasForwarder(h: RelayHarness, key: Buffer): boolean {
  return (h.relay as unknown as { forwarders: Map<string, unknown[]> }).forwarders.has(key.toString('latin1'));
}

describe('a stalled mesh peer', () => {
  test('costs the link a bounded queue, the excess dropped and counted; the write timeout drops the link', async () => {
    const r1 = await startRelay({ meshKey: KEY });
    const r2 = await startRelay({ meshKey: KEY });
    const limits = { ...DEFAULT_LIMITS, meshWriteTimeoutMs: 1000 };
    const logs: string[] = [];
    const link = new MeshClient({ url: r2.url, relay: r1.relay, meshKey: KEY, stats: r1.stats, limits, log: { info: (m) => logs.push(m), debug: () => {} }, backoffMs: { min: 60_000, max: 60_000 } });
    try {
      link.start();
      await until('watching', () => link.state === 'watching');
      // r2 stops reading the link: the kernel's buffers fill, then ours.
      for (const c of (r2.relay as unknown as { conns: Set<{ canMesh: boolean; stream: { pause(): void } }> }).conns) if (c.canMesh) c.stream.pause();
      const src = newNodeKey().pub;
      const dst = newNodeKey().pub;
      const packet = Buffer.alloc(60 << 10);
      let maxQueued = 0;
      const end = Date.now() + 10_000;
      while (link.state === 'watching' && Date.now() < end) {
        for (let i = 0; i < 50; i++) link.forwardPacket(src, dst, packet);
        maxQueued = Math.max(maxQueued, (link as unknown as { data: unknown[] }).data.length);
        await new Promise((r) => setImmediate(r));
      }
      assert.notEqual(link.state, 'watching', 'the link was dropped');
      assert.ok(maxQueued <= DEFAULT_LIMITS.queueDepth, `queued ${maxQueued}`);
      assert.ok((await r1.metric('switchboard_derp_packets_dropped_total{reason="queue_head",kind="other"}')) > 0, 'drops counted');
      assert.match(logs.join('\n'), /write timeout: the peer read nothing for 1000 ms/);
    } finally {
      link.close();
      await r1.close();
      await r2.close();
    }
  });
});

describe('our mesh client against bad relays', () => {
  /** A TCP server answering each connection with `reply` (or silence). */
  async function fakeRelay(reply: Buffer | null): Promise<{ url: string; close(): Promise<void> }> {
    const net = await import('node:net');
    const socks = new Set<import('node:net').Socket>();
    const s = net.createServer((c) => {
      socks.add(c);
      c.on('error', () => {});
      c.once('data', () => reply && c.write(reply));
    });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    return {
      url: `http://127.0.0.1:${(s.address() as import('node:net').AddressInfo).port}`,
      close: async () => {
        for (const c of socks) c.destroy();
        await new Promise<void>((r) => s.close(() => r()));
      },
    };
  }

  const cases: Array<[string, Buffer | null, RegExp]> = [
    ['a relay that never answers', null, /not logged in within 200 ms/],
    ['a web server that refuses the upgrade', Buffer.from('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n'), /upgrade refused: HTTP\/1\.1 404 Not Found/],
    ['a 101 followed by a frame other than the server key', Buffer.concat([Buffer.from('HTTP/1.1 101 Switching Protocols\r\nUpgrade: DERP\r\n\r\n'), encodeFrame(T.RecvPacket, Buffer.alloc(40))]), /expected the server key frame first, got frame type 0x5/],
    ['a server key frame without the magic', Buffer.concat([Buffer.from('HTTP/1.1 101 Switching Protocols\r\n\r\n'), encodeFrame(T.ServerKey, Buffer.alloc(40))]), /without the DERP magic/],
    ['an oversized server key frame', Buffer.concat([Buffer.from('HTTP/1.1 101 Switching Protocols\r\n\r\n'), encodeFrame(T.ServerKey, Buffer.alloc(5000))]), /server key frame of 5000 bytes/],
  ];
  for (const [what, reply, why] of cases) {
    test(`${what}: the link fails with a clear reason and retries`, async () => {
      const fake = await fakeRelay(reply);
      const r1 = await startRelay({ meshKey: KEY });
      const logs: string[] = [];
      const link = new MeshClient({ url: fake.url, relay: r1.relay, meshKey: KEY, stats: r1.stats, limits: DEFAULT_LIMITS, log: { info: (m) => logs.push(m), debug: (m) => logs.push(m) }, backoffMs: { min: 30, max: 30 }, loginTimeoutMs: 200 });
      try {
        link.start();
        await until('failure logged', () => logs.some((l) => why.test(l)), 3000);
        await until('a second attempt', () => logs.filter((l) => why.test(l)).length >= 2, 3000);
        assert.notEqual(link.state, 'watching');
        assert.ok(!logs.join('\n').includes(KEY.text), 'the mesh key is never logged');
      } finally {
        link.close();
        await fake.close();
        await r1.close();
      }
    });
  }
});

describe('forwarders and watchers, at the relay', () => {
  let h: RelayHarness;
  before(async () => (h = await startRelay({ meshKey: KEY, limits: { socketBufferBytes: 256 } })));
  after(() => h.close());

  test('a key announced by two mesh peers uses the first, falls back to the second, and is gone only when both forget it', async () => {
    const a = await DerpTestClient.connect(h.url);
    const k = newNodeKey().pub;
    const via: string[] = [];
    const f1 = { name: 'one', forwardPacket: () => via.push('one') };
    const f2 = { name: 'two', forwardPacket: () => via.push('two') };
    h.relay.addForwarder(k, f1);
    h.relay.addForwarder(k, f2);
    h.relay.addForwarder(k, f1); // a repeated announcement changes nothing
    // a hears from k (forwarded in), so it is told when k leaves the region.
    const m = await DerpTestClient.connect(h.url, { info: meshInfo() });
    m.raw(encodeFrame(T.ForwardPacket, Buffer.concat([k, a.key.pub, Buffer.from('hi')])));
    await a.next(T.RecvPacket);
    a.send(k, Buffer.from('1'));
    await until('via one', () => via.length === 1);
    h.relay.removeForwarder(k, f1);
    a.send(k, Buffer.from('2'));
    await until('via two', () => via.length === 2);
    assert.deepEqual(via, ['one', 'two']);
    await assert.rejects(a.next(T.PeerGone, 200), /no frame/, 'still in the region');
    h.relay.removeForwarder(k, f2);
    assert.deepEqual((await a.next(T.PeerGone)).body, Buffer.concat([k, Buffer.from([0])]));
    a.close();
    m.close();
  });

  test('a watcher that reads nothing holds at most one pending notice per key: the latest', async () => {
    // A stream whose writes never complete while stuck: the relay's buffer fills at once.
    const { Duplex } = await import('node:stream');
    const out: Buffer[] = [];
    const pending: Array<() => void> = [];
    let stuck = false;
    const pipe = new Duplex({
      writableHighWaterMark: 64, // below the relay's buffer limit, so 'drain' comes as on a socket
      read() {},
      write(chunk: Buffer, _enc, cb) {
        out.push(chunk);
        if (stuck) pending.push(cb);
        else cb();
      },
    });
    const me = newNodeKey();
    h.relay.accept(pipe, '127.0.0.1:1');
    await until('server key', () => out.length > 0);
    const serverKey = Buffer.concat(out).subarray(5 + 8, 5 + 40);
    const { sealTo } = await import('./client.js');
    pipe.push(encodeFrame(T.ClientInfo, Buffer.concat([me.pub, sealTo(me.priv, serverKey, Buffer.from(JSON.stringify(meshInfo())))])));
    await until('server info', () => Buffer.concat(out).length > 45);
    pipe.push(encodeFrame(T.WatchConns));
    await until('watching', () => h.relay.meshWatcherCount === 1);
    stuck = true;
    const conn = [...(h.relay as unknown as { conns: Set<{ key: Buffer; queuedPackets: number }> }).conns].find((c) => c.key.equals(me.pub))!;
    const keys: Buffer[] = [];
    for (let i = 0; i < 20; i++) {
      const c = await DerpTestClient.connect(h.url);
      keys.push(c.key.pub);
      c.close();
    }
    await until('all 20 gone', () => h.relay.clientCount === 1);
    assert.ok(conn.queuedPackets <= 20, `${conn.queuedPackets} notices pending for 20 keys (40 changes)`);
    // Unstick: what arrives ends with "gone" for every key.
    const before = Buffer.concat(out).length;
    stuck = false;
    for (const cb of pending.splice(0)) cb();
    await until('drained', () => conn.queuedPackets === 0);
    const rest = Buffer.concat(out).subarray(before);
    const last = new Map<string, number>();
    for (let off = 0; off + 5 <= rest.length; ) {
      const type = rest[off]!;
      const len = rest.readUInt32BE(off + 1);
      if (type === T.PeerPresent || type === T.PeerGone) last.set(rest.subarray(off + 5, off + 37).toString('hex'), type);
      off += 5 + len;
    }
    for (const k of keys) {
      const t = last.get(k.toString('hex'));
      if (t !== undefined) assert.equal(t, T.PeerGone, 'the last word on a key that left is "gone"');
    }
    pipe.destroy();
  });
});
