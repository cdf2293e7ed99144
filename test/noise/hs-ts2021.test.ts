// The native ts2021 upgrade's answer on the wire: 101, Noise response and early
// payload record in one write, and the record stream continuing after it.
import { afterAll as after, test } from 'vitest';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { createTs2021Handler, type Ts2021Connection } from '../../src/control/ts2021.js';
import { createInitiation } from '../../src/noise/control-handshake.js';
import { EARLY_PAYLOAD_HEADER_LEN, EARLY_PAYLOAD_MAGIC } from '../../src/noise/early-payload.js';
import { formatChallengePublic, generateKeyPair, publicFromPrivate } from '../../src/noise/keys.js';
import { HEADER_LEN, MSG_TYPE_RECORD, RESPONSE_LEN } from '../../src/noise/messages.js';

const serverKey = generateKeyPair();
const machine = generateKeyPair();
const connections: Ts2021Connection[] = [];
const handler = createTs2021Handler({
  serverPrivateKey: serverKey.privateKey,
  minProtocolVersion: 1, // so the pre-early-payload case can be tested
  onConnection: (c) => {
    connections.push(c);
    // Answer one record so the test can check the nonce after the early payload.
    c.conn.once('data', (d: Buffer) => c.conn.write(Buffer.concat([Buffer.from('echo:'), d])));
  },
});
const server = http.createServer((_req, res) => res.writeHead(404).end());
server.on('upgrade', (req, socket, head) => {
  if (!handler.handleUpgrade(req, socket, head)) socket.destroy();
});
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const { port } = server.address() as net.AddressInfo;

after(async () => {
  handler.close();
  // Upgraded sockets are no longer the HTTP server's: close() would wait for them forever.
  for (const c of connections) c.conn.destroy();
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

function upgrade(path: string, version = 113) {
  const ci = createInitiation(machine.privateKey, serverKey.publicKey, version);
  const sock = net.connect(port, '127.0.0.1');
  sock.write(
    `POST ${path} HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: tailscale-control-protocol\r\n` +
      `X-Tailscale-Handshake: ${ci.initiationBytes.toString('base64')}\r\nContent-Length: 0\r\n\r\n`,
  );
  return { ci, sock };
}

test('101, Noise response and early payload arrive together, and records continue at the next nonce', async () => {
  const { ci, sock } = upgrade('/ts2021');
  const [first] = (await once(sock, 'data')) as [Buffer];
  const text = first.toString('latin1');
  const end = text.indexOf('\r\n\r\n') + 4;
  assert.match(text.slice(0, end), /^HTTP\/1\.1 101 Switching Protocols\r\nUpgrade: tailscale-control-protocol\r\nConnection: upgrade\r\nDate: [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT\r\n\r\n$/);
  const c = ci.complete(first.subarray(end, end + RESPONSE_LEN));
  // The whole early payload record is in the same chunk as the 101.
  const rec = first.subarray(end + RESPONSE_LEN);
  assert.equal(rec[0], MSG_TYPE_RECORD);
  const len = rec.readUInt16BE(1);
  assert.equal(rec.length, HEADER_LEN + len, 'the first read holds exactly the 101, the response and one record');
  const early = c.recv.decryptWithAd(Buffer.alloc(0), rec.subarray(HEADER_LEN));
  assert.deepEqual(early.subarray(0, EARLY_PAYLOAD_MAGIC.length), EARLY_PAYLOAD_MAGIC);
  const json = JSON.parse(early.subarray(EARLY_PAYLOAD_HEADER_LEN).toString('utf8')) as { NodeKeyChallenge: string };
  const sc = connections.at(-1)!;
  assert.equal(json.NodeKeyChallenge, formatChallengePublic(sc.challenge.publicKey));
  assert.deepEqual(publicFromPrivate(sc.challenge.privateKey), sc.challenge.publicKey);
  assert.equal(sc.earlyNoiseSent, true);

  // A record each way: the server's reply must use nonce 1 (after the early payload).
  const up = c.send.encryptWithAd(Buffer.alloc(0), Buffer.from('ping'));
  const hdr = Buffer.from([MSG_TYPE_RECORD, 0, 0]);
  hdr.writeUInt16BE(up.length, 1);
  sock.write(Buffer.concat([hdr, up]));
  const [reply] = (await once(sock, 'data')) as [Buffer];
  assert.equal(c.recv.counter, 1);
  assert.equal(c.recv.decryptWithAd(Buffer.alloc(0), reply.subarray(HEADER_LEN)).toString(), 'echo:ping');
  sock.destroy();
});

test('each connection gets its own challenge key', async () => {
  const before = connections.length;
  for (let i = 0; i < 3; i++) {
    const { sock } = upgrade('/ts2021');
    await once(sock, 'data');
    sock.destroy();
  }
  const keys = new Set(connections.slice(before).map((c) => c.challenge.publicKey.toString('hex')));
  assert.equal(keys.size, 3);
});

test('the path is still matched exactly when the request target is not the plain path', async () => {
  // A query string goes through the URL parser and still reaches the handler.
  const q = upgrade('/ts2021?x=1');
  const [first] = (await once(q.sock, 'data')) as [Buffer];
  assert.match(first.toString('latin1'), /^HTTP\/1\.1 101 /);
  q.sock.destroy();
  // Another path is not ours: the bench-style server destroys the socket.
  const other = upgrade('/ts2021x');
  await once(other.sock, 'close');
});

test('below version 49 only the 101 and the response are sent', async () => {
  const { sock } = upgrade('/ts2021', 40);
  const [first] = (await once(sock, 'data')) as [Buffer];
  const end = first.indexOf('\r\n\r\n') + 4;
  assert.equal(first.length, end + RESPONSE_LEN);
  assert.equal(connections.at(-1)!.earlyNoiseSent, false);
  sock.destroy();
});
