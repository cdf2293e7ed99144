import { test } from 'vitest';
import assert from 'node:assert/strict';
import {
  formatChallengePublic,
  formatDiscoPublic,
  formatMachinePublic,
  formatNodePublic,
  formatPrivate,
  generateKeyPair,
  keyPairFromPrivate,
  parseChallengePublic,
  parseDiscoPublic,
  parseMachinePublic,
  parseNodePublic,
  parsePrivate,
  generatePrivateKey,
  preparePublicKey,
  prepareStaticKey,
  publicFromPrivate,
  publicKeyObject,
  x25519,
} from '../../src/noise/keys.js';

test('RFC 7748 section 6.1 X25519 vectors', () => {
  const aPriv = Buffer.from('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a', 'hex');
  const bPriv = Buffer.from('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb', 'hex');
  const aPub = publicFromPrivate(aPriv);
  const bPub = publicFromPrivate(bPriv);
  assert.equal(aPub.toString('hex'), '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
  assert.equal(bPub.toString('hex'), 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
  const shared = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';
  assert.equal(x25519(aPriv, bPub).toString('hex'), shared);
  assert.equal(x25519(bPriv, aPub).toString('hex'), shared);
});

test('generated keys are clamped and consistent', () => {
  const kp = generateKeyPair();
  assert.equal(kp.privateKey.length, 32);
  assert.equal(kp.privateKey[0] & 7, 0);
  assert.equal(kp.privateKey[31] & 0xc0, 0x40);
  assert.deepEqual(keyPairFromPrivate(kp.privateKey).publicKey, kp.publicKey);
});

// RFC 7748 section 5 X25519 in BigInt: slow, but independent of OpenSSL.
const P = 2n ** 255n - 19n;
const mod = (a: bigint): bigint => ((a % P) + P) % P;
function modPow(b: bigint, e: bigint): bigint {
  let r = 1n;
  for (b = mod(b); e > 0n; e >>= 1n, b = (b * b) % P) if (e & 1n) r = (r * b) % P;
  return r;
}
const leToBig = (b: Uint8Array): bigint => b.reduceRight((acc, x) => (acc << 8n) | BigInt(x), 0n);
function referenceX25519(scalar: Uint8Array, u: Uint8Array): Buffer {
  const k = Buffer.from(scalar);
  k[0] &= 248;
  k[31] = (k[31] & 127) | 64;
  const kk = leToBig(k);
  const uu = Buffer.from(u);
  uu[31] &= 127;
  const x1 = mod(leToBig(uu));
  let [x2, z2, x3, z3] = [1n, 0n, x1, 1n];
  let swap = 0n;
  for (let t = 254; t >= 0; t--) {
    const kt = (kk >> BigInt(t)) & 1n;
    if (swap ^ kt) [x2, x3, z2, z3] = [x3, x2, z3, z2];
    swap = kt;
    const A = mod(x2 + z2), AA = mod(A * A), B = mod(x2 - z2), BB = mod(B * B), E = mod(AA - BB);
    const C = mod(x3 + z3), D = mod(x3 - z3), DA = mod(D * A), CB = mod(C * B);
    x3 = mod((DA + CB) ** 2n);
    z3 = mod(x1 * mod((DA - CB) ** 2n));
    x2 = mod(AA * BB);
    z2 = mod(E * mod(AA + 121665n * E));
  }
  if (swap) [x2, z2] = [x3, z3];
  let r = mod(x2 * modPow(z2, P - 2n));
  const out = Buffer.alloc(32);
  for (let i = 0; i < 32; i++, r >>= 8n) out[i] = Number(r & 0xffn);
  return out;
}
const BASE_POINT = Buffer.concat([Buffer.from([9]), Buffer.alloc(31)]);

test('the BigInt reference agrees with the RFC 7748 vectors (so it can check the fast path)', () => {
  const aPriv = Buffer.from('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a', 'hex');
  assert.equal(referenceX25519(aPriv, BASE_POINT).toString('hex'), '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
});

test('generated public keys are the base-point multiple of their private keys, computed two other ways', () => {
  const basePointKey = publicKeyObject(BASE_POINT);
  for (let i = 0; i < 24; i++) {
    const kp = generateKeyPair();
    assert.deepEqual(kp.publicKey, referenceX25519(kp.privateKey, BASE_POINT), `BigInt ladder, key ${i}`);
    assert.deepEqual(x25519(kp.privateKey, basePointKey), kp.publicKey, `OpenSSL DH with u = 9, key ${i}`);
    assert.deepEqual(prepareStaticKey(kp.privateKey).publicKey, kp.publicKey);
  }
});

test('private keys stay distinct and clamped across many random-pool refills', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const k = generatePrivateKey();
    assert.equal(k.length, 32);
    assert.equal(k[0] & 7, 0);
    assert.equal(k[31] & 0xc0, 0x40);
    // Each key owns its memory: changing one can't affect the next.
    assert.equal(k.byteOffset, 0);
    assert.equal(k.buffer.byteLength, 32);
    const hex = k.toString('hex');
    assert.ok(!seen.has(hex), 'repeated private key');
    seen.add(hex);
  }
});

test('a prepared public key gives the same DH as raw bytes and keeps the low-order refusal', () => {
  const a = generateKeyPair();
  const b = generateKeyPair();
  const handle = preparePublicKey(b.publicKey);
  assert.deepEqual(handle.publicKey, b.publicKey);
  assert.equal(preparePublicKey(handle), handle);
  assert.deepEqual(x25519(a.privateKey, handle.keyObject), x25519(a.privateKey, b.publicKey));
  assert.deepEqual(x25519(prepareStaticKey(a.privateKey).keyObject, handle.keyObject), referenceX25519(a.privateKey, b.publicKey));
  assert.throws(() => preparePublicKey(Buffer.alloc(31)), { code: 'BAD_KEY' });
  // u = 1 is a low-order point: OpenSSL or our all-zero check must refuse it.
  const one = Buffer.concat([Buffer.from([1]), Buffer.alloc(31)]);
  assert.throws(() => x25519(a.privateKey, preparePublicKey(one).keyObject), { code: 'BAD_KEY', message: /low-order/ });
});

test('low-order public keys are refused', () => {
  assert.throws(() => x25519(generateKeyPair().privateKey, Buffer.alloc(32)), { code: 'BAD_KEY', message: /low-order/ });
});

test('text forms round-trip with Tailscale prefixes', () => {
  const raw = generateKeyPair().publicKey;
  const cases: Array<[(r: Buffer) => string, (t: string) => Buffer, string]> = [
    [formatMachinePublic, parseMachinePublic, 'mkey:'],
    [formatNodePublic, parseNodePublic, 'nodekey:'],
    [formatDiscoPublic, parseDiscoPublic, 'discokey:'],
    [formatChallengePublic, parseChallengePublic, 'chalpub:'],
    [formatPrivate, parsePrivate, 'privkey:'],
  ];
  for (const [fmt, parse, prefix] of cases) {
    const text = fmt(raw);
    assert.equal(text, prefix + raw.toString('hex'));
    assert.deepEqual(parse(text), raw);
    assert.deepEqual(parse(text.toUpperCase().replace(prefix.toUpperCase(), prefix)), raw);
  }
});

test('parse errors say what is wrong', () => {
  const hex = 'ab'.repeat(32);
  assert.throws(() => parseMachinePublic('nodekey:' + hex), { code: 'BAD_KEY', message: /must start with "mkey:", got prefix "nodekey:"/ });
  assert.throws(() => parseMachinePublic(hex), { message: /got no prefix/ });
  assert.throws(() => parseNodePublic('nodekey:abcd'), { message: /64 hex digits, got 4/ });
  assert.throws(() => parseNodePublic('nodekey:' + 'zz' + hex.slice(2)), { message: /non-hex/ });
  assert.throws(() => parseNodePublic(42 as unknown as string), { message: /got number/ });
  assert.throws(() => formatMachinePublic(Buffer.alloc(31)), { message: /32 bytes, got 31/ });
});
