import { test } from 'vitest';
import assert from 'node:assert/strict';
import { createHash, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { blake2s, hkdf2, hmacBlake2s } from '../../src/noise/hkdf-blake2s.js';

const nodeHash = (data: Uint8Array): Buffer => createHash('blake2s256').update(data).digest();

test('BLAKE2s-256 known answers (RFC 7693 appendix B "abc", empty input)', () => {
  assert.equal(blake2s(Buffer.from('abc')).toString('hex'), '508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982');
  assert.equal(blake2s().toString('hex'), '69217a3079908094e11121d042354a7c1f55b6482ca1a51e1b250dfd1ed0eef9');
  assert.equal(blake2s(new Uint8Array(0)).toString('hex'), '69217a3079908094e11121d042354a7c1f55b6482ca1a51e1b250dfd1ed0eef9');
});

test('BLAKE2s matches node:crypto for every length around the block boundaries, however the input is split', () => {
  for (let len = 0; len <= 260; len++) {
    const data = randomBytes(len);
    const want = nodeHash(data);
    assert.deepEqual(blake2s(data), want, `one part, ${len} bytes`);
    for (const cut of [0, 1, 31, 32, 63, 64, 65, len >> 1, len]) {
      if (cut > len) continue;
      assert.deepEqual(blake2s(data.subarray(0, cut), data.subarray(cut)), want, `${len} bytes cut at ${cut}`);
    }
    // Many small parts, including empty ones.
    const parts: Uint8Array[] = [];
    for (let off = 0; off < len; off += 7) parts.push(data.subarray(off, off + 7), new Uint8Array(0));
    assert.deepEqual(blake2s(...parts), want, `${len} bytes in 7-byte parts`);
  }
});

test('BLAKE2s reads views at an offset correctly', () => {
  const big = randomBytes(300);
  for (const [start, end] of [[1, 65], [3, 200], [64, 128], [299, 300]]) {
    const view = new Uint8Array(big.buffer, big.byteOffset + start, end - start);
    assert.deepEqual(blake2s(view), nodeHash(Buffer.from(view)));
  }
});

test('HMAC-BLAKE2s matches node:crypto for keys up to a block and messages of any length', () => {
  for (const keyLen of [0, 1, 16, 32, 63, 64]) {
    for (const msgLen of [0, 1, 31, 32, 33, 63, 64, 65, 127, 128, 129, 200]) {
      const key = randomBytes(keyLen);
      const msg = randomBytes(msgLen);
      assert.deepEqual(hmacBlake2s(key, msg), createHmac('blake2s256', key).update(msg).digest(), `key ${keyLen}, message ${msgLen}`);
    }
  }
  assert.throws(() => hmacBlake2s(Buffer.alloc(65), Buffer.alloc(1)), RangeError);
});

test('hkdf2 equals RFC 5869 HKDF-BLAKE2s (salt = chaining key, empty info), including empty input key material', () => {
  for (const ikmLen of [0, 1, 32, 64, 65, 100]) {
    for (let i = 0; i < 20; i++) {
      const ck = randomBytes(32);
      const ikm = randomBytes(ikmLen);
      const [o1, o2] = hkdf2(ck, ikm);
      const want = Buffer.from(hkdfSync('blake2s256', ikm, ck, Buffer.alloc(0), 64));
      assert.deepEqual(o1, want.subarray(0, 32), `ikm ${ikmLen}`);
      assert.deepEqual(o2, want.subarray(32), `ikm ${ikmLen}`);
    }
  }
});

test('outputs are fresh buffers: later calls never change earlier results', () => {
  const ck = randomBytes(32);
  const ikm = randomBytes(32);
  const [a1, a2] = hkdf2(ck, ikm);
  const copy = Buffer.concat([a1, a2]);
  const h = blake2s(ck);
  const hCopy = Buffer.from(h);
  const m = hmacBlake2s(ck, ikm);
  const mCopy = Buffer.from(m);
  for (let i = 0; i < 10; i++) {
    hkdf2(randomBytes(32), randomBytes(i * 10));
    blake2s(randomBytes(i * 20));
    hmacBlake2s(randomBytes(32), randomBytes(i));
  }
  assert.deepEqual(Buffer.concat([a1, a2]), copy);
  assert.deepEqual(h, hCopy);
  assert.deepEqual(m, mCopy);
  // Inputs are not modified either.
  const ck2 = Buffer.from(ck);
  hkdf2(ck, ikm);
  assert.deepEqual(ck, ck2);
});
