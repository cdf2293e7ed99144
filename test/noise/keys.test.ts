import { test } from 'node:test';
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
  publicFromPrivate,
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
