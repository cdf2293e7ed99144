// Native ts2021 upgrades wait in a queue for their handshake (src/control/handshake-queue.ts):
// a burst is answered whole, in slices; an upgrade whose socket closed, or that waited
// longer than its client would, is dropped without a handshake. Real sockets, real Noise.
import { afterAll as after, test } from 'vitest';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { HandshakeQueue } from '../../src/control/handshake-queue.js';
import { createTs2021Handler, type Ts2021Connection, type Ts2021Options } from '../../src/control/ts2021.js';
import { createInitiation } from '../../src/noise/control-handshake.js';
import { generateKeyPair } from '../../src/noise/keys.js';
import { RESPONSE_LEN } from '../../src/noise/messages.js';

const serverKey = generateKeyPair();
const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function ts2021Server(queue: Ts2021Options['queue']) {
  const connections: Ts2021Connection[] = [];
  const handler = createTs2021Handler({ serverPrivateKey: serverKey.privateKey, onConnection: (c) => connections.push(c), queue });
  const server = http.createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', (req, socket, head) => {
    if (!handler.handleUpgrade(req, socket, head)) socket.destroy();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(async () => {
    handler.close();
    for (const c of connections) c.conn.destroy();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { port: (server.address() as net.AddressInfo).port, connections };
}

/** Sends one upgrade; resolves with the completed client handshake, or null if the server closed without a 101. */
function upgrade(port: number): Promise<{ ok: boolean; sock: net.Socket }> {
  const machine = generateKeyPair();
  const ci = createInitiation(machine.privateKey, serverKey.publicKey, 113);
  const sock = net.connect(port, '127.0.0.1');
  sock.write(
    `POST /ts2021 HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: tailscale-control-protocol\r\n` +
      `X-Tailscale-Handshake: ${ci.initiationBytes.toString('base64')}\r\nContent-Length: 0\r\n\r\n`,
  );
  cleanups.push(() => void sock.destroy());
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0 || buf.length < end + 4 + RESPONSE_LEN) return;
      assert.match(buf.subarray(0, end).toString('latin1'), /^HTTP\/1\.1 101 /);
      ci.complete(buf.subarray(end + 4, end + 4 + RESPONSE_LEN)); // throws unless it is the server's real answer
      resolve({ ok: true, sock });
    });
    sock.on('error', () => {});
    sock.on('close', () => resolve({ ok: false, sock }));
  });
}

test('a burst of upgrades is answered whole, one handshake per turn of the event loop', async () => {
  // sliceMs 0: the queue yields after every handshake, the most it ever splits the work.
  const { port, connections } = await ts2021Server({ sliceMs: 0 });
  const results = await Promise.all(Array.from({ length: 40 }, () => upgrade(port)));
  assert.equal(results.filter((r) => r.ok).length, 40);
  assert.equal(connections.length, 40);
});

test('an upgrade that waited longer than its client would is dropped without a handshake', async () => {
  // Each reading of the clock is 9 s after the one before: by its turn, every upgrade has waited 9 s.
  let t = 0;
  const dropped: string[] = [];
  const { port, connections } = await ts2021Server({ now: () => (t += 9_000), onDropped: (r) => dropped.push(r) });
  const r = await upgrade(port);
  assert.equal(r.ok, false, 'closed without a 101');
  assert.deepEqual(dropped, ['expired']);
  assert.equal(connections.length, 0);
});

test('an upgrade whose socket closed while it waited costs no handshake; the next one is served', async () => {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted: net.Socket[] = [];
  server.on('connection', (s) => accepted.push(s));
  cleanups.push(async () => {
    for (const s of accepted) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  const { port } = server.address() as net.AddressInfo;
  const clients = [net.connect(port, '127.0.0.1'), net.connect(port, '127.0.0.1')];
  for (const c of clients) cleanups.push(() => void c.destroy());
  while (accepted.length < 2) await once(server, 'connection');
  const dropped: string[] = [];
  const ran: number[] = [];
  const q = new HandshakeQueue({ onDropped: (r) => dropped.push(r) });
  q.enqueue(accepted[0]!, (done) => { ran.push(0); done(); });
  q.enqueue(accepted[1]!, (done) => { ran.push(1); done(); });
  accepted[0]!.destroy();
  assert.equal(q.length, 2);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(ran, [1]);
  assert.deepEqual(dropped, ['closed']);
  assert.equal(q.length, 0);
  // After close, nothing more is taken: a new socket is destroyed at once.
  q.close();
  const late = net.connect(port, '127.0.0.1');
  cleanups.push(() => void late.destroy());
  while (accepted.length < 3) await once(server, 'connection');
  q.enqueue(accepted[2]!, (done) => { ran.push(2); done(); });
  assert.equal(accepted[2]!.destroyed, true);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(ran, [1]);
});

/** Accepted server-side sockets of `n` real loopback connections. */
async function acceptedSockets(n: number): Promise<net.Socket[]> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted: net.Socket[] = [];
  server.on('connection', (s) => accepted.push(s));
  cleanups.push(async () => {
    for (const s of accepted) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  const { port } = server.address() as net.AddressInfo;
  for (let i = 0; i < n; i++) {
    const c = net.connect(port, '127.0.0.1');
    cleanups.push(() => void c.destroy());
  }
  while (accepted.length < n) await once(server, 'connection');
  return accepted;
}

test('a short queue is served in arrival order', async () => {
  const sockets = await acceptedSockets(4);
  let t = 0;
  const ran: number[] = [];
  const q = new HandshakeQueue({ now: () => t });
  sockets.forEach((s, i) => q.enqueue(s, (done) => { ran.push(i); done(); }));
  t = 500; // the oldest has waited 0.5 s: under lifoAfterMs (1 s)
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(ran, [0, 1, 2, 3]);
});

test('a queue that is not keeping up serves the newest first and drops the expired at its head', async () => {
  const sockets = await acceptedSockets(6);
  let t = 0;
  const ran: number[] = [];
  const dropped: string[] = [];
  const q = new HandshakeQueue({ now: () => t, onDropped: (r) => dropped.push(r) });
  q.enqueue(sockets[0]!, (done) => { ran.push(0); done(); }); // at 0: will have waited 8.5 s
  t = 3_000;
  for (let i = 1; i < 5; i++) q.enqueue(sockets[i]!, (done) => { ran.push(i); done(); }); // at 3 s: 5.5 s
  t = 8_300;
  q.enqueue(sockets[5]!, (done) => { ran.push(5); done(); }); // at 8.3 s: 0.2 s
  t = 8_500;
  await new Promise((r) => setImmediate(r));
  // 0 expired unanswered; the others newest first, while the oldest left has waited > 1 s;
  // the last one is then the oldest and is served too.
  assert.deepEqual(ran, [5, 4, 3, 2, 1]);
  assert.deepEqual(dropped, ['expired']);
  assert.equal(sockets[0]!.destroyed, true);
  assert.equal(q.length, 0);
});

test('with a backlog, newly arrived upgrades go ahead of the ones already waiting, across slices', async () => {
  const sockets = await acceptedSockets(5);
  let t = 0;
  const ran: number[] = [];
  // sliceMs 0: one handshake per turn, so later arrivals meet a backlog.
  const q = new HandshakeQueue({ now: () => t, sliceMs: 0 });
  q.enqueue(sockets[0]!, (done) => { ran.push(0); done(); });
  q.enqueue(sockets[1]!, (done) => { ran.push(1); done(); });
  t = 2_000; // the backlog is 2 s old when the first turn comes
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(ran, [1], 'the newest of the backlog first');
  q.enqueue(sockets[2]!, (done) => { ran.push(2); done(); });
  q.enqueue(sockets[3]!, (done) => { ran.push(3); done(); });
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(ran, [1, 3, 2]);
  t = 2_500; // the one left (0) is 2.5 s old: the new arrival goes first, then 0
  q.enqueue(sockets[4]!, (done) => { ran.push(4); done(); });
  while (q.length > 0) await new Promise((r) => setImmediate(r));
  assert.deepEqual(ran, [1, 3, 2, 4, 0]);
});

test('while the map hub is behind, a turn answers handshakes for the short yield slice only', async () => {
  const { PassThrough } = await import('node:stream');
  // The clock moves 1 ms at each reading: a handshake "takes" about 1 ms.
  let t = 0;
  let behind = true;
  const q = new HandshakeQueue({ sliceMs: 1000, yieldSliceMs: 2, yieldTo: () => behind, now: () => (t += 1) });
  const ran: number[] = [];
  let turn = 0;
  for (let i = 0; i < 20; i++) q.enqueue(new PassThrough(), (done) => { ran.push(turn); done(); });
  const nextTurn = () => new Promise<void>((r) => setImmediate(() => (turn++, r())));
  await nextTurn();
  await nextTurn();
  const perTurn = (k: number) => ran.filter((x) => x === k).length;
  assert.ok(ran.length > 0 && ran.length <= 4, `${ran.length} handshakes in the first two turns while behind`);
  assert.ok(perTurn(0) <= 2, `${perTurn(0)} in one turn`);
  behind = false; // caught up: the next turn answers the rest within its 1 s slice
  await nextTurn();
  await nextTurn();
  assert.equal(ran.length, 20);
  assert.equal(q.length, 0);
});

test('handshakes that finish later are started at most maxInFlight at a time, fewer while the hub is behind', async () => {
  const { PassThrough } = await import('node:stream');
  let behind = false;
  const q = new HandshakeQueue({ maxInFlight: 3, yieldInFlight: 1, yieldTo: () => behind });
  const started: number[] = [];
  const finish: Array<() => void> = [];
  for (let i = 0; i < 8; i++) {
    q.enqueue(new PassThrough(), (done) => {
      started.push(i);
      finish.push(done);
    });
  }
  const turns = async (n: number) => {
    for (let k = 0; k < n; k++) await new Promise<void>((r) => setImmediate(r));
  };
  await turns(3);
  assert.deepEqual(started, [0, 1, 2], 'three in flight, the rest wait however many turns pass');
  assert.equal(q.length, 8, 'in flight and waiting both count as not answered');
  finish[0]!();
  finish[0]!(); // a second call of the same done changes nothing
  await turns(2);
  assert.deepEqual(started, [0, 1, 2, 3]);
  behind = true;
  finish[1]!();
  finish[2]!();
  finish[3]!();
  await turns(2);
  assert.deepEqual(started, [0, 1, 2, 3, 4], 'one in flight while behind');
  behind = false;
  finish[4]!();
  await turns(2);
  assert.deepEqual(started, [0, 1, 2, 3, 4, 5, 6, 7]);
  for (const f of finish.slice(5)) f();
  assert.equal(q.length, 0);
});
