import { test } from 'vitest';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type http2 from 'node:http2';
import { dialControl, fetchServerKey, type ControlConnection } from '../../src/client/transport.js';
import { formatChallengePublic, formatMachinePublic, generateKeyPair, parseChallengePublic, publicFromPrivate } from '../../src/noise/keys.js';
import { BIG_RESPONSE_BYTES, bigByte, startHarness } from './harness.js';

async function request(
  session: http2.ClientHttp2Session,
  path: string,
  body?: string,
): Promise<{ status: number; body: Buffer }> {
  const req = session.request({ ':method': body === undefined ? 'GET' : 'POST', ':path': path, 'content-type': 'application/json' });
  req.end(body);
  const [headers] = (await once(req, 'response')) as [http2.IncomingHttpHeaders];
  const parts: Buffer[] = [];
  for await (const d of req) parts.push(d as Buffer);
  return { status: Number(headers[':status']), body: Buffer.concat(parts) };
}

test('GET /key answers the OverTLSPublicKeyResponse JSON', async () => {
  const h = await startHarness();
  try {
    const res = await fetch(`${h.url}/key?v=113`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    assert.deepEqual(await res.json(), {
      legacyPublicKey: 'mkey:' + '0'.repeat(64),
      publicKey: formatMachinePublic(h.serverKey.publicKey),
    });
    assert.deepEqual(await fetchServerKey(h.url), h.serverKey.publicKey);
    const old = await fetch(`${h.url}/key?v=20`);
    assert.equal(old.status, 400);
    assert.match(await old.text(), /capability version 20 predates the Noise control protocol/);
    const junk = await fetch(`${h.url}/key?v=abc`);
    assert.equal(junk.status, 400);
    assert.match(await junk.text(), /invalid v parameter "abc"/);
    assert.equal((await fetch(`${h.url}/key`)).status, 200);
  } finally {
    await h.close();
  }
});

for (const webSocket of [false, true]) {
  const kind = webSocket ? 'WebSocket' : 'HTTP upgrade';

  test(`${kind}: full dial, JSON POST both ways, early noise, 5 MB streamed response`, async () => {
    const h = await startHarness();
    let cc: ControlConnection | undefined;
    try {
      const machine = generateKeyPair();
      // No serverPublicKey: the client fetches it from /key first.
      cc = await dialControl(h.url, { machinePrivateKey: machine.privateKey, webSocket });
      assert.equal(cc.machineKey, formatMachinePublic(machine.publicKey));
      assert.equal(cc.serverPublicKey, formatMachinePublic(h.serverKey.publicKey));

      assert.equal(h.connections.length, 1);
      const sc = h.connections[0];
      assert.equal(sc.machineKey, cc.machineKey);
      assert.equal(sc.protocolVersion, 113);
      assert.equal(sc.transport, webSocket ? 'websocket' : 'upgrade');
      assert.deepEqual(sc.handshakeHash, cc.handshakeHash);

      // The early payload names the challenge key whose private half the server holds.
      assert.ok(cc.earlyNoise);
      assert.equal(cc.earlyNoise.NodeKeyChallenge, formatChallengePublic(sc.challenge.publicKey));
      assert.deepEqual(publicFromPrivate(sc.challenge.privateKey), parseChallengePublic(cc.earlyNoise.NodeKeyChallenge));

      const payload = { Version: 113, hello: 'wörld', list: [1, 2, 3], pad: 'x'.repeat(20_000) };
      const echo = await request(cc.session, '/machine/echo', JSON.stringify(payload));
      assert.equal(echo.status, 200);
      const parsed = JSON.parse(echo.body.toString('utf8'));
      assert.deepEqual(parsed.got, payload);

      const big = await request(cc.session, '/machine/big');
      assert.equal(big.status, 200);
      assert.equal(big.body.length, BIG_RESPONSE_BYTES);
      for (let i = 0; i < big.body.length; i += 4093) assert.equal(big.body[i], bigByte(i), `byte ${i}`);
      assert.equal(big.body[big.body.length - 1], bigByte(big.body.length - 1));

      // Several concurrent streams share one connection.
      const many = await Promise.all([1, 2, 3, 4, 5].map((n) => request(cc!.session, '/machine/echo', JSON.stringify({ n }))));
      assert.deepEqual(many.map((r) => JSON.parse(r.body.toString()).got.n), [1, 2, 3, 4, 5]);
    } finally {
      await cc?.close();
      await h.close();
    }
  });
}

test('below version 49 no early payload is sent and the client goes straight to HTTP/2', async () => {
  const h = await startHarness({ minProtocolVersion: 40 });
  try {
    const cc = await dialControl(h.url, { machinePrivateKey: generateKeyPair().privateKey, serverPublicKey: h.serverKey.publicKey, protocolVersion: 48 });
    assert.equal(h.connections[0].protocolVersion, 48);
    assert.equal(h.connections[0].earlyNoiseSent, false);
    assert.equal(cc.earlyNoise, null);
    // The 9 bytes peeked for the magic were the SETTINGS header and were put back.
    const echo = await request(cc.session, '/machine/echo', '{"ok":true}');
    assert.deepEqual(JSON.parse(echo.body.toString()).got, { ok: true });
    await cc.close();
  } finally {
    await h.close();
  }
});
