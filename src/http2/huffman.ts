// HPACK Huffman code (RFC 7541 §5.2 and Appendix B): the code table, a table-driven decoder
// and an encoder. Strings are HTTP/2 header octets, carried as latin1 JS strings (one char
// per byte) so that every byte value round-trips.

/**
 * Malformed HPACK input. Defined here rather than in hpack.ts so both modules can throw it
 * without an import cycle; hpack.ts re-exports it. Messages name the problem and the byte
 * offset within the header block.
 */
export class HpackError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HpackError';
  }
}

/** The end-of-string symbol; it may only appear (as a prefix) in the final padding. */
export const EOS = 256;

// RFC 7541 Appendix B as (code, bit length) pairs for symbols 0..256, eight symbols a line.
// Codes are right-aligned, as in the RFC's "code as hex" column.
const APPENDIX_B: readonly number[] = [
  /*   0 */ 0x1ff8, 13,  0x7fffd8, 23,  0xfffffe2, 28,  0xfffffe3, 28,  0xfffffe4, 28,  0xfffffe5, 28,  0xfffffe6, 28,  0xfffffe7, 28,
  /*   8 */ 0xfffffe8, 28,  0xffffea, 24,  0x3ffffffc, 30,  0xfffffe9, 28,  0xfffffea, 28,  0x3ffffffd, 30,  0xfffffeb, 28,  0xfffffec, 28,
  /*  16 */ 0xfffffed, 28,  0xfffffee, 28,  0xfffffef, 28,  0xffffff0, 28,  0xffffff1, 28,  0xffffff2, 28,  0x3ffffffe, 30,  0xffffff3, 28,
  /*  24 */ 0xffffff4, 28,  0xffffff5, 28,  0xffffff6, 28,  0xffffff7, 28,  0xffffff8, 28,  0xffffff9, 28,  0xffffffa, 28,  0xffffffb, 28,
  /*  32 */ 0x14, 6,  0x3f8, 10,  0x3f9, 10,  0xffa, 12,  0x1ff9, 13,  0x15, 6,  0xf8, 8,  0x7fa, 11,
  /*  40 */ 0x3fa, 10,  0x3fb, 10,  0xf9, 8,  0x7fb, 11,  0xfa, 8,  0x16, 6,  0x17, 6,  0x18, 6,
  /*  48 */ 0x0, 5,  0x1, 5,  0x2, 5,  0x19, 6,  0x1a, 6,  0x1b, 6,  0x1c, 6,  0x1d, 6,
  /*  56 */ 0x1e, 6,  0x1f, 6,  0x5c, 7,  0xfb, 8,  0x7ffc, 15,  0x20, 6,  0xffb, 12,  0x3fc, 10,
  /*  64 */ 0x1ffa, 13,  0x21, 6,  0x5d, 7,  0x5e, 7,  0x5f, 7,  0x60, 7,  0x61, 7,  0x62, 7,
  /*  72 */ 0x63, 7,  0x64, 7,  0x65, 7,  0x66, 7,  0x67, 7,  0x68, 7,  0x69, 7,  0x6a, 7,
  /*  80 */ 0x6b, 7,  0x6c, 7,  0x6d, 7,  0x6e, 7,  0x6f, 7,  0x70, 7,  0x71, 7,  0x72, 7,
  /*  88 */ 0xfc, 8,  0x73, 7,  0xfd, 8,  0x1ffb, 13,  0x7fff0, 19,  0x1ffc, 13,  0x3ffc, 14,  0x22, 6,
  /*  96 */ 0x7ffd, 15,  0x3, 5,  0x23, 6,  0x4, 5,  0x24, 6,  0x5, 5,  0x25, 6,  0x26, 6,
  /* 104 */ 0x27, 6,  0x6, 5,  0x74, 7,  0x75, 7,  0x28, 6,  0x29, 6,  0x2a, 6,  0x7, 5,
  /* 112 */ 0x2b, 6,  0x76, 7,  0x2c, 6,  0x8, 5,  0x9, 5,  0x2d, 6,  0x77, 7,  0x78, 7,
  /* 120 */ 0x79, 7,  0x7a, 7,  0x7b, 7,  0x7ffe, 15,  0x7fc, 11,  0x3ffd, 14,  0x1ffd, 13,  0xffffffc, 28,
  /* 128 */ 0xfffe6, 20,  0x3fffd2, 22,  0xfffe7, 20,  0xfffe8, 20,  0x3fffd3, 22,  0x3fffd4, 22,  0x3fffd5, 22,  0x7fffd9, 23,
  /* 136 */ 0x3fffd6, 22,  0x7fffda, 23,  0x7fffdb, 23,  0x7fffdc, 23,  0x7fffdd, 23,  0x7fffde, 23,  0xffffeb, 24,  0x7fffdf, 23,
  /* 144 */ 0xffffec, 24,  0xffffed, 24,  0x3fffd7, 22,  0x7fffe0, 23,  0xffffee, 24,  0x7fffe1, 23,  0x7fffe2, 23,  0x7fffe3, 23,
  /* 152 */ 0x7fffe4, 23,  0x1fffdc, 21,  0x3fffd8, 22,  0x7fffe5, 23,  0x3fffd9, 22,  0x7fffe6, 23,  0x7fffe7, 23,  0xffffef, 24,
  /* 160 */ 0x3fffda, 22,  0x1fffdd, 21,  0xfffe9, 20,  0x3fffdb, 22,  0x3fffdc, 22,  0x7fffe8, 23,  0x7fffe9, 23,  0x1fffde, 21,
  /* 168 */ 0x7fffea, 23,  0x3fffdd, 22,  0x3fffde, 22,  0xfffff0, 24,  0x1fffdf, 21,  0x3fffdf, 22,  0x7fffeb, 23,  0x7fffec, 23,
  /* 176 */ 0x1fffe0, 21,  0x1fffe1, 21,  0x3fffe0, 22,  0x1fffe2, 21,  0x7fffed, 23,  0x3fffe1, 22,  0x7fffee, 23,  0x7fffef, 23,
  /* 184 */ 0xfffea, 20,  0x3fffe2, 22,  0x3fffe3, 22,  0x3fffe4, 22,  0x7ffff0, 23,  0x3fffe5, 22,  0x3fffe6, 22,  0x7ffff1, 23,
  /* 192 */ 0x3ffffe0, 26,  0x3ffffe1, 26,  0xfffeb, 20,  0x7fff1, 19,  0x3fffe7, 22,  0x7ffff2, 23,  0x3fffe8, 22,  0x1ffffec, 25,
  /* 200 */ 0x3ffffe2, 26,  0x3ffffe3, 26,  0x3ffffe4, 26,  0x7ffffde, 27,  0x7ffffdf, 27,  0x3ffffe5, 26,  0xfffff1, 24,  0x1ffffed, 25,
  /* 208 */ 0x7fff2, 19,  0x1fffe3, 21,  0x3ffffe6, 26,  0x7ffffe0, 27,  0x7ffffe1, 27,  0x3ffffe7, 26,  0x7ffffe2, 27,  0xfffff2, 24,
  /* 216 */ 0x1fffe4, 21,  0x1fffe5, 21,  0x3ffffe8, 26,  0x3ffffe9, 26,  0xffffffd, 28,  0x7ffffe3, 27,  0x7ffffe4, 27,  0x7ffffe5, 27,
  /* 224 */ 0xfffec, 20,  0xfffff3, 24,  0xfffed, 20,  0x1fffe6, 21,  0x3fffe9, 22,  0x1fffe7, 21,  0x1fffe8, 21,  0x7ffff3, 23,
  /* 232 */ 0x3fffea, 22,  0x3fffeb, 22,  0x1ffffee, 25,  0x1ffffef, 25,  0xfffff4, 24,  0xfffff5, 24,  0x3ffffea, 26,  0x7ffff4, 23,
  /* 240 */ 0x3ffffeb, 26,  0x7ffffe6, 27,  0x3ffffec, 26,  0x3ffffed, 26,  0x7ffffe7, 27,  0x7ffffe8, 27,  0x7ffffe9, 27,  0x7ffffea, 27,
  /* 248 */ 0x7ffffeb, 27,  0xffffffe, 28,  0x7ffffec, 27,  0x7ffffed, 27,  0x7ffffee, 27,  0x7ffffef, 27,  0x7fffff0, 27,  0x3ffffee, 26,
  /* 256 */ 0x3fffffff, 30,
];

/** Code of each symbol 0..256, right-aligned. */
export const HUFFMAN_CODES = new Uint32Array(257);
/** Bit length of each symbol's code (5..30). */
export const HUFFMAN_LENGTHS = new Uint8Array(257);
for (let sym = 0; sym <= EOS; sym++) {
  HUFFMAN_CODES[sym] = APPENDIX_B[2 * sym];
  HUFFMAN_LENGTHS[sym] = APPENDIX_B[2 * sym + 1];
}

// ---- decoder tables ------------------------------------------------------------------------
//
// The code is complete (Kraft sum 1), so its tree has exactly 256 internal nodes: those are
// the decoder's states (0 = root, "between symbols"). DECODE[state * 256 + byte] gives the
// state after consuming eight more bits and the symbols completed on the way. A symbol is at
// least 5 bits, so one byte completes at most two. Entry layout:
//   bits 0-7 next state, 8-15 first symbol, 16-23 second symbol, 24-25 symbol count,
//   bit 26 set if EOS was completed (always an error, §5.2).

const STATE_COUNT = 256;
const FAIL = 1 << 26;
const DECODE = new Uint32Array(STATE_COUNT * 256);

/**
 * How the string may end in each state (§5.2): 0 = at a symbol boundary or inside at most
 * 7 one-bits (valid EOS-prefix padding), 1 = padding of 8 or more one-bits, 2 = inside a
 * symbol on a path that is not all ones.
 */
const END_STATE = new Uint8Array(STATE_COUNT);

// Children as >0 internal node, <0 leaf (-(symbol + 1)), 0 unset: the root is never a child.
function buildTree(): Int16Array {
  const child = new Int16Array(STATE_COUNT * 2);
  const depth = new Uint8Array(STATE_COUNT);
  const allOnes = new Uint8Array(STATE_COUNT);
  allOnes[0] = 1;
  let nodes = 1;
  for (let sym = 0; sym <= EOS; sym++) {
    const code = HUFFMAN_CODES[sym];
    const len = HUFFMAN_LENGTHS[sym];
    let node = 0;
    for (let b = len - 1; b > 0; b--) {
      const bit = (code >>> b) & 1;
      let next = child[2 * node + bit];
      if (next < 0) throw new Error(`Huffman table: code of symbol ${sym} extends the code of symbol ${-next - 1}`);
      if (next === 0) {
        if (nodes === STATE_COUNT) throw new Error('Huffman table: more than 256 internal nodes');
        next = nodes++;
        child[2 * node + bit] = next;
        depth[next] = depth[node] + 1;
        allOnes[next] = allOnes[node] & bit;
      }
      node = next;
    }
    const slot = 2 * node + (code & 1);
    if (child[slot] !== 0) throw new Error(`Huffman table: code of symbol ${sym} is a prefix of another code`);
    child[slot] = -(sym + 1);
  }
  if (nodes !== STATE_COUNT || child.includes(0)) throw new Error('Huffman table: code is not complete');
  for (let n = 0; n < STATE_COUNT; n++) END_STATE[n] = allOnes[n] ? (depth[n] <= 7 ? 0 : 1) : 2;
  return child;
}

// Built in two steps to keep startup cheap: nibble transitions by walking the tree (4096
// entries, 4 bits each), then every byte entry as two nibble steps.
function buildDecodeTable(child: Int16Array): void {
  // NIBBLE[state * 16 + nibble]: next state in bits 0-7, symbol in 8-15, bit 16 if a symbol
  // was completed (4 bits complete at most one), bit 17 if it was EOS.
  const HAS_SYM = 1 << 16;
  const NIB_FAIL = 1 << 17;
  const nibble = new Uint32Array(STATE_COUNT * 16);
  for (let state = 0; state < STATE_COUNT; state++) {
    for (let v = 0; v < 16; v++) {
      let node = state;
      let entry = 0;
      for (let b = 3; b >= 0; b--) {
        const next = child[2 * node + ((v >>> b) & 1)];
        if (next > 0) {
          node = next;
          continue;
        }
        const sym = -next - 1;
        if (sym === EOS) {
          entry = NIB_FAIL;
          break;
        }
        if (entry & HAS_SYM) throw new Error('Huffman table: two codes complete within 4 bits');
        entry = HAS_SYM | (sym << 8);
        node = 0;
      }
      nibble[state * 16 + v] = entry & NIB_FAIL ? NIB_FAIL : entry | node;
    }
  }
  for (let state = 0; state < STATE_COUNT; state++) {
    for (let hi = 0; hi < 16; hi++) {
      const a = nibble[state * 16 + hi];
      for (let lo = 0; lo < 16; lo++) {
        const i = state * 256 + hi * 16 + lo;
        if (a & NIB_FAIL) {
          DECODE[i] = FAIL;
          continue;
        }
        const b = nibble[(a & 0xff) * 16 + lo];
        if (b & NIB_FAIL) {
          DECODE[i] = FAIL;
          continue;
        }
        let count = 0;
        let syms = 0;
        if (a & HAS_SYM) {
          syms = (a >>> 8) & 0xff;
          count = 1;
        }
        if (b & HAS_SYM) syms |= ((b >>> 8) & 0xff) << (8 * count++);
        DECODE[i] = (b & 0xff) | (syms << 8) | (count << 24);
      }
    }
  }
}

buildDecodeTable(buildTree());

// Output scratch for decoding: one string literal is decoded into it, then copied out as a
// latin1 string, so decoding allocates nothing but the result.
let scratch = Buffer.allocUnsafe(1024);

/**
 * Decodes the Huffman-coded octets src[start..end) into a latin1 string. Throws HpackError
 * (with offsets into src) for EOS in the data, padding over 7 bits, or padding that is not
 * all ones.
 */
export function huffmanDecode(src: Uint8Array, start = 0, end = src.length): string {
  // Each symbol takes at least 5 bits; +1 because the loop below always stores two symbols.
  const max = Math.floor(((end - start) * 8) / 5) + 1;
  if (scratch.length < max) scratch = Buffer.allocUnsafe(Math.max(max, scratch.length * 2));
  const out = scratch;
  let n = 0;
  let state = 0;
  for (let i = start; i < end; i++) {
    const e = DECODE[(state << 8) | src[i]];
    if (e & FAIL) {
      throw new HpackError(`Huffman string at offset ${start} contains the EOS symbol (completed in the byte at offset ${i})`);
    }
    // Store both symbol slots unconditionally and advance by the count: no branch per symbol.
    out[n] = e >>> 8;
    out[n + 1] = e >>> 16;
    n += (e >>> 24) & 3;
    state = e & 0xff;
  }
  const endState = END_STATE[state];
  if (endState !== 0) {
    const last = end - 1;
    throw new HpackError(
      endState === 1
        ? `Huffman string at offset ${start} ends with padding longer than 7 bits (byte at offset ${last})`
        : `Huffman string at offset ${start} ends inside a symbol or with padding that is not all ones (byte at offset ${last})`,
    );
  }
  return out.toString('latin1', 0, n);
}

/**
 * Octets needed to Huffman-code a latin1 string. Also validates it: a character above U+00FF
 * is not an HTTP/2 header octet and throws RangeError.
 */
export function huffmanEncodedLength(s: string): number {
  let bits = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) throw new RangeError(`character U+${c.toString(16).padStart(4, '0')} at index ${i} is not a latin1 octet`);
    bits += HUFFMAN_LENGTHS[c];
  }
  return Math.ceil(bits / 8);
}

/**
 * Huffman-codes the latin1 string s into dst at pos (room for huffmanEncodedLength(s) octets
 * is the caller's job) and returns the position after it. Characters must be <= U+00FF.
 */
export function huffmanEncodeInto(s: string, dst: Uint8Array, pos: number): number {
  // acc holds pending bits in its low nbits bits (nbits < 8 between symbols); higher bits are
  // stale and get shifted out. Codes over 24 bits go in two parts so 32-bit ints never overflow.
  let acc = 0;
  let nbits = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) & 0xff;
    const code = HUFFMAN_CODES[c];
    const len = HUFFMAN_LENGTHS[c];
    if (len > 24) {
      acc = (acc << (len - 16)) | (code >>> 16);
      nbits += len - 16;
      while (nbits >= 8) {
        nbits -= 8;
        dst[pos++] = acc >>> nbits;
      }
      acc = (acc << 16) | (code & 0xffff);
      nbits += 16;
    } else {
      acc = (acc << len) | code;
      nbits += len;
    }
    while (nbits >= 8) {
      nbits -= 8;
      dst[pos++] = acc >>> nbits;
    }
  }
  // Pad with the most significant bits of EOS, i.e. ones (§5.2).
  if (nbits > 0) dst[pos++] = (acc << (8 - nbits)) | (0xff >>> nbits);
  return pos;
}

/** Huffman-codes a latin1 string (characters must be <= U+00FF). */
export function huffmanEncode(s: string): Buffer {
  const out = Buffer.allocUnsafe(huffmanEncodedLength(s));
  huffmanEncodeInto(s, out, 0);
  return out;
}
