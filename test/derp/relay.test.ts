// The DERP protocol against the relay, driven by the tests' own client: login, relaying,
// ping, peer gone, duplicate keys, flow control, and bad input of every kind.

import { afterAll as after, beforeAll as before, describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import nacl from 'tweetnacl';
import { DerpTestClient, T, discoPacket, encodeFrame, newNodeKey, sealTo } from './client.js';
import { startRelay, type RelayHarness } from './harness.js';

const until = async (what: string, fn: () => boolean | Promise<boolean>, ms = 3000) => {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('login and relaying', () => {
  let h: RelayHarness;
  before(async () => (h = await startRelay()));
  after(() => h.close());

  test('server key, sealed client info, server info; the 101 names version and key', async () => {
    const c = await DerpTestClient.connect(h.url);
    assert.match(c.headers, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
    assert.match(c.headers, /\r\nUpgrade: DERP\r\n/i);
    assert.match(c.headers, /\r\nDerp-Version: 2\r\n/i);
    assert.ok(c.headers.includes(`Derp-Public-Key: ${h.relay.publicKey.toString('hex')}`));
    assert.deepEqual(c.serverKey, h.relay.publicKey);
    assert.deepEqual(c.serverInfo, { version: 2 });
    await until('registered', () => h.relay.clientCount === 1);
    c.close();
    await until('unregistered', () => h.relay.clientCount === 0);
  });

  test('a packet goes to its destination with the source key in front, and back', async () => {
    const a = await DerpTestClient.connect(h.url);
    const b = await DerpTestClient.connect(h.url);
    const p = randomBytes(1200);
    a.send(b.key.pub, p);
    const f = await b.next(T.RecvPacket);
    assert.deepEqual(f.body.subarray(0, 32), a.key.pub);
    assert.deepEqual(f.body.subarray(32), p);
    b.send(a.key.pub, Buffer.from('pong'));
    const g = await a.next(T.RecvPacket);
    assert.equal(g.body.subarray(32).toString(), 'pong');
    assert.ok((await h.metric('switchboard_derp_packets_relayed_total')) >= 2);
    assert.ok((await h.metric('switchboard_derp_bytes_relayed_total')) >= 1204);
    a.close();
    b.close();
  });

  test('a packet of the full 64 KiB is relayed; an empty one too', async () => {
    const a = await DerpTestClient.connect(h.url);
    const b = await DerpTestClient.connect(h.url);
    const big = randomBytes(64 << 10);
    a.send(b.key.pub, big);
    a.send(b.key.pub, Buffer.alloc(0));
    assert.deepEqual((await b.next(T.RecvPacket)).body.subarray(32), big);
    assert.equal((await b.next(T.RecvPacket)).body.length, 32);
    a.close();
    b.close();
  });

  test('ping is answered with a pong carrying the same 8 bytes', async () => {
    const a = await DerpTestClient.connect(h.url);
    const data = randomBytes(8);
    a.raw(encodeFrame(T.Ping, data));
    assert.deepEqual((await a.next(T.Pong)).body, data);
    a.close();
  });

  test('when a sender leaves, those it sent to hear peer gone (disconnected)', async () => {
    const a = await DerpTestClient.connect(h.url);
    const b = await DerpTestClient.connect(h.url);
    a.send(b.key.pub, Buffer.from('hi'));
    await b.next(T.RecvPacket);
    a.close();
    const g = await b.next(T.PeerGone);
    assert.deepEqual(g.body.subarray(0, 32), a.key.pub);
    assert.equal(g.body[32], 0x00);
    b.close();
  });

  test('disco to an absent key earns peer gone (not here), rate limited; other packets are dropped silently', async () => {
    const a = await DerpTestClient.connect(h.url);
    const nobody = newNodeKey().pub;
    const before = (await h.metric('switchboard_derp_packets_dropped_total{kind="other",reason="unknown_dest"}'));
    a.send(nobody, Buffer.from('data'));
    for (let i = 0; i < 6; i++) a.send(nobody, discoPacket());
    const g = await a.next(T.PeerGone);
    assert.deepEqual(g.body.subarray(0, 32), nobody);
    assert.equal(g.body[32], 0x01);
    await until('drops counted', async () => (await h.metric('switchboard_derp_packets_dropped_total{kind="disco",reason="unknown_dest"}')) >= 6);
    assert.equal((await h.metric('switchboard_derp_packets_dropped_total{kind="other",reason="unknown_dest"}')), before + 1);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(a.frames.filter((f) => f.type === T.PeerGone).length, 2, 'a burst of 3 answers, then at most one a second');
    a.close();
  });

  test('note preferred is counted as a home client', async () => {
    const a = await DerpTestClient.connect(h.url);
    a.raw(encodeFrame(T.NotePreferred, Buffer.from([1])));
    await until('home client', async () => (await h.metric('switchboard_derp_home_clients')) === 1);
    a.close();
    await until('gone', async () => (await h.metric('switchboard_derp_home_clients')) === 0);
  });

  test('two connections of one key: the newest receives, and the older takes over when it leaves', async () => {
    const key = newNodeKey();
    const old = await DerpTestClient.connect(h.url, { key });
    const neu = await DerpTestClient.connect(h.url, { key });
    const a = await DerpTestClient.connect(h.url);
    a.send(key.pub, Buffer.from('one'));
    assert.equal((await neu.next(T.RecvPacket)).body.subarray(32).toString(), 'one');
    neu.close();
    await until('one left', () => h.relay.clientCount === 2);
    a.send(key.pub, Buffer.from('two'));
    assert.equal((await old.next(T.RecvPacket)).body.subarray(32).toString(), 'two');
    assert.equal(old.frames.length, 0);
    old.close();
    a.close();
  });

  test('unknown frame types are skipped however long, and the connection keeps working', async () => {
    const a = await DerpTestClient.connect(h.url);
    a.raw(encodeFrame(0x7f, randomBytes(2 << 20)));
    a.raw(encodeFrame(T.KeepAlive));
    const data = randomBytes(8);
    a.raw(encodeFrame(T.Ping, data));
    assert.deepEqual((await a.next(T.Pong)).body, data);
    a.close();
  });

  test('the WebSocket form (subprotocol "derp") speaks the same frames', async () => {
    const a = await DerpTestClient.connect(h.url, { websocket: true });
    const b = await DerpTestClient.connect(h.url);
    assert.deepEqual(a.serverKey, h.relay.publicKey);
    a.send(b.key.pub, Buffer.from('over ws'));
    assert.equal((await b.next(T.RecvPacket)).body.subarray(32).toString(), 'over ws');
    b.send(a.key.pub, Buffer.from('to ws'));
    assert.equal((await a.next(T.RecvPacket)).body.subarray(32).toString(), 'to ws');
    a.close();
    b.close();
  });

  test('fast start: no 101, the client info rides with the request', async () => {
    const a = await DerpTestClient.connect(h.url, { fastStart: { serverKey: h.relay.publicKey } });
    assert.equal(a.headers, '');
    assert.deepEqual(a.serverInfo, { version: 2 });
    a.close();
  });
});

describe('HTTP endpoints', () => {
  let h: RelayHarness;
  before(async () => (h = await startRelay()));
  after(() => h.close());

  test('/derp without an upgrade is 426; probes answer 200 with CORS; /generate_204 echoes a valid challenge', async () => {
    const plain = await fetch(`${h.url}/derp`);
    assert.equal(plain.status, 426);
    assert.match(await plain.text(), /DERP requires connection upgrade/);
    for (const p of ['/derp/probe', '/derp/latency-check']) {
      const r = await fetch(h.url + p);
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('access-control-allow-origin'), '*');
      assert.equal((await fetch(h.url + p, { method: 'POST' })).status, 405);
    }
    const g = await fetch(`${h.url}/generate_204`, { headers: { 'X-Tailscale-Challenge': 'abc.123' } });
    assert.equal(g.status, 204);
    assert.equal(g.headers.get('x-tailscale-response'), 'response abc.123');
    const bad = await fetch(`${h.url}/generate_204`, { headers: { 'X-Tailscale-Challenge': 'no spaces allowed' } });
    assert.equal(bad.headers.get('x-tailscale-response'), null);
  });

  test('/bootstrap-dns lists the DERP map host names with their addresses', async () => {
    const r = await fetch(`${h.url}/bootstrap-dns`);
    assert.equal(r.status, 200);
    const body = (await r.json()) as Record<string, string[]>;
    assert.ok(body.localhost?.some((a) => a === '127.0.0.1' || a === '::1'), JSON.stringify(body));
  });

  test('an upgrade other than DERP or WebSocket is refused with 426', async () => {
    const net = await import('node:net');
    const u = new URL(h.url);
    const s = net.connect(Number(u.port), u.hostname);
    s.write(`GET /derp HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n`);
    const text = await new Promise<string>((r) => {
      let t = '';
      s.on('data', (d) => (t += d));
      s.on('close', () => r(t));
    });
    assert.match(text, /^HTTP\/1\.1 426 /);
  });
});

describe('bad input', () => {
  let h: RelayHarness;
  before(async () => (h = await startRelay({ limits: { clientInfoTimeoutMs: 300 } })));
  after(() => h.close());

  const refusedProtocol = async () => (await h.metric('switchboard_derp_connections_total{reason="protocol",result="refused"}'));

  test('a client that never sends client info is closed after the timeout', async () => {
    const c = await DerpTestClient.connect(h.url, { noLogin: true });
    await c.next(T.ServerKey);
    assert.equal(await c.closedWithin(3000), true);
    assert.ok(h.logs.some((l) => /no client info within 300 ms/.test(l)), h.logs.join('\n'));
  });

  test('a first frame other than client info closes the connection', async () => {
    const c = await DerpTestClient.connect(h.url, { noLogin: true });
    await c.next(T.ServerKey);
    c.raw(encodeFrame(T.SendPacket, Buffer.alloc(40)));
    assert.equal(await c.closedWithin(2000), true);
    assert.ok(h.logs.some((l) => /expected the client info frame \(0x02\) first, got frame type 0x4/.test(l)));
  });

  test('a forged box (sealed with a key other than the one named) is refused without server info', async () => {
    const before = await refusedProtocol();
    const c = await DerpTestClient.connect(h.url, { noLogin: true });
    c.serverKey = (await c.next(T.ServerKey)).body.subarray(8, 40);
    c.raw(c.clientInfoFrame({ version: 2 }, newNodeKey().priv));
    assert.equal(await c.closedWithin(2000), true);
    assert.equal(c.frames.filter((f) => f.type === T.ServerInfo).length, 0);
    assert.ok(h.logs.some((l) => /client info box does not open/.test(l)));
    assert.equal(await refusedProtocol(), before + 1);
    assert.equal(h.relay.clientCount, 0);
  });

  test('a box with a flipped bit, a short client info, a huge one, and non-JSON info are all refused', async () => {
    const cases: Array<[string, (c: DerpTestClient) => Buffer, RegExp]> = [
      ['flipped', (c) => {
        const f = c.clientInfoFrame();
        f[f.length - 1]! ^= 1;
        return f;
      }, /does not open/],
      ['short', () => encodeFrame(T.ClientInfo, Buffer.alloc(40)), /short client info frame \(40 bytes\)/],
      ['huge', () => { const b = Buffer.alloc(5); b[0] = T.ClientInfo; b.writeUInt32BE(300 << 10, 1); return b; }, /over the limit of 262144/],
      ['not json', (c) => encodeFrame(T.ClientInfo, Buffer.concat([c.key.pub, sealTo(c.key.priv, c.serverKey, Buffer.from('{nope'))])), /client info is not JSON/],
      ['not object', (c) => encodeFrame(T.ClientInfo, Buffer.concat([c.key.pub, sealTo(c.key.priv, c.serverKey, Buffer.from('[1]'))])), /not a JSON object/],
    ];
    for (const [name, make, re] of cases) {
      const c = await DerpTestClient.connect(h.url, { noLogin: true });
      c.serverKey = (await c.next(T.ServerKey)).body.subarray(8, 40);
      c.raw(make(c));
      assert.equal(await c.closedWithin(2000), true, name);
      assert.ok(h.logs.some((l) => re.test(l)), `${name}: ${h.logs.slice(-3).join('\n')}`);
    }
  });

  test('an oversized or short send packet frame, a bad note-preferred and mesh frames close the connection', async () => {
    const cases: Array<[string, Buffer, RegExp]> = [
      ['oversized', (() => { const b = Buffer.alloc(5); b[0] = T.SendPacket; b.writeUInt32BE(32 + (64 << 10) + 1, 1); return b; })(), /over the packet limit of 65536/],
      ['short', encodeFrame(T.SendPacket, Buffer.alloc(31)), /short send packet frame \(31 bytes\)/],
      ['preferred', encodeFrame(T.NotePreferred, Buffer.alloc(2)), /note preferred frame of 2 bytes/],
      ['ping', encodeFrame(T.Ping, Buffer.alloc(4)), /short ping frame/],
      ['watch', encodeFrame(T.WatchConns), /for mesh peers/],
    ];
    for (const [name, f, re] of cases) {
      const c = await DerpTestClient.connect(h.url);
      c.raw(f);
      assert.equal(await c.closedWithin(2000), true, name);
      await until(`${name} logged`, () => h.logs.some((l) => re.test(l)));
    }
    await until('all unregistered', () => h.relay.clientCount === 0);
  });

  test('frames split into single bytes parse the same', async () => {
    const a = await DerpTestClient.connect(h.url);
    const data = randomBytes(8);
    for (const byte of encodeFrame(T.Ping, data)) a.raw(Buffer.from([byte]));
    assert.deepEqual((await a.next(T.Pong)).body, data);
    a.close();
  });
});

describe('admission', () => {
  let h: RelayHarness;
  const allowed = newNodeKey();
  before(async () => (h = await startRelay({ verify: (k) => (k.equals(allowed.pub) ? null : 'not a node of this tailnet') })));
  after(() => h.close());

  test('a key the check refuses is closed after client info, logged and counted; an allowed one logs in', async () => {
    const stranger = newNodeKey();
    await assert.rejects(DerpTestClient.connect(h.url, { key: stranger }), /closed while waiting for frame type 3/);
    assert.ok(h.logs.some((l) => l.includes(`refused client nodekey:${stranger.pub.subarray(0, 4).toString('hex')}`) && l.includes('not a node of this tailnet')));
    assert.equal((await h.metric('switchboard_derp_connections_total{reason="not_admitted",result="refused"}')), 1);
    const ok = await DerpTestClient.connect(h.url, { key: allowed });
    assert.deepEqual(ok.serverInfo, { version: 2 });
    assert.equal((await h.metric('switchboard_derp_connections_total{result="accepted"}')), 1);
    ok.close();
  });
});

describe('flow control', () => {
  test('a receiver that reads nothing costs a bounded queue; the excess is dropped and counted', async () => {
    const h = await startRelay({ limits: { writeTimeoutMs: 60_000 } });
    try {
      const a = await DerpTestClient.connect(h.url);
      const b = await DerpTestClient.connect(h.url);
      b.pause();
      const p = randomBytes(1000);
      // Far more than the socket buffers, kernel ones included, can hold.
      for (let i = 0; i < 20_000; i++) a.send(b.key.pub, p);
      await until('drops', async () => (await h.metric('switchboard_derp_packets_dropped_total{kind="other",reason="queue_head"}')) > 1000, 10_000);
      await until('all received', async () => (await h.metric('switchboard_derp_packets_received_total')) === 20_000, 10_000);
      const relayed = (await h.metric('switchboard_derp_packets_relayed_total'));
      const dropped = (await h.metric('switchboard_derp_packets_dropped_total{kind="other",reason="queue_head"}'));
      const queued = 20_000 - relayed - dropped;
      assert.ok(queued <= 32, `at most a queue's depth waits: ${queued}`);
      // Once the receiver reads again, the queued packets arrive, then the link works.
      b.resume();
      await until('queue flushed', async () => (await h.metric('switchboard_derp_packets_relayed_total')) === relayed + queued, 10_000);
      a.send(b.key.pub, Buffer.from('after'));
      await until('after', () => b.frames.some((f) => f.type === T.RecvPacket && f.body.subarray(32).toString() === 'after'), 10_000);
      a.close();
      b.close();
    } finally {
      await h.close();
    }
  });

  test('a receiver stuck past the write timeout is disconnected', async () => {
    const h = await startRelay({ limits: { writeTimeoutMs: 200 } });
    try {
      const a = await DerpTestClient.connect(h.url);
      const b = await DerpTestClient.connect(h.url);
      b.pause();
      const p = randomBytes(1000);
      for (let i = 0; i < 5_000; i++) a.send(b.key.pub, p);
      await until('b unregistered', () => h.relay.clientCount === 1, 10_000);
      assert.ok(h.logs.some((l) => /write timeout/.test(l)), h.logs.join('\n'));
      a.close();
      b.close();
    } finally {
      await h.close();
    }
  });
});

test('the test client seals like Tailscale: nonce then box, opened by the receiver', () => {
  const a = newNodeKey();
  const b = newNodeKey();
  const sealed = sealTo(a.priv, b.pub, Buffer.from('x'));
  assert.equal(sealed.length, 24 + 16 + 1);
  assert.equal(Buffer.from(nacl.box.open(sealed.subarray(24), sealed.subarray(0, 24), a.pub, b.priv)!).toString(), 'x');
});
