// STUN binding: requests as Tailscale's net/stun builds them (SOFTWARE "tailnode" and a
// FINGERPRINT) and plain RFC 5389 ones are answered with XOR-MAPPED-ADDRESS; anything
// else is named and ignored. The decoding below is the test's own.

import { test } from 'vitest';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { StunError, bindingResponse, parseBindingRequest } from '../../src/derp/server/stun.js';
import { listenStun } from '../../src/derp/server/stun-listener.js';

const COOKIE = Buffer.from('2112a442', 'hex');

function tailscaleRequest(txid: Buffer, opts: { badFingerprint?: boolean } = {}): Buffer {
  const software = Buffer.from('tailnode');
  const head = Buffer.alloc(20);
  head.writeUInt16BE(0x0001, 0);
  head.writeUInt16BE(4 + software.length + 8, 2);
  COOKIE.copy(head, 4);
  txid.copy(head, 8);
  const sw = Buffer.alloc(4);
  sw.writeUInt16BE(0x8022, 0);
  sw.writeUInt16BE(software.length, 2);
  const body = Buffer.concat([head, sw, software]);
  const fp = Buffer.alloc(8);
  fp.writeUInt16BE(0x8028, 0);
  fp.writeUInt16BE(4, 2);
  fp.writeUInt32BE(((crc32(body) ^ 0x5354554e) ^ (opts.badFingerprint ? 1 : 0)) >>> 0, 4);
  return Buffer.concat([body, fp]);
}

/** The test's own reading of a binding success: [txid, address, port]. */
function decodeResponse(b: Buffer): [Buffer, string, number] {
  assert.equal(b.readUInt16BE(0), 0x0101);
  assert.deepEqual(b.subarray(4, 8), COOKIE);
  const txid = b.subarray(8, 20);
  assert.equal(b.readUInt16BE(2), b.length - 20);
  assert.equal(b.readUInt16BE(20), 0x0020);
  const fam = b[25];
  const port = b.readUInt16BE(26) ^ 0x2112;
  const mask = Buffer.concat([COOKIE, txid]);
  const n = fam === 1 ? 4 : 16;
  const ip = Buffer.alloc(n);
  for (let i = 0; i < n; i++) ip[i] = b[28 + i]! ^ mask[i]!;
  const addr = fam === 1 ? [...ip].join('.') : (ip.toString('hex').match(/.{4}/g) ?? []).map((g) => g.replace(/^0+(?=.)/, '')).join(':');
  return [Buffer.from(txid), addr, port];
}

test('a Tailscale binding request is parsed; the answer carries the address XORed', () => {
  const txid = randomBytes(12);
  assert.deepEqual(parseBindingRequest(tailscaleRequest(txid)), txid);
  const [t4, a4, p4] = decodeResponse(bindingResponse(txid, '192.0.2.7', 41641));
  assert.deepEqual(t4, txid);
  assert.equal(a4, '192.0.2.7');
  assert.equal(p4, 41641);
  const [, a6, p6] = decodeResponse(bindingResponse(txid, '2001:db8::1:2', 3));
  assert.equal(a6, '2001:db8:0:0:0:0:1:2');
  assert.equal(p6, 3);
  // A dual-stack socket reports IPv4 senders mapped; they are answered as IPv4.
  assert.equal(decodeResponse(bindingResponse(txid, '::ffff:10.1.2.3', 9))[1], '10.1.2.3');
});

test('a plain RFC 5389 request without attributes is answered too', () => {
  const b = Buffer.alloc(20);
  b.writeUInt16BE(1, 0);
  COOKIE.copy(b, 4);
  assert.equal(parseBindingRequest(b).length, 12);
});

test('malformed requests are refused with the reason', () => {
  const good = tailscaleRequest(randomBytes(12));
  const cases: Array<[Buffer, RegExp]> = [
    [good.subarray(0, 19), /shorter than a STUN header/],
    [Buffer.concat([Buffer.from([0x00, 0x01, 0, 0]), Buffer.alloc(16)]), /no magic cookie/],
    [(() => { const b = Buffer.from(good); b.writeUInt16BE(0x0101, 0); return b; })(), /not a binding request/],
    [(() => { const b = Buffer.from(good); b.writeUInt16BE(200, 2); return b; })(), /does not fit/],
    [tailscaleRequest(randomBytes(12), { badFingerprint: true }), /FINGERPRINT does not match/],
    [(() => { const b = Buffer.from(good); b.writeUInt16BE(0x00ff, 22); return b; })(), /runs past the message/],
  ];
  for (const [b, re] of cases) assert.throws(() => parseBindingRequest(b), (e: Error) => e instanceof StunError && re.test(e.message));
});

test('the UDP listener answers requests and ignores garbage', async () => {
  const results: string[] = [];
  const l = await listenStun('127.0.0.1:0', (r) => results.push(r));
  const sock = dgram.createSocket('udp4');
  try {
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const txid = randomBytes(12);
    const got = new Promise<Buffer>((r) => sock.once('message', (m) => r(m)));
    sock.send(Buffer.from('hello'), l.port, '127.0.0.1');
    sock.send(tailscaleRequest(txid), l.port, '127.0.0.1');
    const [t, addr, port] = decodeResponse(await got);
    assert.deepEqual(t, txid);
    assert.equal(addr, '127.0.0.1');
    assert.equal(port, sock.address().port);
    assert.deepEqual(results.sort(), ['invalid', 'ok']);
  } finally {
    sock.close();
    await l.close();
  }
});

test('a STUN address already in use is an error naming the setting', async () => {
  const l = await listenStun('127.0.0.1:0', () => {});
  try {
    await assert.rejects(listenStun(`127.0.0.1:${l.port}`, () => {}), /^Error: derp\.server\.stun_listen_addr: cannot listen on udp 127\.0\.0\.1:\d+: bind EADDRINUSE/);
  } finally {
    await l.close();
  }
});
