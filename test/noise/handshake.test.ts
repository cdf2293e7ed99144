import { test } from 'vitest';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createInitiation, respondToInitiation } from '../../src/noise/control-handshake.js';
import { CipherState } from '../../src/noise/cipher-state.js';
import { generateKeyPair, preparePublicKey, prepareStaticKey } from '../../src/noise/keys.js';
import { SymmetricState } from '../../src/noise/symmetric-state.js';
import { IK_PROTOCOL_NAME } from '../../src/noise/handshake-ik.js';

const server = generateKeyPair();
const machine = generateKeyPair();

test('transport ciphers agree both ways after a control handshake', () => {
  const ci = createInitiation(machine.privateKey, server.publicKey, 113);
  const r = respondToInitiation(server.privateKey, ci.initiationBytes);
  const c = ci.complete(r.responseBytes);
  const ad = Buffer.alloc(0);
  for (let i = 0; i < 3; i++) {
    assert.equal(r.recv.decryptWithAd(ad, c.send.encryptWithAd(ad, Buffer.from(`up ${i}`))).toString(), `up ${i}`);
    assert.equal(c.recv.decryptWithAd(ad, r.send.encryptWithAd(ad, Buffer.from(`down ${i}`))).toString(), `down ${i}`);
  }
});

test('transport nonces are big-endian like controlbase (differs from spec LE after message 0)', () => {
  const be = new CipherState(Buffer.alloc(32, 7), 'tailscale-be');
  const le = new CipherState(Buffer.alloc(32, 7), 'noise-le');
  assert.equal(be.nonce(1).toString('hex'), '000000000000000000000001');
  assert.equal(le.nonce(1).toString('hex'), '000000000100000000000000');
  assert.equal(be.nonce(0x1_0000_0002).toString('hex'), '000000000000000100000002');
  const m0 = Buffer.from('same');
  assert.deepEqual(be.encryptWithAd(Buffer.alloc(0), m0), le.encryptWithAd(Buffer.alloc(0), m0));
  assert.notDeepEqual(be.encryptWithAd(Buffer.alloc(0), m0), le.encryptWithAd(Buffer.alloc(0), m0));
});

test('a cipher refuses to continue after one failed decryption', () => {
  const tx = new CipherState(Buffer.alloc(32, 1), 'tailscale-be');
  const rx = new CipherState(Buffer.alloc(32, 1), 'tailscale-be');
  const a = tx.encryptWithAd(Buffer.alloc(0), Buffer.from('a'));
  const bad = Buffer.from(a);
  bad[0] ^= 0x80;
  assert.throws(() => rx.decryptWithAd(Buffer.alloc(0), bad), { code: 'DECRYPT_FAILED' });
  assert.throws(() => rx.decryptWithAd(Buffer.alloc(0), a));
});

test('responder errors name the problem', () => {
  const ci = createInitiation(machine.privateKey, server.publicKey, 113);
  const good = ci.initiationBytes;
  const cases: Array<[Buffer, RegExp, string]> = [
    [Buffer.alloc(0), /truncated: 0 bytes/, 'BAD_LENGTH'],
    [good.subarray(0, 4), /truncated: 4 bytes/, 'BAD_LENGTH'],
    [good.subarray(0, 60), /size: 60 bytes, want 101/, 'BAD_LENGTH'],
    [Buffer.concat([good, Buffer.alloc(1)]), /size: 102 bytes/, 'BAD_LENGTH'],
    [Buffer.from([0, 113, 2, 0, 96, ...good.subarray(5)]), /unexpected handshake message type 2/, 'BAD_TYPE'],
    [Buffer.from([0, 113, 1, 0, 95, ...good.subarray(5)]), /length field 95/, 'BAD_LENGTH'],
  ];
  for (const [bytes, message, code] of cases) {
    assert.throws(() => respondToInitiation(server.privateKey, bytes), { name: 'NoiseError', code, message });
  }
});

test('any single flipped bit in the initiation body is rejected', () => {
  const ci = createInitiation(machine.privateKey, server.publicKey, 113);
  fc.assert(
    fc.property(fc.integer({ min: 5 * 8, max: 101 * 8 - 1 }), (bit) => {
      const b = Buffer.from(ci.initiationBytes);
      b[bit >> 3] ^= 1 << (bit & 7);
      assert.throws(() => respondToInitiation(server.privateKey, b), { name: 'NoiseError' });
    }),
    { numRuns: 150 },
  );
});

test('client rejects a tampered, truncated or mistyped response', () => {
  const mk = () => {
    const ci = createInitiation(machine.privateKey, server.publicKey, 113);
    return { ci, r: respondToInitiation(server.privateKey, ci.initiationBytes) };
  };
  {
    const { ci, r } = mk();
    const b = Buffer.from(r.responseBytes);
    b[50] ^= 1;
    assert.throws(() => ci.complete(b), { code: 'DECRYPT_FAILED', message: /wrong server key/ });
  }
  {
    const { ci, r } = mk();
    assert.throws(() => ci.complete(r.responseBytes.subarray(0, 30)), { code: 'BAD_LENGTH' });
  }
  {
    const { ci, r } = mk();
    const b = Buffer.from(r.responseBytes);
    b[0] = 3;
    assert.throws(() => ci.complete(b), { code: 'BAD_TYPE', message: /type 3/ });
  }
});

test('a handshake with the wrong server public key fails on the server', () => {
  const other = generateKeyPair();
  const ci = createInitiation(machine.privateKey, other.publicKey, 113);
  assert.throws(() => respondToInitiation(server.privateKey, ci.initiationBytes), { code: 'DECRYPT_FAILED' });
});

test('a prepared server public key and static key handshake exactly like raw bytes, many times over', () => {
  const serverHandle = preparePublicKey(server.publicKey);
  const machineKey = prepareStaticKey(machine.privateKey);
  const serverKey = prepareStaticKey(server.privateKey);
  const hashes = new Set<string>();
  for (let i = 0; i < 20; i++) {
    // Same fixed ephemerals on both paths: the bytes must be identical.
    const e = generateKeyPair().privateKey;
    const se = generateKeyPair().privateKey;
    const raw = createInitiation(machine.privateKey, server.publicKey, 113, { ephemeralPrivate: e });
    const prepared = createInitiation(machineKey, serverHandle, 113, { ephemeralPrivate: e });
    assert.deepEqual(prepared.initiationBytes, raw.initiationBytes);
    const r1 = respondToInitiation(server.privateKey, raw.initiationBytes, { ephemeralPrivate: se });
    const r2 = respondToInitiation(serverKey, prepared.initiationBytes, { ephemeralPrivate: se });
    assert.deepEqual(r2.responseBytes, r1.responseBytes);
    const c = prepared.complete(r2.responseBytes);
    assert.deepEqual(c.handshakeHash, r2.handshakeHash);
    hashes.add(c.handshakeHash.toString('hex'));
    const ad = Buffer.alloc(0);
    assert.equal(r2.recv.decryptWithAd(ad, c.send.encryptWithAd(ad, Buffer.from('up'))).toString(), 'up');
  }
  assert.equal(hashes.size, 20, 'every handshake has its own hash');
  assert.throws(() => createInitiation(machine.privateKey, Buffer.alloc(31), 113), { code: 'BAD_KEY', message: /server public key must be 32 bytes/ });
});

test('the cached initial symmetric state is never shared between handshakes', () => {
  const a = new SymmetricState(IK_PROTOCOL_NAME, 'noise-le');
  const h0 = Buffer.from(a.h);
  const ck0 = Buffer.from(a.ck);
  a.h.fill(1);
  a.mixKey(Buffer.alloc(32, 2));
  a.split(); // wipes a.ck in place
  const b = new SymmetricState(IK_PROTOCOL_NAME, 'noise-le');
  assert.deepEqual(b.h, h0);
  assert.deepEqual(b.ck, ck0);
  // The initial h is the protocol name hashed (it is longer than 32 bytes).
  assert.equal(IK_PROTOCOL_NAME.length, 33);
});
