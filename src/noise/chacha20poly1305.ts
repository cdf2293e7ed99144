/**
 * ChaCha20-Poly1305 AEAD (RFC 8439) in plain TypeScript.
 *
 * Why: for the small records of the control protocol, node:crypto spends most of
 * its time creating and finalising a cipher object per call; doing the arithmetic
 * in JS is several times cheaper there. primitives.ts picks this below a measured
 * size and node:crypto above it, so both must agree bit for bit (the tests check).
 *
 * Hot-path rules: no allocation except the returned Buffer; all scratch lives in
 * module-level typed arrays (safe: JS runs one call at a time per isolate, and
 * nothing here yields), and key material is zeroed from them after every call.
 * Byte order is handled with shifts, never typed-array views, so the result does
 * not depend on the platform's endianness.
 */

const KEY_LEN = 32;
const NONCE_LEN = 12;
const TAG_LEN = 16;

// ---------------------------------------------------------------------------
// ChaCha20 (RFC 8439 §2.3, §2.4)

/** Input state: "expand 32-byte k", key, block counter, nonce (words, LE). */
const state = new Int32Array(16);
/** One block of keystream as 16 words; also where the Poly1305 key comes from. */
const ks = new Int32Array(16);

function le32(b: Uint8Array, o: number): number {
  return b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24);
}

function setup(key: Uint8Array, nonce: Uint8Array): void {
  const s = state;
  s[0] = 0x61707865;
  s[1] = 0x3320646e;
  s[2] = 0x79622d32;
  s[3] = 0x6b206574;
  for (let i = 0; i < 8; i++) s[4 + i] = le32(key, 4 * i);
  s[12] = 0;
  s[13] = le32(nonce, 0);
  s[14] = le32(nonce, 4);
  s[15] = le32(nonce, 8);
}

/** ks = ChaCha20 block of `state` (20 rounds, then the input words added back). */
function core(): void {
  const s = state;
  let x0 = s[0], x1 = s[1], x2 = s[2], x3 = s[3];
  let x4 = s[4], x5 = s[5], x6 = s[6], x7 = s[7];
  let x8 = s[8], x9 = s[9], x10 = s[10], x11 = s[11];
  let x12 = s[12], x13 = s[13], x14 = s[14], x15 = s[15];
  for (let i = 0; i < 10; i++) {
    // Column round: QR(0,4,8,12) QR(1,5,9,13) QR(2,6,10,14) QR(3,7,11,15).
    x0 = (x0 + x4) | 0; x12 ^= x0; x12 = (x12 << 16) | (x12 >>> 16);
    x8 = (x8 + x12) | 0; x4 ^= x8; x4 = (x4 << 12) | (x4 >>> 20);
    x0 = (x0 + x4) | 0; x12 ^= x0; x12 = (x12 << 8) | (x12 >>> 24);
    x8 = (x8 + x12) | 0; x4 ^= x8; x4 = (x4 << 7) | (x4 >>> 25);
    x1 = (x1 + x5) | 0; x13 ^= x1; x13 = (x13 << 16) | (x13 >>> 16);
    x9 = (x9 + x13) | 0; x5 ^= x9; x5 = (x5 << 12) | (x5 >>> 20);
    x1 = (x1 + x5) | 0; x13 ^= x1; x13 = (x13 << 8) | (x13 >>> 24);
    x9 = (x9 + x13) | 0; x5 ^= x9; x5 = (x5 << 7) | (x5 >>> 25);
    x2 = (x2 + x6) | 0; x14 ^= x2; x14 = (x14 << 16) | (x14 >>> 16);
    x10 = (x10 + x14) | 0; x6 ^= x10; x6 = (x6 << 12) | (x6 >>> 20);
    x2 = (x2 + x6) | 0; x14 ^= x2; x14 = (x14 << 8) | (x14 >>> 24);
    x10 = (x10 + x14) | 0; x6 ^= x10; x6 = (x6 << 7) | (x6 >>> 25);
    x3 = (x3 + x7) | 0; x15 ^= x3; x15 = (x15 << 16) | (x15 >>> 16);
    x11 = (x11 + x15) | 0; x7 ^= x11; x7 = (x7 << 12) | (x7 >>> 20);
    x3 = (x3 + x7) | 0; x15 ^= x3; x15 = (x15 << 8) | (x15 >>> 24);
    x11 = (x11 + x15) | 0; x7 ^= x11; x7 = (x7 << 7) | (x7 >>> 25);
    // Diagonal round: QR(0,5,10,15) QR(1,6,11,12) QR(2,7,8,13) QR(3,4,9,14).
    x0 = (x0 + x5) | 0; x15 ^= x0; x15 = (x15 << 16) | (x15 >>> 16);
    x10 = (x10 + x15) | 0; x5 ^= x10; x5 = (x5 << 12) | (x5 >>> 20);
    x0 = (x0 + x5) | 0; x15 ^= x0; x15 = (x15 << 8) | (x15 >>> 24);
    x10 = (x10 + x15) | 0; x5 ^= x10; x5 = (x5 << 7) | (x5 >>> 25);
    x1 = (x1 + x6) | 0; x12 ^= x1; x12 = (x12 << 16) | (x12 >>> 16);
    x11 = (x11 + x12) | 0; x6 ^= x11; x6 = (x6 << 12) | (x6 >>> 20);
    x1 = (x1 + x6) | 0; x12 ^= x1; x12 = (x12 << 8) | (x12 >>> 24);
    x11 = (x11 + x12) | 0; x6 ^= x11; x6 = (x6 << 7) | (x6 >>> 25);
    x2 = (x2 + x7) | 0; x13 ^= x2; x13 = (x13 << 16) | (x13 >>> 16);
    x8 = (x8 + x13) | 0; x7 ^= x8; x7 = (x7 << 12) | (x7 >>> 20);
    x2 = (x2 + x7) | 0; x13 ^= x2; x13 = (x13 << 8) | (x13 >>> 24);
    x8 = (x8 + x13) | 0; x7 ^= x8; x7 = (x7 << 7) | (x7 >>> 25);
    x3 = (x3 + x4) | 0; x14 ^= x3; x14 = (x14 << 16) | (x14 >>> 16);
    x9 = (x9 + x14) | 0; x4 ^= x9; x4 = (x4 << 12) | (x4 >>> 20);
    x3 = (x3 + x4) | 0; x14 ^= x3; x14 = (x14 << 8) | (x14 >>> 24);
    x9 = (x9 + x14) | 0; x4 ^= x9; x4 = (x4 << 7) | (x4 >>> 25);
  }
  const o = ks;
  o[0] = x0 + s[0]; o[1] = x1 + s[1]; o[2] = x2 + s[2]; o[3] = x3 + s[3];
  o[4] = x4 + s[4]; o[5] = x5 + s[5]; o[6] = x6 + s[6]; o[7] = x7 + s[7];
  o[8] = x8 + s[8]; o[9] = x9 + s[9]; o[10] = x10 + s[10]; o[11] = x11 + s[11];
  o[12] = x12 + s[12]; o[13] = x13 + s[13]; o[14] = x14 + s[14]; o[15] = x15 + s[15];
}

/**
 * out[op, op+len) = inp[ip, ip+len) XOR the keystream from block `counter` on.
 * Typed-array stores keep the low 8 bits, so `w >>> 8` etc. need no masking.
 */
function xorStream(inp: Uint8Array, ip: number, out: Uint8Array, op: number, len: number, counter: number): void {
  const w = ks;
  state[12] = counter;
  while (len >= 64) {
    core();
    for (let j = 0; j < 16; j++) {
      const k = w[j];
      out[op] = inp[ip] ^ k;
      out[op + 1] = inp[ip + 1] ^ (k >>> 8);
      out[op + 2] = inp[ip + 2] ^ (k >>> 16);
      out[op + 3] = inp[ip + 3] ^ (k >>> 24);
      op += 4;
      ip += 4;
    }
    state[12] = (state[12] + 1) | 0;
    len -= 64;
  }
  if (len > 0) {
    core();
    for (let j = 0; j < len; j++) out[op + j] = inp[ip + j] ^ (w[j >>> 2] >>> ((j & 3) << 3));
  }
}

/** True when typed-array words are little-endian, the byte order ChaCha20 defines. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

// A word view of the ArrayBuffer behind the last output buffer. Outputs come from
// Buffer's 8 KiB pool (8-byte aligned slices), so one view serves many records.
let viewOf: ArrayBufferLike | null = null;
let view32: Int32Array<ArrayBufferLike> = new Int32Array(0);

/**
 * buf[0, len) ^= keystream from block `counter` on, a word at a time where it can
 * (about half the cost of the byte loop in xorStream). Falls back to bytes on a
 * big-endian host or an unaligned buffer.
 */
function xorInPlace(buf: Uint8Array, len: number, counter: number): void {
  if (!LITTLE_ENDIAN || (buf.byteOffset & 3) !== 0) {
    xorStream(buf, 0, buf, 0, len, counter);
    return;
  }
  if (buf.buffer !== viewOf) {
    viewOf = buf.buffer;
    view32 = new Int32Array(buf.buffer, 0, buf.buffer.byteLength >>> 2);
  }
  const v = view32;
  const w = ks;
  let p = buf.byteOffset >>> 2; // word index of buf[done] in v
  let done = 0;
  state[12] = counter;
  while (len - done >= 64) {
    core();
    for (let j = 0; j < 16; j++) v[p + j] ^= w[j];
    p += 16;
    done += 64;
    state[12] = (state[12] + 1) | 0;
  }
  const rest = len - done;
  if (rest > 0) {
    core();
    // Whole words, then the last 1..3 bytes (the rest of that word is not ours).
    const words = rest >>> 2;
    for (let j = 0; j < words; j++) v[p + j] ^= w[j];
    for (let j = words << 2; j < rest; j++) buf[done + j] ^= w[j >>> 2] >>> ((j & 3) << 3);
  }
}

// ---------------------------------------------------------------------------
// Poly1305 (RFC 8439 §2.5)
//
// Limbs are radix 2^22 held in float64, six of them (132 bits). Why not 26-bit
// limbs: five 26-bit limbs need 64-bit products (their column sums reach ~2^57),
// which doubles cannot hold exactly and int32 cannot hold at all. With 22-bit
// limbs every column sum stays below 2^52, so plain double arithmetic is exact and
// a block costs 36 multiplications (13-bit limbs as in poly1305-donna-16 need
// 100, and measured ~2x slower here). Limbs at or above 2^132 fold back with
// 2^132 = 4 * 2^130 ≡ 4 * 5 = 20 (mod 2^130 - 5).

const LIMB = 0x400000; // 2^22
const INV_LIMB = 1 / LIMB; // exact: a power of two
const M22 = 0x3fffff;
/** The 2^128 bit every full 16-byte block gets, as a bit of limb 5 (128 = 5*22 + 18). */
const HIBIT = 1 << 18;

/** Accumulator h, r, and s (the final addend, as four LE words). */
const acc = new Float64Array(6);
const rl = new Float64Array(6);
const sw = new Int32Array(4);
/** A 16-byte block for partial tails, the length block, and computed tags. */
const blk = new Uint8Array(16);

/** Poly1305 key from the first 32 bytes of ks (RFC 8439 §2.6); clamps r. */
function polyInit(): void {
  const w0 = ks[0] & 0x0fffffff;
  const w1 = ks[1] & 0x0ffffffc;
  const w2 = ks[2] & 0x0ffffffc;
  const w3 = ks[3] & 0x0ffffffc;
  rl[0] = w0 & M22;
  rl[1] = ((w0 >>> 22) | (w1 << 10)) & M22;
  rl[2] = ((w1 >>> 12) | (w2 << 20)) & M22;
  rl[3] = (w2 >>> 2) & M22;
  rl[4] = ((w2 >>> 24) | (w3 << 8)) & M22;
  rl[5] = w3 >>> 14;
  sw[0] = ks[4];
  sw[1] = ks[5];
  sw[2] = ks[6];
  sw[3] = ks[7];
  for (let i = 0; i < 6; i++) acc[i] = 0;
}

/**
 * h = (h + block) * r mod 2^130-5 for each whole 16-byte block in m[off, end).
 * Bounds (why doubles stay exact): on entry h limbs are < 2^22 except h1 < 2^22 +
 * 2^14; adding a block keeps them < 2^23.01; r limbs < 2^22, so a column is at
 * most 6 * 2^23.01 * 20 * 2^22 < 2^52 (plus a carry < 2^31).
 */
function polyBlocks(m: Uint8Array, off: number, end: number, hibit: number): void {
  let h0 = acc[0], h1 = acc[1], h2 = acc[2], h3 = acc[3], h4 = acc[4], h5 = acc[5];
  const r0 = rl[0], r1 = rl[1], r2 = rl[2], r3 = rl[3], r4 = rl[4], r5 = rl[5];
  const t1 = 20 * r1, t2 = 20 * r2, t3 = 20 * r3, t4 = 20 * r4, t5 = 20 * r5;
  while (off + 16 <= end) {
    const w0 = m[off] | (m[off + 1] << 8) | (m[off + 2] << 16) | (m[off + 3] << 24);
    const w1 = m[off + 4] | (m[off + 5] << 8) | (m[off + 6] << 16) | (m[off + 7] << 24);
    const w2 = m[off + 8] | (m[off + 9] << 8) | (m[off + 10] << 16) | (m[off + 11] << 24);
    const w3 = m[off + 12] | (m[off + 13] << 8) | (m[off + 14] << 16) | (m[off + 15] << 24);
    off += 16;
    h0 += w0 & M22;
    h1 += ((w0 >>> 22) | (w1 << 10)) & M22;
    h2 += ((w1 >>> 12) | (w2 << 20)) & M22;
    h3 += (w2 >>> 2) & M22;
    h4 += ((w2 >>> 24) | (w3 << 8)) & M22;
    h5 += (w3 >>> 14) | hibit;

    // Column k collects h_i * r_j with i + j = k, and 20 * h_i * r_j with i + j = k + 6.
    const d0 = h0 * r0 + h1 * t5 + h2 * t4 + h3 * t3 + h4 * t2 + h5 * t1;
    let d1 = h0 * r1 + h1 * r0 + h2 * t5 + h3 * t4 + h4 * t3 + h5 * t2;
    let d2 = h0 * r2 + h1 * r1 + h2 * r0 + h3 * t5 + h4 * t4 + h5 * t3;
    let d3 = h0 * r3 + h1 * r2 + h2 * r1 + h3 * r0 + h4 * t5 + h5 * t4;
    let d4 = h0 * r4 + h1 * r3 + h2 * r2 + h3 * r1 + h4 * r0 + h5 * t5;
    let d5 = h0 * r5 + h1 * r4 + h2 * r3 + h3 * r2 + h4 * r1 + h5 * r0;

    // Carry each column into the next; the carry out of limb 5 wraps around times 20.
    let c = Math.floor(d0 * INV_LIMB);
    h0 = d0 - c * LIMB;
    d1 += c; c = Math.floor(d1 * INV_LIMB); h1 = d1 - c * LIMB;
    d2 += c; c = Math.floor(d2 * INV_LIMB); h2 = d2 - c * LIMB;
    d3 += c; c = Math.floor(d3 * INV_LIMB); h3 = d3 - c * LIMB;
    d4 += c; c = Math.floor(d4 * INV_LIMB); h4 = d4 - c * LIMB;
    d5 += c; c = Math.floor(d5 * INV_LIMB); h5 = d5 - c * LIMB;
    h0 += c * 20;
    c = Math.floor(h0 * INV_LIMB);
    h0 -= c * LIMB;
    h1 += c;
  }
  acc[0] = h0; acc[1] = h1; acc[2] = h2; acc[3] = h3; acc[4] = h4; acc[5] = h5;
}

/** MACs m[0, len) zero-padded to a multiple of 16 (the AEAD's pad16). */
function polyPadded(m: Uint8Array, len: number): void {
  const full = len & ~15;
  if (full > 0) polyBlocks(m, 0, full, HIBIT);
  if (full < len) {
    const b = blk;
    let i = 0;
    for (; full + i < len; i++) b[i] = m[full + i];
    for (; i < 16; i++) b[i] = 0;
    polyBlocks(b, 0, 16, HIBIT);
  }
}

/** Writes tag = ((h mod 2^130-5) + s) mod 2^128 to out[o, o+16). */
function polyFinish(out: Uint8Array, o: number): void {
  // Limbs are now < 2^23, so int32 bit operations are exact from here on.
  let h0 = acc[0] | 0, h1 = acc[1] | 0, h2 = acc[2] | 0, h3 = acc[3] | 0, h4 = acc[4] | 0, h5 = acc[5] | 0;
  let c: number;
  // Normalise every limb to 22 bits.
  c = h1 >>> 22; h1 &= M22; h2 += c;
  c = h2 >>> 22; h2 &= M22; h3 += c;
  c = h3 >>> 22; h3 &= M22; h4 += c;
  c = h4 >>> 22; h4 &= M22; h5 += c;
  // Fold bits >= 2^130 (limb 5 holds bits 110..131) back in as * 5, and carry again.
  c = h5 >>> 20; h5 &= 0xfffff; h0 += c * 5;
  c = h0 >>> 22; h0 &= M22; h1 += c;
  c = h1 >>> 22; h1 &= M22; h2 += c;
  c = h2 >>> 22; h2 &= M22; h3 += c;
  c = h3 >>> 22; h3 &= M22; h4 += c;
  c = h4 >>> 22; h4 &= M22; h5 += c;
  // Now h < 2^130 + 2^110, so h mod p is h or h - p. g = h + 5 - 2^130 = h - p;
  // keep g when it is not negative. Selection by mask, not branch, for constant time.
  let g0 = h0 + 5;
  c = g0 >>> 22; g0 &= M22;
  let g1 = h1 + c; c = g1 >>> 22; g1 &= M22;
  let g2 = h2 + c; c = g2 >>> 22; g2 &= M22;
  let g3 = h3 + c; c = g3 >>> 22; g3 &= M22;
  let g4 = h4 + c; c = g4 >>> 22; g4 &= M22;
  const g5 = h5 + c - (1 << 20);
  const keepH = g5 >> 31; // all ones when g < 0
  const keepG = ~keepH;
  h0 = (h0 & keepH) | (g0 & keepG);
  h1 = (h1 & keepH) | (g1 & keepG);
  h2 = (h2 & keepH) | (g2 & keepG);
  h3 = (h3 & keepH) | (g3 & keepG);
  h4 = (h4 & keepH) | (g4 & keepG);
  h5 = (h5 & keepH) | (g5 & keepG);
  // Low 128 bits as four LE words (bits 128, 129 drop out: the tag is mod 2^128).
  const w0 = (h0 | (h1 << 22)) >>> 0;
  const w1 = ((h1 >>> 10) | (h2 << 12)) >>> 0;
  const w2 = ((h2 >>> 20) | (h3 << 2) | (h4 << 24)) >>> 0;
  const w3 = ((h4 >>> 8) | (h5 << 14)) >>> 0;
  // + s mod 2^128. Sums stay below 2^33 as doubles; the carry is the bit above 32.
  let f = w0 + (sw[0] >>> 0);
  put32(out, o, f);
  f = w1 + (sw[1] >>> 0) + Math.floor(f / 0x100000000);
  put32(out, o + 4, f);
  f = w2 + (sw[2] >>> 0) + Math.floor(f / 0x100000000);
  put32(out, o + 8, f);
  f = w3 + (sw[3] >>> 0) + Math.floor(f / 0x100000000);
  put32(out, o + 12, f);
}

/** Stores the low 32 bits of v little-endian (>>> reduces mod 2^32, exact below 2^53). */
function put32(out: Uint8Array, o: number, v: number): void {
  const x = v >>> 0;
  out[o] = x;
  out[o + 1] = x >>> 8;
  out[o + 2] = x >>> 16;
  out[o + 3] = x >>> 24;
}

/** AEAD MAC input (RFC 8439 §2.8): ad, pad16, ciphertext, pad16, len(ad), len(ct) as u64 LE. */
function aeadMac(ad: Uint8Array, ct: Uint8Array, ctLen: number, out: Uint8Array, o: number): void {
  polyPadded(ad, ad.length);
  polyPadded(ct, ctLen);
  const b = blk;
  put32(b, 0, ad.length);
  put32(b, 4, Math.floor(ad.length / 0x100000000));
  put32(b, 8, ctLen);
  put32(b, 12, Math.floor(ctLen / 0x100000000));
  polyBlocks(b, 0, 16, HIBIT);
  polyFinish(out, o);
}

/**
 * Forget key-derived scratch so the last key used doesn't linger in module memory.
 * Plain loops: TypedArray.prototype.fill is a builtin call costing ~30 ns each here.
 */
function scrub(): void {
  for (let i = 0; i < 16; i++) {
    state[i] = 0;
    ks[i] = 0;
  }
  for (let i = 0; i < 6; i++) {
    rl[i] = 0;
    acc[i] = 0;
  }
  for (let i = 0; i < 4; i++) sw[i] = 0;
}

function checkSizes(key: Uint8Array, nonce: Uint8Array): void {
  if (key.length !== KEY_LEN) throw new RangeError(`ChaCha20-Poly1305 key must be ${KEY_LEN} bytes, got ${key.length}`);
  if (nonce.length !== NONCE_LEN) throw new RangeError(`ChaCha20-Poly1305 nonce must be ${NONCE_LEN} bytes, got ${nonce.length}`);
}

// ---------------------------------------------------------------------------
// Public API

/** AEAD_CHACHA20_POLY1305 seal: returns ciphertext || 16-byte tag. */
export function chacha20Poly1305Seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Buffer {
  checkSizes(key, nonce);
  const n = plaintext.length;
  // Every byte is written below, so the pool's unzeroed memory never leaks out.
  const out = Buffer.allocUnsafe(n + TAG_LEN);
  out.set(plaintext);
  setup(key, nonce);
  core(); // block 0: the one-time Poly1305 key
  polyInit();
  xorInPlace(out, n, 1);
  aeadMac(ad, out, n, out, n);
  scrub();
  return out;
}

/**
 * AEAD_CHACHA20_POLY1305 open of ciphertext || tag. Returns null when the tag
 * does not verify (or the input is shorter than a tag); decrypts only after the
 * tag has been checked, comparing all 16 bytes without an early exit.
 */
export function chacha20Poly1305Open(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Buffer | null {
  checkSizes(key, nonce);
  const n = sealed.length - TAG_LEN;
  if (n < 0) return null;
  setup(key, nonce);
  core();
  polyInit();
  const tag = blk;
  aeadMac(ad, sealed, n, tag, 0);
  let diff = 0;
  for (let i = 0; i < TAG_LEN; i++) diff |= tag[i] ^ sealed[n + i];
  if (diff !== 0) {
    scrub();
    return null;
  }
  const out = Buffer.allocUnsafe(n);
  xorStream(sealed, 0, out, 0, n, 1);
  scrub();
  return out;
}

/** The raw ChaCha20 block function (RFC 8439 §2.3); for tests. */
export function chacha20Block(key: Uint8Array, counter: number, nonce: Uint8Array): Uint8Array {
  checkSizes(key, nonce);
  const out = new Uint8Array(64);
  setup(key, nonce);
  state[12] = counter;
  core();
  for (let i = 0; i < 16; i++) put32(out, 4 * i, ks[i]);
  scrub();
  return out;
}

/** ChaCha20 encryption from block `counter` on (RFC 8439 §2.4); for tests. */
export function chacha20Xor(key: Uint8Array, nonce: Uint8Array, counter: number, input: Uint8Array): Uint8Array {
  checkSizes(key, nonce);
  const out = new Uint8Array(input.length);
  setup(key, nonce);
  xorStream(input, 0, out, 0, input.length, counter);
  scrub();
  return out;
}

/** One-time Poly1305 MAC of msg under a 32-byte key r || s (RFC 8439 §2.5); for tests. */
export function poly1305(key: Uint8Array, msg: Uint8Array): Uint8Array {
  if (key.length !== KEY_LEN) throw new RangeError(`Poly1305 key must be ${KEY_LEN} bytes, got ${key.length}`);
  for (let i = 0; i < 8; i++) ks[i] = le32(key, 4 * i);
  polyInit();
  const full = msg.length & ~15;
  polyBlocks(msg, 0, full, HIBIT);
  if (full < msg.length) {
    // A short final block gets a 0x01 byte after it instead of the 2^128 bit.
    const b = blk;
    let i = 0;
    for (; full + i < msg.length; i++) b[i] = msg[full + i];
    b[i++] = 1;
    for (; i < 16; i++) b[i] = 0;
    polyBlocks(b, 0, 16, 0);
  }
  const out = new Uint8Array(TAG_LEN);
  polyFinish(out, 0);
  scrub();
  return out;
}
