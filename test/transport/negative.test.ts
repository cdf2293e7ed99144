import { afterAll as after, beforeAll as before, test } from 'vitest';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { WebSocket } from 'ws';
import { dialControl } from '../../src/client/transport.js';
import { createInitiation } from '../../src/noise/control-handshake.js';
import { generateKeyPair } from '../../src/noise/keys.js';
import { rawExchange, startHarness, upgradeRequest, type Harness } from './harness.js';

let h: Harness;

// events.once() rejects on 'error'; here the error is expected, only the close matters.
const closed = (s: NodeJS.EventEmitter & { closed: boolean }) =>
  s.closed ? Promise.resolve() : new Promise<void>((r) => s.once('close', () => r()));
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h.close();
});

const machine = generateKeyPair();
const validInit = () => createInitiation(machine.privateKey, h.serverKey.publicKey, 113).initiationBytes;

async function upgradeWith(handshake: string, extra: Record<string, string> = {}): Promise<string> {
  const req = upgradeRequest(h.port, { Connection: 'upgrade', Upgrade: 'tailscale-control-protocol', 'X-Tailscale-Handshake': handshake, 'Content-Length': '0', ...extra });
  return (await rawExchange(h.port, req)).toString('utf8');
}

function assert400(response: string, message: RegExp): void {
  assert.match(response, /^HTTP\/1\.1 400 Bad Request\r\n/);
  const body = response.slice(response.indexOf('\r\n\r\n') + 4);
  assert.match(body, message);
}

test('garbage base64 is refused with 400 and a message', async () => {
  assert400(await upgradeWith('!!!not*base64!!!'), /invalid X-Tailscale-Handshake header: not padded standard base64/);
});

test('truncated initiation is refused', async () => {
  const b64 = validInit().subarray(0, 60).toString('base64');
  assert400(await upgradeWith(b64), /wrong handshake initiation size: 60 bytes, want 101/);
  assert400(await upgradeWith(Buffer.from([0, 113]).toString('base64')), /truncated: 2 bytes/);
});

test('oversized handshake header is refused', async () => {
  assert400(await upgradeWith('A'.repeat(4000)), /too large: 4000 characters/);
  const long = Buffer.concat([validInit(), Buffer.alloc(50)]).toString('base64');
  assert400(await upgradeWith(long), /size: 151 bytes, want 101/);
});

test('wrong message type is refused', async () => {
  const b = validInit();
  b[2] = 4;
  assert400(await upgradeWith(b.toString('base64')), /unexpected handshake message type 4/);
});

test('protocol version 112 is refused with a clear message', async () => {
  const b64 = createInitiation(machine.privateKey, h.serverKey.publicKey, 112).initiationBytes.toString('base64');
  assert400(await upgradeWith(b64), /client protocol version 112 is too old: this server requires capability version 113 or newer/);
});

test('an initiation for another server key is refused', async () => {
  const other = generateKeyPair();
  const b64 = createInitiation(machine.privateKey, other.publicKey, 113).initiationBytes.toString('base64');
  assert400(await upgradeWith(b64), /noise handshake failed: decrypting initiator static key failed/);
});

test('missing handshake header, unknown protocol, wrong method, no upgrade at all', async () => {
  const base = { Connection: 'upgrade', 'Content-Length': '0' };
  let r = (await rawExchange(h.port, upgradeRequest(h.port, { ...base, Upgrade: 'tailscale-control-protocol' }))).toString();
  assert400(r, /missing X-Tailscale-Handshake header/);
  r = (await rawExchange(h.port, upgradeRequest(h.port, { ...base, Upgrade: 'h2c' }))).toString();
  assert400(r, /unknown next protocol "h2c"/);
  r = (await rawExchange(h.port, upgradeRequest(h.port, { ...base, Upgrade: 'tailscale-control-protocol', 'X-Tailscale-Handshake': validInit().toString('base64') }, 'PUT'))).toString();
  assert.match(r, /^HTTP\/1\.1 405 /);
  assert.match(r, /must use POST, got PUT/);
  const plain = await fetch(`${h.url}/ts2021`, { method: 'POST' });
  assert.equal(plain.status, 400);
  assert.match(await plain.text(), /requires an HTTP upgrade/);
});

test('WebSocket without the subprotocol or with a bad handshake is refused', async () => {
  const tryWs = (url: string, protocols: string[]) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const ws = new WebSocket(url, protocols);
      ws.on('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      ws.on('open', () => reject(new Error('WebSocket unexpectedly accepted')));
      ws.on('error', () => {});
    });
  const good = encodeURIComponent(validInit().toString('base64'));
  let r = await tryWs(`ws://127.0.0.1:${h.port}/ts2021?X-Tailscale-Handshake=${good}`, ['chat']);
  assert.equal(r.status, 400);
  assert.match(r.body, /must speak the tailscale-control-protocol WebSocket subprotocol/);
  r = await tryWs(`ws://127.0.0.1:${h.port}/ts2021`, ['tailscale-control-protocol']);
  assert.match(r.body, /missing X-Tailscale-Handshake query parameter/);
  r = await tryWs(`ws://127.0.0.1:${h.port}/ts2021?X-Tailscale-Handshake=AAAA`, ['tailscale-control-protocol']);
  assert.match(r.body, /invalid handshake initiation in X-Tailscale-Handshake query parameter: handshake initiation truncated: 3 bytes/);
});

test('client with the wrong server key fails cleanly with the server message', async () => {
  const wrong = generateKeyPair().publicKey;
  await assert.rejects(dialControl(h.url, { machinePrivateKey: machine.privateKey, serverPublicKey: wrong }), {
    message: /server refused the ts2021 upgrade: HTTP 400 Bad Request: noise handshake failed/,
  });
  await assert.rejects(dialControl(h.url, { machinePrivateKey: machine.privateKey, serverPublicKey: wrong, webSocket: true }), {
    message: /server refused the ts2021 WebSocket upgrade: HTTP 400/,
  });
});

test('client refuses a server that is not the one it expects (responder with another key)', async () => {
  // A raw server that answers 101 then a response made with a different key.
  const impostor = net.createServer((sock) => {
    sock.once('data', () => {
      sock.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: tailscale-control-protocol\r\nConnection: upgrade\r\n\r\n');
      sock.end(Buffer.concat([Buffer.from([2, 0, 48]), Buffer.alloc(48, 9)]));
    });
  });
  impostor.listen(0, '127.0.0.1');
  await once(impostor, 'listening');
  const { port } = impostor.address() as net.AddressInfo;
  try {
    await assert.rejects(dialControl(`http://127.0.0.1:${port}`, { machinePrivateKey: machine.privateKey, serverPublicKey: h.serverKey.publicKey }), {
      name: 'NoiseError',
      message: /decrypting handshake response failed \(wrong server key\?\)/,
    });
  } finally {
    impostor.close();
  }
});

test('an oversized record after the handshake closes that connection; the server keeps serving others', async () => {
  const before = h.connectionErrors.length;
  const cc = await dialControl(h.url, { machinePrivateKey: machine.privateKey, serverPublicKey: h.serverKey.publicKey });
  const sc = h.connections[h.connections.length - 1];
  // Write a frame header straight onto the TCP socket below the Noise layer.
  const raw = cc.conn.inner;
  raw.write(Buffer.from([4, 0xff, 0xff]));
  await closed(sc.conn);
  assert.ok(h.connectionErrors.length > before);
  assert.match(String(h.connectionErrors.at(-1)?.message), /65538 bytes exceeds the maximum Noise frame size 4096/);
  await closed(cc.conn);
  await cc.close();

  const again = await dialControl(h.url, { machinePrivateKey: machine.privateKey, serverPublicKey: h.serverKey.publicKey });
  const req = again.session.request({ ':method': 'POST', ':path': '/machine/echo' });
  req.end('{"still":"alive"}');
  const parts: Buffer[] = [];
  for await (const d of req) parts.push(d as Buffer);
  assert.deepEqual(JSON.parse(Buffer.concat(parts).toString()).got, { still: 'alive' });
  await again.close();
});

test('garbage after the handshake and abrupt resets never take the server down', async () => {
  const init = validInit();
  const req = upgradeRequest(h.port, { Connection: 'upgrade', Upgrade: 'tailscale-control-protocol', 'X-Tailscale-Handshake': init.toString('base64'), 'Content-Length': '0' });
  const sock = net.connect(h.port, '127.0.0.1');
  await once(sock, 'connect');
  sock.write(req);
  await once(sock, 'data'); // 101 + response
  sock.write(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
  await once(sock, 'close');
  const s2 = net.connect(h.port, '127.0.0.1');
  await once(s2, 'connect');
  s2.write(req);
  s2.resetAndDestroy();
  const ok = await fetch(`${h.url}/key?v=113`);
  assert.equal(ok.status, 200);
});
