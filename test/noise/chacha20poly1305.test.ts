import { test } from 'vitest';
import assert from 'node:assert/strict';
import { createCipheriv } from 'node:crypto';
import {
  chacha20Block,
  chacha20Poly1305Open,
  chacha20Poly1305Seal,
  chacha20Xor,
  poly1305,
} from '../../src/noise/chacha20poly1305.js';
import { CipherState, writeNonce } from '../../src/noise/cipher-state.js';
import {
  AEAD_JS_MAX_BYTES,
  aeadOpen,
  aeadOpenNative,
  aeadSeal,
  aeadSealNative,
} from '../../src/noise/primitives.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const seq = (from: number, n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (from + i) & 0xff));

// Deterministic bytes so a failure can be replayed: xorshift32 from a fixed seed.
let seed = 0x9e3779b9;
function rand32(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return seed >>> 0;
}
function bytes(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = rand32() & 0xff;
  return b;
}
const below = (n: number) => rand32() % n;

const SUNSCREEN = Buffer.from(
  "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
  'ascii',
);

// ---------------------------------------------------------------------------
// RFC 8439 vectors

test('RFC 8439 §2.3.2: ChaCha20 block function', () => {
  const out = chacha20Block(seq(0, 32), 1, hex('000000090000004a00000000'));
  assert.equal(
    Buffer.from(out).toString('hex'),
    '10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e' +
      'd2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e',
  );
});

test('RFC 8439 §2.4.2: ChaCha20 encryption', () => {
  const ct = chacha20Xor(seq(0, 32), hex('000000000000004a00000000'), 1, SUNSCREEN);
  assert.equal(
    Buffer.from(ct).toString('hex'),
    '6e2e359a2568f98041ba0728dd0d6981e97e7aec1d4360c20a27afccfd9fae0b' +
      'f91b65c5524733ab8f593dabcd62b3571639d624e65152ab8f530c359f0861d8' +
      '07ca0dbf500d6a6156a38e088a22b65e52bc514d16ccf806818ce91ab7793736' +
      '5af90bbf74a35be6b40b8eedf2785e42874d',
  );
});

test('RFC 8439 §2.5.2: Poly1305', () => {
  const tag = poly1305(
    hex('85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b'),
    Buffer.from('Cryptographic Forum Research Group', 'ascii'),
  );
  assert.equal(Buffer.from(tag).toString('hex'), 'a8061dc1305136c6c22b8baf0c0127a9');
});

// Appendix A.3 #5..#11: inputs that hit h >= p, the 2^130-5 wrap-around and long
// carry chains, which random messages essentially never reach.
const A3_EDGE: [key: string, msg: string, tag: string][] = [
  ['02' + '00'.repeat(31), 'ff'.repeat(16), '03' + '00'.repeat(15)],
  ['02' + '00'.repeat(15) + 'ff'.repeat(16), '02' + '00'.repeat(15), '03' + '00'.repeat(15)],
  ['01' + '00'.repeat(31), 'ff'.repeat(16) + 'f0' + 'ff'.repeat(15) + '11' + '00'.repeat(15), '05' + '00'.repeat(15)],
  ['01' + '00'.repeat(31), 'ff'.repeat(16) + 'fb' + 'fe'.repeat(15) + '01'.repeat(16), '00'.repeat(16)],
  ['02' + '00'.repeat(31), 'fd' + 'ff'.repeat(15), 'fa' + 'ff'.repeat(15)],
  [
    '0100000000000000' + '0400000000000000' + '00'.repeat(16),
    'e33594d7505e43b90000000000000000' + '3394d7505e4379cd0100000000000000' + '00'.repeat(16) + '01' + '00'.repeat(15),
    '1400000000000000' + '5500000000000000',
  ],
  [
    '0100000000000000' + '0400000000000000' + '00'.repeat(16),
    'e33594d7505e43b90000000000000000' + '3394d7505e4379cd0100000000000000' + '00'.repeat(16),
    '13' + '00'.repeat(15),
  ],
];

test('RFC 8439 A.3: Poly1305 edge cases (final reduction, wrap-around, carries)', () => {
  for (const [key, msg, tag] of A3_EDGE) {
    assert.equal(Buffer.from(poly1305(hex(key), hex(msg))).toString('hex'), tag, `key ${key} msg ${msg}`);
    assert.equal(Buffer.from(poly1305Ref(hex(key), hex(msg))).toString('hex'), tag, 'the BigInt reference agrees');
  }
});

test('RFC 8439 §2.8.2: AEAD seal and open', () => {
  const key = seq(0x80, 32);
  const nonce = hex('070000004041424344454647');
  const ad = hex('50515253c0c1c2c3c4c5c6c7');
  const want =
    'd31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6' +
    '3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36' +
    '92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc' +
    '3ff4def08e4b7a9de576d26586cec64b6116' +
    '1ae10b594f09e26a7e902ecbd0600691';
  assert.equal(chacha20Poly1305Seal(key, nonce, SUNSCREEN, ad).toString('hex'), want);
  assert.equal(aeadSeal(key, nonce, SUNSCREEN, ad).toString('hex'), want);
  assert.equal(aeadSealNative(key, nonce, SUNSCREEN, ad).toString('hex'), want, 'node:crypto agrees');
  assert.deepEqual(chacha20Poly1305Open(key, nonce, hex(want), ad), SUNSCREEN);
  assert.deepEqual(aeadOpen(key, nonce, hex(want), ad), SUNSCREEN);
});

test('RFC 8439 A.5: AEAD decryption', () => {
  const key = hex('1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0');
  const nonce = hex('000000000102030405060708');
  const ad = hex('f33388860000000000004e91');
  const ct = hex(
    '64a0861575861af460f062c79be643bd5e805cfd345cf389f108670ac76c8cb2' +
      '4c6cfc18755d43eea09ee94e382d26b0bdb7b73c321b0100d4f03b7f355894cf' +
      '332f830e710b97ce98c8a84abd0b948114ad176e008d33bd60f982b1ff37c855' +
      '9797a06ef4f0ef61c186324e2b3506383606907b6a7c02b0f9f6157b53c867e4' +
      'b9166c767b804d46a59b5216cde7a4e99040c5a40433225ee282a1b0a06c523e' +
      'af4534d7f83fa1155b0047718cbc546a0d072b04b3564eea1b422273f548271a' +
      '0bb2316053fa76991955ebd63159434ecebb4e466dae5a1073a6727627097a10' +
      '49e617d91d361094fa68f0ff77987130305beaba2eda04df997b714d6c6f2c29' +
      'a6ad5cb4022b02709b',
  );
  const tag = hex('eead9d67890cbb22392336fea1851f38');
  const pt = hex(
    '496e7465726e65742d4472616674732061726520647261667420646f63756d65' +
      '6e74732076616c696420666f722061206d6178696d756d206f6620736978206d' +
      '6f6e74687320616e64206d617920626520757064617465642c207265706c6163' +
      '65642c206f72206f62736f6c65746564206279206f7468657220646f63756d65' +
      '6e747320617420616e792074696d652e20497420697320696e617070726f7072' +
      '6961746520746f2075736520496e7465726e65742d4472616674732061732072' +
      '65666572656e6365206d6174657269616c206f7220746f206369746520746865' +
      '6d206f74686572207468616e206173202fe2809c776f726b20696e2070726f67' +
      '726573732e2fe2809d',
  );
  const sealed = Buffer.concat([ct, tag]);
  assert.equal(ct.length, 265);
  assert.deepEqual(chacha20Poly1305Open(key, nonce, sealed, ad), pt);
  assert.deepEqual(aeadOpen(key, nonce, sealed, ad), pt);
  assert.deepEqual(chacha20Poly1305Seal(key, nonce, pt, ad), sealed);
  assert.match(pt.toString('utf8'), /^Internet-Drafts are draft documents/);
});

// ---------------------------------------------------------------------------
// Poly1305 against an independent BigInt transcription of RFC 8439 §2.5.1

function leToBig(b: Uint8Array): bigint {
  let x = 0n;
  for (let i = b.length - 1; i >= 0; i--) x = (x << 8n) | BigInt(b[i]!);
  return x;
}

function poly1305Ref(key: Uint8Array, msg: Uint8Array): Uint8Array {
  const p = (1n << 130n) - 5n;
  const r = leToBig(key.subarray(0, 16)) & 0x0ffffffc0ffffffc0ffffffc0fffffffn;
  const s = leToBig(key.subarray(16, 32));
  let a = 0n;
  for (let i = 0; i < msg.length; i += 16) {
    const block = msg.subarray(i, Math.min(i + 16, msg.length));
    a = ((a + leToBig(block) + (1n << BigInt(8 * block.length))) * r) % p;
  }
  let t = (a + s) & ((1n << 128n) - 1n);
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++, t >>= 8n) out[i] = Number(t & 0xffn);
  return out;
}

test('Poly1305 matches a BigInt reference on random and extreme inputs', () => {
  const patterns: ((n: number) => Buffer)[] = [
    (n) => bytes(n),
    (n) => Buffer.alloc(n, 0xff),
    (n) => Buffer.alloc(n, 0),
    (n) => Buffer.from(Array.from({ length: n }, (_, i) => (i % 16 === 15 ? 0xff : 0xfe))),
  ];
  const keys: (() => Buffer)[] = [
    () => bytes(32),
    () => Buffer.alloc(32, 0xff), // largest r after clamping, s = 2^128-1 (carry out of s is dropped)
    () => Buffer.concat([Buffer.alloc(16, 0xff), Buffer.alloc(16, 0)]),
    () => Buffer.concat([bytes(16), Buffer.alloc(16, 0xff)]),
  ];
  for (const makeKey of keys) {
    for (const makeMsg of patterns) {
      for (let n = 0; n <= 130; n++) {
        const key = makeKey();
        const msg = makeMsg(n);
        assert.deepEqual(
          Buffer.from(poly1305(key, msg)),
          Buffer.from(poly1305Ref(key, msg)),
          `key ${key.toString('hex')} msg ${msg.toString('hex')}`,
        );
      }
    }
  }
  for (let i = 0; i < 300; i++) {
    const key = bytes(32);
    const msg = bytes(below(2000));
    assert.deepEqual(Buffer.from(poly1305(key, msg)), Buffer.from(poly1305Ref(key, msg)));
  }
});

test('ChaCha20 matches node:crypto chacha20 at any counter and length', () => {
  for (let i = 0; i < 300; i++) {
    const key = bytes(32);
    const nonce = bytes(12);
    const counter = i % 3 === 0 ? 0xffffffff - below(3) : rand32();
    const msg = bytes(i < 200 ? i : below(5000));
    // node's "chacha20" takes a 16-byte IV: the 32-bit counter (LE) then the 96-bit nonce.
    const iv = Buffer.concat([Buffer.alloc(4), nonce]);
    iv.writeUInt32LE(counter >>> 0, 0);
    // Past 2^32 blocks the counters differ (node carries into the nonce), so stay below it.
    const blocks = Math.ceil(msg.length / 64);
    if ((counter >>> 0) + blocks > 0x1_0000_0000) continue;
    const c = createCipheriv('chacha20', key, iv);
    const want = Buffer.concat([c.update(msg), c.final()]);
    assert.deepEqual(Buffer.from(chacha20Xor(key, nonce, counter, msg)), want, `len ${msg.length} counter ${counter}`);
  }
});

// ---------------------------------------------------------------------------
// The AEAD against node:crypto

function checkAgainstNative(len: number, adLen: number): void {
  const key = bytes(32);
  const nonce = bytes(12);
  const pt = bytes(len);
  const ad = bytes(adLen);
  const ctx = `len ${len} ad ${adLen} key ${key.toString('hex')} nonce ${nonce.toString('hex')}`;
  const want = aeadSealNative(key, nonce, pt, ad);
  assert.deepEqual(chacha20Poly1305Seal(key, nonce, pt, ad), want, `JS seal: ${ctx}`);
  assert.deepEqual(aeadSeal(key, nonce, pt, ad), want, `aeadSeal: ${ctx}`);
  assert.deepEqual(chacha20Poly1305Open(key, nonce, want, ad), pt, `JS open: ${ctx}`);
  assert.deepEqual(aeadOpen(key, nonce, want, ad), pt, `aeadOpen: ${ctx}`);
}

test('seal/open equal node:crypto for every plaintext length 0..300, with and without AD', () => {
  for (let len = 0; len <= 300; len++) {
    for (const adLen of [0, 32, 1 + below(15), 17 + below(40)]) checkAgainstNative(len, adLen);
  }
});

test('seal/open equal node:crypto for random lengths, around the threshold, and large records', () => {
  for (let i = 0; i < 2000; i++) checkAgainstNative(below(1200), i % 2 === 0 ? 0 : below(70));
  for (let d = -3; d <= 3; d++) {
    checkAgainstNative(AEAD_JS_MAX_BYTES + d, 0);
    checkAgainstNative(AEAD_JS_MAX_BYTES - 32 + d, 32);
  }
  for (const len of [4077, 4096, 65535]) {
    for (const adLen of [0, 32]) checkAgainstNative(len, adLen); // JS functions take any size
  }
});

test('inputs at any byte offset (subarrays of a larger buffer) give the same results', () => {
  const key = bytes(32);
  const nonce = bytes(12);
  const pool = bytes(600);
  for (let off = 0; off < 8; off++) {
    for (const len of [0, 1, 3, 15, 16, 63, 64, 65, 200]) {
      const pt = pool.subarray(off, off + len);
      const ad = pool.subarray(off + 300, off + 300 + (len % 40));
      const want = aeadSealNative(key, nonce, pt, ad);
      assert.deepEqual(chacha20Poly1305Seal(key, nonce, pt, ad), want);
      const framed = Buffer.concat([Buffer.alloc(off), want]).subarray(off);
      assert.deepEqual(chacha20Poly1305Open(key, nonce, framed, ad), Buffer.from(pt));
    }
  }
});

test('open returns null for a tampered ciphertext, tag or AD, a wrong key or nonce, or a short input', () => {
  for (let i = 0; i < 400; i++) {
    const key = bytes(32);
    const nonce = bytes(12);
    const len = i < 100 ? i : below(AEAD_JS_MAX_BYTES);
    const pt = bytes(len);
    const ad = i % 3 === 0 ? Buffer.alloc(0) : bytes(1 + below(40));
    const sealed = aeadSeal(key, nonce, pt, ad);
    const opens = [chacha20Poly1305Open, aeadOpen, aeadOpenNative];

    const bad = Buffer.from(sealed);
    bad[below(bad.length)]! ^= 1 << below(8); // ciphertext or tag
    for (const open of opens) assert.equal(open(key, nonce, bad, ad), null);

    const badTag = Buffer.from(sealed);
    badTag[len + below(16)]! ^= 1 << below(8);
    for (const open of opens) assert.equal(open(key, nonce, badTag, ad), null);

    if (ad.length > 0) {
      const badAd = Buffer.from(ad);
      badAd[below(ad.length)]! ^= 1 << below(8);
      for (const open of opens) assert.equal(open(key, nonce, sealed, badAd), null);
      for (const open of opens) assert.equal(open(key, nonce, sealed, Buffer.alloc(0)), null, 'AD dropped');
    } else {
      for (const open of opens) assert.equal(open(key, nonce, sealed, Buffer.alloc(1)), null, 'AD added');
    }

    const otherKey = Buffer.from(key);
    otherKey[below(32)]! ^= 1 << below(8);
    const otherNonce = Buffer.from(nonce);
    otherNonce[below(12)]! ^= 1 << below(8);
    for (const open of opens) {
      assert.equal(open(otherKey, nonce, sealed, ad), null);
      assert.equal(open(key, otherNonce, sealed, ad), null);
      assert.equal(open(key, nonce, sealed.subarray(0, sealed.length - 1), ad), null, 'truncated');
      assert.deepEqual(open(key, nonce, sealed, ad), pt, 'the untouched record still opens');
    }
  }
  for (const open of [chacha20Poly1305Open, aeadOpen, aeadOpenNative]) {
    for (let n = 0; n < 16; n++) assert.equal(open(bytes(32), bytes(12), bytes(n), Buffer.alloc(0)), null);
  }
});

test('wrong key or nonce lengths are rejected exactly as node:crypto rejects them', () => {
  const cases: [keyLen: number, nonceLen: number][] = [
    [31, 12], [33, 12], [0, 12], [32, 11], [32, 13], [32, 8], [32, 16], [32, 0], [16, 16],
  ];
  for (const [keyLen, nonceLen] of cases) {
    const key = bytes(keyLen);
    const nonce = bytes(nonceLen);
    const errorOf = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        return { name: (err as Error).name, code: (err as { code?: string }).code, message: (err as Error).message };
      }
      return null;
    };
    for (const len of [0, 100, AEAD_JS_MAX_BYTES + 100]) {
      const pt = bytes(len);
      const want = errorOf(() => aeadSealNative(key, nonce, pt, Buffer.alloc(0)));
      assert.ok(want, `node:crypto refuses key ${keyLen} nonce ${nonceLen}`);
      assert.deepEqual(errorOf(() => aeadSeal(key, nonce, pt, Buffer.alloc(0))), want);
      const sealed = bytes(len + 16);
      const wantOpen = errorOf(() => aeadOpenNative(key, nonce, sealed, Buffer.alloc(0)));
      assert.ok(wantOpen);
      assert.deepEqual(errorOf(() => aeadOpen(key, nonce, sealed, Buffer.alloc(0))), wantOpen);
    }
    // The JS functions refuse too rather than read past the end.
    assert.throws(() => chacha20Poly1305Seal(key, nonce, bytes(10), Buffer.alloc(0)), RangeError);
    assert.throws(() => chacha20Poly1305Open(key, nonce, bytes(30), Buffer.alloc(0)), RangeError);
  }
});

// ---------------------------------------------------------------------------
// CipherState

test('CipherState records equal aeadSealNative under nonce(n), for both nonce encodings', () => {
  for (const encoding of ['noise-le', 'tailscale-be'] as const) {
    const key = bytes(32);
    const tx = new CipherState(key, encoding);
    const rx = new CipherState(key, encoding);
    const ref = new CipherState(key, encoding);
    for (let n = 0; n < 300; n++) {
      const pt = bytes(n % 7 === 0 ? below(4077) : below(300));
      const ad = n === 0 ? bytes(32) : Buffer.alloc(0);
      const nonce = ref.nonce(n);
      const sealed = tx.encryptWithAd(ad, pt);
      assert.deepEqual(sealed, aeadSealNative(key, nonce, pt, ad), `${encoding} record ${n}`);
      assert.deepEqual(ref.nonce(n), nonce, 'nonce(n) is a fresh buffer, untouched by later records');
      assert.deepEqual(rx.decryptWithAd(ad, sealed), pt);
    }
    assert.equal(tx.counter, 300);
    assert.equal(rx.counter, 300);
  }
});

test('the reused record nonce is written like nonce(n), including above 2^32', () => {
  const values = [0, 1, 255, 256, 0xffff_ffff, 0x1_0000_0000, 0x1_0000_0002, 0x12_3456_789a, Number.MAX_SAFE_INTEGER - 1];
  for (let i = 0; i < 200; i++) values.push(rand32() * 0x20_0000 + (rand32() & 0x1f_ffff));
  for (const encoding of ['noise-le', 'tailscale-be'] as const) {
    const cs = new CipherState(Buffer.alloc(32, 3), encoding);
    const buf = Buffer.alloc(12);
    for (const n of values) {
      writeNonce(buf, n, encoding);
      assert.deepEqual(buf, cs.nonce(n), `${encoding} ${n}`);
    }
  }
});

test('a CipherState still refuses after a failed decryption (JS path)', () => {
  const key = bytes(32);
  const tx = new CipherState(key, 'tailscale-be');
  const rx = new CipherState(key, 'tailscale-be');
  const a = tx.encryptWithAd(Buffer.alloc(0), Buffer.from('hello'));
  const b = tx.encryptWithAd(Buffer.alloc(0), Buffer.from('world'));
  const bad = Buffer.from(a);
  bad[bad.length - 1]! ^= 0x80;
  assert.throws(() => rx.decryptWithAd(Buffer.alloc(0), bad), { code: 'DECRYPT_FAILED' });
  assert.throws(() => rx.decryptWithAd(Buffer.alloc(0), b), { code: 'STATE' });
});
