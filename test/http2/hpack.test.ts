import { test } from 'vitest';
import assert from 'node:assert/strict';
import net from 'node:net';
import http2 from 'node:http2';
import { once } from 'node:events';
import {
  HpackDecoder,
  HpackEncoder,
  HpackError,
  STATIC_TABLE,
  encodeInteger,
  type HeaderField,
} from '../../src/http2/hpack.js';
import {
  EOS,
  HUFFMAN_CODES,
  HUFFMAN_LENGTHS,
  HpackError as HuffmanModuleHpackError,
  huffmanDecode,
  huffmanEncode,
  huffmanEncodedLength,
} from '../../src/http2/huffman.js';

/** Hex as the RFC prints it: spaces and line breaks are ignored. */
function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}

/** Deterministic PRNG (mulberry32) so a failing random case can be reproduced. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function latin1(bytes: ArrayLike<number>): string {
  return Buffer.from(Array.from(bytes)).toString('latin1');
}

/** Asserts fn throws an HpackError whose message matches re. */
function throwsHpack(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof HpackError, `expected HpackError, got ${String(err)}`);
    assert.match(err.message, re);
    return true;
  });
}

// ---------------------------------------------------------------------------------------------
// Huffman table and coder

test('Huffman table: 257 codes, lengths 5..30, EOS 0x3fffffff/30, complete prefix code', () => {
  assert.equal(HUFFMAN_CODES.length, 257);
  assert.equal(HUFFMAN_LENGTHS.length, 257);
  assert.equal(HUFFMAN_CODES[EOS], 0x3fffffff);
  assert.equal(HUFFMAN_LENGTHS[EOS], 30);
  // Kraft sum in integers: sum of 2^(30 - len) must be exactly 2^30.
  let kraft = 0;
  for (let s = 0; s <= EOS; s++) {
    const len = HUFFMAN_LENGTHS[s];
    assert.ok(len >= 5 && len <= 30, `symbol ${s} has length ${len}`);
    assert.ok(HUFFMAN_CODES[s] < 2 ** len, `symbol ${s} code does not fit ${len} bits`);
    kraft += 2 ** (30 - len);
  }
  assert.equal(kraft, 2 ** 30);
  // Prefix-free: left-aligned to 30 bits and sorted, no code may cover the next one's start.
  const spans = Array.from({ length: 257 }, (_, s) => {
    const len = HUFFMAN_LENGTHS[s];
    const lo = HUFFMAN_CODES[s] * 2 ** (30 - len);
    return { s, lo, hi: lo + 2 ** (30 - len) };
  }).sort((a, b) => a.lo - b.lo);
  for (let i = 1; i < spans.length; i++) assert.equal(spans[i].lo, spans[i - 1].hi, `symbols ${spans[i - 1].s} and ${spans[i].s}`);
  // A few rows of RFC 7541 Appendix B.
  const rows: [number, number, number][] = [
    [0, 0x1ff8, 13], [1, 0x7fffd8, 23], [10, 0x3ffffffc, 30], [32, 0x14, 6], [48, 0x0, 5], [97, 0x3, 5],
    [127, 0xffffffc, 28], [128, 0xfffe6, 20], [199, 0x1ffffec, 25], [255, 0x3ffffee, 26],
  ];
  for (const [s, code, len] of rows) assert.deepEqual([HUFFMAN_CODES[s], HUFFMAN_LENGTHS[s]], [code, len], `symbol ${s}`);
});

test('Huffman: RFC 7541 C.4 and C.6 strings encode to the published octets and back', () => {
  const vectors: [string, string][] = [
    ['www.example.com', 'f1e3 c2e5 f23a 6ba0 ab90 f4ff'],
    ['no-cache', 'a8eb 1064 9cbf'],
    ['custom-key', '25a8 49e9 5ba9 7d7f'],
    ['custom-value', '25a8 49e9 5bb8 e8b4 bf'],
    ['302', '6402'],
    ['307', '640e ff'],
    ['private', 'aec3 771a 4b'],
    ['Mon, 21 Oct 2013 20:13:21 GMT', 'd07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff'],
    ['Mon, 21 Oct 2013 20:13:22 GMT', 'd07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff'],
    ['https://www.example.com', '9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3'],
    ['gzip', '9bd9 ab'],
    ['foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1',
      '94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07'],
  ];
  for (const [text, enc] of vectors) {
    assert.equal(huffmanEncode(text).toString('hex'), hex(enc).toString('hex'), text);
    assert.equal(huffmanEncodedLength(text), hex(enc).length, text);
    assert.equal(huffmanDecode(hex(enc)), text);
  }
  assert.equal(huffmanDecode(Buffer.alloc(0)), '');
  assert.equal(huffmanEncode('').length, 0);
});

test('Huffman: every octet 0..255 round-trips, alone and all together', () => {
  for (let b = 0; b < 256; b++) {
    const s = String.fromCharCode(b);
    const enc = huffmanEncode(s);
    assert.equal(enc.length, Math.ceil(HUFFMAN_LENGTHS[b] / 8));
    assert.equal(huffmanDecode(enc), s, `octet ${b}`);
  }
  const all = latin1(Array.from({ length: 256 }, (_, i) => i));
  assert.equal(huffmanDecode(huffmanEncode(all)), all);
  const reversed = [...all].reverse().join('');
  assert.equal(huffmanDecode(huffmanEncode(reversed)), reversed);
});

test('Huffman: random strings round-trip (binary and text-like)', () => {
  const rand = rng(7541);
  const text = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/;=, ';
  for (let i = 0; i < 3000; i++) {
    const len = Math.floor(rand() * 200);
    const binary = i % 2 === 0;
    let s = '';
    for (let j = 0; j < len; j++) {
      s += binary ? String.fromCharCode(Math.floor(rand() * 256)) : text[Math.floor(rand() * text.length)];
    }
    const enc = huffmanEncode(s);
    assert.equal(enc.length, huffmanEncodedLength(s));
    assert.equal(huffmanDecode(enc), s);
    // Decoding a slice of a larger buffer must honour start/end.
    const framed = Buffer.concat([Buffer.from([0xaa, 0x55]), enc, Buffer.from([0x00])]);
    assert.equal(huffmanDecode(framed, 2, 2 + enc.length), s);
  }
});

// (code, length) -> symbol, keyed as code * 32 + length.
const SYMBOL_BY_CODE = new Map<number, number>();
for (let s = 0; s <= EOS; s++) SYMBOL_BY_CODE.set(HUFFMAN_CODES[s] * 32 + HUFFMAN_LENGTHS[s], s);

/** Bit-by-bit reference decoder straight from §5.2, to check the table-driven one against. */
function referenceHuffmanDecode(bytes: Uint8Array): string | null {
  let code = 0;
  let len = 0;
  let out = '';
  for (const byte of bytes) {
    for (let b = 7; b >= 0; b--) {
      code = code * 2 + ((byte >> b) & 1);
      len++;
      const sym = SYMBOL_BY_CODE.get(code * 32 + len);
      if (sym === undefined) continue;
      if (sym === EOS) return null;
      out += String.fromCharCode(sym);
      code = 0;
      len = 0;
    }
  }
  if (len > 7 || code !== 2 ** len - 1) return null;
  return out;
}

test('Huffman: table-driven decoder agrees with a bit-by-bit reference on all 1- and 2-octet inputs and random ones', () => {
  const check = (input: Uint8Array) => {
    const want = referenceHuffmanDecode(input);
    let got: string | null;
    try {
      got = huffmanDecode(input);
    } catch (err) {
      assert.ok(err instanceof HpackError, String(err));
      got = null;
    }
    assert.equal(got, want, `input ${Buffer.from(input).toString('hex')}`);
  };
  for (let a = 0; a < 256; a++) {
    check(Uint8Array.of(a));
    for (let b = 0; b < 256; b++) check(Uint8Array.of(a, b));
  }
  // Inputs rich in one-bits reach the long codes and EOS.
  const rand = rng(42);
  for (let i = 0; i < 5000; i++) {
    const input = new Uint8Array(3 + Math.floor(rand() * 12));
    for (let j = 0; j < input.length; j++) input[j] = rand() < 0.6 ? 0xff - Math.floor(rand() * 4) : Math.floor(rand() * 256);
    check(input);
  }
});

test('Huffman: EOS in the data, padding over 7 bits and padding not all ones are HpackErrors', () => {
  assert.equal(HuffmanModuleHpackError, HpackError);
  // 32 one-bits: EOS (30 ones) completes inside the data.
  throwsHpack(() => huffmanDecode(hex('ffffffff')), /EOS/);
  // 'a' (00011) then EOS then padding.
  throwsHpack(() => huffmanDecode(hex('1fffffff ff')), /EOS/);
  // A whole octet of padding: 8 one-bits.
  throwsHpack(() => huffmanDecode(hex('ff')), /padding longer than 7 bits/);
  // 'a' with 3 bits of padding, then another full octet of ones: 11 bits of padding.
  throwsHpack(() => huffmanDecode(hex('1f ff')), /padding longer than 7 bits/);
  // 'a' padded with zeros instead of ones.
  throwsHpack(() => huffmanDecode(hex('18')), /not all ones/);
  // Padding 101: not a prefix of EOS.
  throwsHpack(() => huffmanDecode(hex('1d')), /not all ones/);
  // Ends in the middle of a long code (first 16 bits of symbol 1's 23-bit code).
  throwsHpack(() => huffmanDecode(hex('ffff')), /padding longer than 7 bits|inside a symbol/);
  throwsHpack(() => huffmanDecode(hex('fffe')), /inside a symbol/);
  // Offsets are those of the buffer passed in.
  throwsHpack(() => huffmanDecode(hex('00 00 18'), 2, 3), /offset 2/);
  // The valid forms of the same strings.
  assert.equal(huffmanDecode(hex('1f')), 'a');
  assert.equal(huffmanDecode(hex('fe3f')), '!'); // 10-bit code, 6 bits of padding
  assert.equal(huffmanDecode(hex('fe3f8f')), '!!');
});

test('Huffman encoder rejects characters above U+00FF', () => {
  assert.throws(() => huffmanEncode('caf\u00e9\u20ac'), /U\+20ac at index 4/);
  assert.throws(() => new HpackEncoder().encode([['x-a', '\u0100']]), RangeError);
});

// ---------------------------------------------------------------------------------------------
// Integers (§5.1), through the decoder's 5-bit size-update prefix and 7-bit index prefix

test('integers: RFC C.1 examples and prefix boundaries encode as expected', () => {
  assert.equal(encodeInteger(10, 5).toString('hex'), '0a');
  assert.equal(encodeInteger(1337, 5).toString('hex'), '1f9a0a');
  assert.equal(encodeInteger(42, 8).toString('hex'), '2a');
  assert.equal(encodeInteger(30, 5).toString('hex'), '1e');
  assert.equal(encodeInteger(31, 5).toString('hex'), '1f00');
  assert.equal(encodeInteger(32, 5).toString('hex'), '1f01');
  assert.equal(encodeInteger(31 + 127, 5).toString('hex'), '1f7f');
  assert.equal(encodeInteger(31 + 128, 5).toString('hex'), '1f8001');
  assert.equal(encodeInteger(126, 7).toString('hex'), '7e');
  assert.equal(encodeInteger(127, 7).toString('hex'), '7f00');
  assert.equal(encodeInteger(254, 8).toString('hex'), 'fe');
  assert.equal(encodeInteger(255, 8).toString('hex'), 'ff00');
  assert.equal(encodeInteger(0, 1).toString('hex'), '00');
  assert.equal(encodeInteger(1, 1).toString('hex'), '0100');
  assert.equal(encodeInteger(2 ** 31 - 1, 5).toString('hex'), '1fe0ffffff07');
  assert.equal(encodeInteger(5, 5, 0x20).toString('hex'), '25');
  assert.throws(() => encodeInteger(2 ** 31, 5), RangeError);
});

test('integers: the decoder reads prefix boundaries, 1337 and 2^31-1, and rejects overflow', () => {
  const sizeAfter = (block: string) => {
    const d = new HpackDecoder({ maxTableSize: 2 ** 31 - 1 });
    assert.deepEqual(d.decode(hex(block)), []);
    return d.dynamicTableCapacity;
  };
  // Size updates carry a 5-bit prefix (001xxxxx).
  assert.equal(sizeAfter('3e'), 30);
  assert.equal(sizeAfter('3f00'), 31);
  assert.equal(sizeAfter('3f01'), 32);
  assert.equal(sizeAfter('3f9a0a'), 1337);
  assert.equal(sizeAfter('3fe11f'), 4096);
  assert.equal(sizeAfter('3f8000'), 31); // a redundant zero continuation octet is still a valid encoding
  assert.equal(sizeAfter('3fe0ffffff07'), 2 ** 31 - 1);
  for (const n of [0, 1, 30, 31, 32, 127, 128, 1337, 65535, 2 ** 24, 2 ** 31 - 1]) {
    assert.equal(sizeAfter(encodeInteger(n, 5, 0x20).toString('hex')), n, `value ${n}`);
  }

  const fails = (block: string, re: RegExp) => throwsHpack(() => new HpackDecoder({ maxTableSize: 2 ** 31 - 1 }).decode(hex(block)), re);
  fails('3fe1ffffff07', /exceeds 2\^31-1/); // 2^31
  fails('3fffffffff0f', /exceeds 2\^31-1/); // 2^32 + 30
  fails('3fffffffffffffffff7f', /exceeds 2\^31-1/);
  fails('3f808080808000', /more than 5 continuation octets/);
  fails('3f80808080808080808080', /more than 5 continuation octets/);
  fails('3f', /truncated inside the dynamic table size integer at offset 0/);
  fails('3f9a', /truncated inside the dynamic table size integer at offset 0/);
  // 7-bit prefix of an indexed field: 127 + 0 = 127, beyond an empty dynamic table.
  fails('ff00', /index 127 at offset 0 is out of range/);
  fails('82 ff80', /truncated inside the header field index integer at offset 1/);
});

// ---------------------------------------------------------------------------------------------
// RFC 7541 Appendix C

test('RFC 7541 C.2.1-C.2.4: single representations', () => {
  let d = new HpackDecoder();
  assert.deepEqual(d.decode(hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572')), [['custom-key', 'custom-header']]);
  assert.deepEqual(d.dynamicTableEntries(), [['custom-key', 'custom-header']]);
  assert.equal(d.dynamicTableSize, 55);

  d = new HpackDecoder();
  assert.deepEqual(d.decode(hex('040c 2f73 616d 706c 652f 7061 7468')), [[':path', '/sample/path']]);
  assert.deepEqual(d.dynamicTableEntries(), []);
  assert.equal(d.dynamicTableSize, 0);

  d = new HpackDecoder();
  assert.deepEqual(d.decode(hex('1008 7061 7373 776f 7264 0673 6563 7265 74')), [['password', 'secret']]);
  assert.deepEqual(d.dynamicTableEntries(), []);

  d = new HpackDecoder();
  assert.deepEqual(d.decode(hex('82')), [[':method', 'GET']]);
  assert.deepEqual(d.dynamicTableEntries(), []);
});

interface Step {
  block: string;
  headers: HeaderField[];
  table: HeaderField[];
  size: number;
}

function runSequence(d: HpackDecoder, steps: Step[]): void {
  steps.forEach((step, i) => {
    assert.deepEqual(d.decode(hex(step.block)), step.headers, `block ${i + 1}`);
    assert.deepEqual(d.dynamicTableEntries(), step.table, `table after block ${i + 1}`);
    assert.equal(d.dynamicTableSize, step.size, `table size after block ${i + 1}`);
  });
}

const REQ1: HeaderField[] = [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']];
const REQ2: HeaderField[] = [...REQ1, ['cache-control', 'no-cache']];
const REQ3: HeaderField[] = [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']];
const REQ_TABLES: HeaderField[][] = [
  [[':authority', 'www.example.com']],
  [['cache-control', 'no-cache'], [':authority', 'www.example.com']],
  [['custom-key', 'custom-value'], ['cache-control', 'no-cache'], [':authority', 'www.example.com']],
];

test('RFC 7541 C.3: requests without Huffman coding, one decoder', () => {
  runSequence(new HpackDecoder(), [
    { block: '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d', headers: REQ1, table: REQ_TABLES[0], size: 57 },
    { block: '8286 84be 5808 6e6f 2d63 6163 6865', headers: REQ2, table: REQ_TABLES[1], size: 110 },
    { block: '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65', headers: REQ3, table: REQ_TABLES[2], size: 164 },
  ]);
});

test('RFC 7541 C.4: requests with Huffman coding, one decoder', () => {
  runSequence(new HpackDecoder(), [
    { block: '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff', headers: REQ1, table: REQ_TABLES[0], size: 57 },
    { block: '8286 84be 5886 a8eb 1064 9cbf', headers: REQ2, table: REQ_TABLES[1], size: 110 },
    { block: '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf', headers: REQ3, table: REQ_TABLES[2], size: 164 },
  ]);
});

const DATE1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
const DATE2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
const LOC = 'https://www.example.com';
const COOKIE = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
const RES1: HeaderField[] = [[':status', '302'], ['cache-control', 'private'], ['date', DATE1], ['location', LOC]];
const RES2: HeaderField[] = [[':status', '307'], ['cache-control', 'private'], ['date', DATE1], ['location', LOC]];
const RES3: HeaderField[] = [[':status', '200'], ['cache-control', 'private'], ['date', DATE2], ['location', LOC], ['content-encoding', 'gzip'], ['set-cookie', COOKIE]];
const RES_TABLES: HeaderField[][] = [
  [['location', LOC], ['date', DATE1], ['cache-control', 'private'], [':status', '302']],
  [[':status', '307'], ['location', LOC], ['date', DATE1], ['cache-control', 'private']],
  [['set-cookie', COOKIE], ['content-encoding', 'gzip'], ['date', DATE2]],
];

test('RFC 7541 C.5: responses without Huffman coding, 256-octet table with eviction', () => {
  runSequence(new HpackDecoder({ maxTableSize: 256 }), [
    {
      block: `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32
              3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d`,
      headers: RES1, table: RES_TABLES[0], size: 222,
    },
    { block: '4803 3330 37c1 c0bf', headers: RES2, table: RES_TABLES[1], size: 222 },
    {
      block: `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970
              7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61
              6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31`,
      headers: RES3, table: RES_TABLES[2], size: 215,
    },
  ]);
});

test('RFC 7541 C.6: responses with Huffman coding, 256-octet table with eviction', () => {
  runSequence(new HpackDecoder({ maxTableSize: 256 }), [
    {
      block: `4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad
              1718 63c7 8f0b 97c8 e9ae 82ae 43d3`,
      headers: RES1, table: RES_TABLES[0], size: 222,
    },
    { block: '4883 640e ffc1 c0bf', headers: RES2, table: RES_TABLES[1], size: 222 },
    {
      block: `88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2
              e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07`,
      headers: RES3, table: RES_TABLES[2], size: 215,
    },
  ]);
});

// ---------------------------------------------------------------------------------------------
// Decoder behaviour beyond the RFC examples

/** Literal with incremental indexing, literal name (no Huffman). */
function addLiteral(name: string, value: string): Buffer {
  return Buffer.concat([Buffer.from([0x40]), encodeInteger(name.length, 7), Buffer.from(name, 'latin1'), encodeInteger(value.length, 7), Buffer.from(value, 'latin1')]);
}

test('decoder: every static index decodes to its Appendix A entry', () => {
  const d = new HpackDecoder();
  for (let i = 1; i <= 61; i++) assert.deepEqual(d.decode(encodeInteger(i, 7, 0x80)), [[...STATIC_TABLE[i - 1]]]);
  assert.equal(STATIC_TABLE.length, 61);
  assert.deepEqual(STATIC_TABLE[7], [':status', '200']);
  assert.deepEqual(STATIC_TABLE[60], ['www-authenticate', '']);
  throwsHpack(() => new HpackDecoder().decode(hex('bf')), /index 63 at offset 0 is out of range \(static indices are 1\.\.61, the dynamic table is empty\)/);
});

test('decoder: dynamic indices, eviction by size, oversize entry empties the table', () => {
  const d = new HpackDecoder({ maxTableSize: 100 });
  // Each entry: 1 + 1 + 32 = 34 octets; two fit in 100, a third evicts the oldest.
  d.decode(Buffer.concat([addLiteral('a', '1'), addLiteral('b', '2')]));
  assert.deepEqual(d.dynamicTableEntries(), [['b', '2'], ['a', '1']]);
  assert.deepEqual(d.decode(hex('be bf')), [['b', '2'], ['a', '1']]);
  d.decode(addLiteral('c', '3'));
  assert.deepEqual(d.dynamicTableEntries(), [['c', '3'], ['b', '2']]);
  assert.equal(d.dynamicTableSize, 68);
  throwsHpack(() => d.decode(hex('c0')), /index 64 at offset 0 is out of range .*dynamic indices are 62\.\.63/);

  const e = new HpackDecoder({ maxTableSize: 100 });
  e.decode(Buffer.concat([addLiteral('a', '1'), addLiteral('b', '2')]));
  // 'n' + 70 octets + 32 > 100: not an error, the table just ends up empty (§4.4).
  assert.deepEqual(e.decode(addLiteral('n', 'v'.repeat(70))), [['n', 'v'.repeat(70)]]);
  assert.deepEqual(e.dynamicTableEntries(), []);
  assert.equal(e.dynamicTableSize, 0);
  // Exactly the capacity fits.
  e.decode(addLiteral('n', 'v'.repeat(67)));
  assert.equal(e.dynamicTableSize, 100);
});

test('decoder: literal with an indexed name may name the entry it evicts', () => {
  const d = new HpackDecoder({ maxTableSize: 70 });
  d.decode(addLiteral('name', 'value-1'));
  // 0x7e = incremental indexing, name index 62 (the entry above), which the insertion evicts.
  assert.deepEqual(d.decode(Buffer.concat([hex('7e 07'), Buffer.from('value-2')])), [['name', 'value-2']]);
  assert.deepEqual(d.dynamicTableEntries(), [['name', 'value-2']]);
});

test('decoder: the table grows past its initial ring and keeps order under churn', () => {
  const d = new HpackDecoder({ maxTableSize: 65536 });
  const want: HeaderField[] = [];
  for (let i = 0; i < 300; i++) {
    d.decode(addLiteral(`k${i}`, `v${i}`));
    want.unshift([`k${i}`, `v${i}`]);
  }
  assert.deepEqual(d.dynamicTableEntries(), want);
  assert.deepEqual(d.decode(encodeInteger(62 + 299, 7, 0x80)), [['k0', 'v0']]);
  // Shrink, then churn: only the newest that fit survive.
  d.decode(encodeInteger(200, 5, 0x20));
  for (let i = 300; i < 1000; i++) d.decode(addLiteral(`k${i}`, `v${i}`));
  const entries = d.dynamicTableEntries();
  assert.deepEqual(entries.slice(0, 2), [['k999', 'v999'], ['k998', 'v998']]);
  assert.equal(d.dynamicTableSize, entries.reduce((n, [k, v]) => n + k.length + v.length + 32, 0));
  assert.ok(d.dynamicTableSize <= 200);
});

test('decoder: without-indexing and never-indexed literals leave the table alone; any octet round-trips', () => {
  const d = new HpackDecoder();
  const value = latin1(Array.from({ length: 256 }, (_, i) => 255 - i));
  const raw = Buffer.from(value, 'latin1');
  const lit = (first: number) => Buffer.concat([Buffer.from([first, 0x03]), Buffer.from('x-b'), encodeInteger(raw.length, 7), raw]);
  assert.deepEqual(d.decode(Buffer.concat([lit(0x00), lit(0x10)])), [['x-b', value], ['x-b', value]]);
  // With indexed names (4-bit prefix; 31 = content-type needs a continuation octet).
  assert.deepEqual(d.decode(hex('0f10 0161 1f10 0162')), [['content-type', 'a'], ['content-type', 'b']]);
  assert.deepEqual(d.dynamicTableEntries(), []);
  // Huffman-coded name and value in a literal.
  const hname = huffmanEncode('x-h');
  const hvalue = huffmanEncode('hello');
  assert.deepEqual(
    d.decode(Buffer.concat([Buffer.from([0x00, 0x80 | hname.length]), hname, Buffer.from([0x80 | hvalue.length]), hvalue])),
    [['x-h', 'hello']],
  );
  // Empty name and value are representable.
  assert.deepEqual(d.decode(hex('00 00 00')), [['', '']]);
  assert.deepEqual(d.decode(new Uint8Array(0)), []);
});

test('decoder: accepts any Uint8Array view, not only Buffers', () => {
  const backing = new Uint8Array([0xee, 0xee, 0x82, 0x84, 0xee]);
  const view = new Uint8Array(backing.buffer, 2, 2);
  assert.deepEqual(new HpackDecoder().decode(view), [[':method', 'GET'], [':path', '/']]);
});

test('decoder: size updates only at the start of a block and never above our limit', () => {
  const d = new HpackDecoder({ maxTableSize: 4096 });
  d.decode(addLiteral('a', '1'));
  // Two updates at the start (0 then 4096) are fine; the first empties the table.
  assert.deepEqual(d.decode(hex('20 3fe11f 82')), [[':method', 'GET']]);
  assert.deepEqual(d.dynamicTableEntries(), []);
  assert.equal(d.dynamicTableCapacity, 4096);

  throwsHpack(() => new HpackDecoder().decode(hex('82 20')), /size update at offset 1 follows a header field/);
  throwsHpack(() => new HpackDecoder().decode(hex('3fe21f')), /size update at offset 0 to 4097 exceeds our SETTINGS_HEADER_TABLE_SIZE of 4096/);
  throwsHpack(() => new HpackDecoder({ maxTableSize: 0 }).decode(hex('21')), /to 1 exceeds/);

  // Shrinking through an update evicts.
  const e = new HpackDecoder();
  e.decode(Buffer.concat([addLiteral('a', '1'), addLiteral('b', '2')]));
  e.decode(hex('3f03')); // 34: room for one entry
  assert.deepEqual(e.dynamicTableEntries(), [['b', '2']]);
});

test('decoder: after we lower our table size, the next block must start with a size update', () => {
  const d = new HpackDecoder();
  d.decode(Buffer.concat([addLiteral('a', '1'), addLiteral('b', '2')]));
  d.setMaxTableSize(40);
  throwsHpack(() => d.decode(hex('82')), /must start with a dynamic table size update .*dropped to 40.* offset 0/);
  throwsHpack(() => d.decode(hex('82')), /unusable after an earlier error/);

  const ok = new HpackDecoder();
  ok.decode(Buffer.concat([addLiteral('a', '1'), addLiteral('b', '2')]));
  ok.setMaxTableSize(40);
  assert.deepEqual(ok.decode(hex('3f09 be')), [['b', '2']]); // update to 40, then index 62
  assert.equal(ok.dynamicTableCapacity, 40);
  assert.deepEqual(ok.decode(hex('be')), [['b', '2']]); // no further update needed

  // Raising our limit never requires one.
  const up = new HpackDecoder();
  up.setMaxTableSize(8192);
  assert.deepEqual(up.decode(hex('82')), [[':method', 'GET']]);
  // An empty block cannot carry the required update.
  const empty = new HpackDecoder();
  empty.setMaxTableSize(0);
  throwsHpack(() => empty.decode(new Uint8Array(0)), /must start with a dynamic table size update .* has none/);
  // An update above the new, lower limit is refused.
  const over = new HpackDecoder();
  over.setMaxTableSize(100);
  throwsHpack(() => over.decode(hex('3f46')), /to 101 exceeds our SETTINGS_HEADER_TABLE_SIZE of 100/);
});

test('decoder: header list size limit (name + value + 32 per field)', () => {
  const d = new HpackDecoder({ maxHeaderListSize: 2 * (7 + 3 + 32) });
  assert.equal(d.decode(hex('82 82')).length, 2); // :method GET = 42 each: exactly at the limit
  const e = new HpackDecoder({ maxHeaderListSize: 2 * 42 - 1 });
  throwsHpack(() => e.decode(hex('82 82')), /header list exceeds the limit of 83 octets \(field at offset 1 brings it to 84\)/);
  // Repeating one large dynamic entry is bounded by the limit too, not by the block size.
  const f = new HpackDecoder();
  f.decode(addLiteral('x-big', 'v'.repeat(4000)));
  throwsHpack(() => f.decode(Buffer.alloc(1000, 0xbe)), /header list exceeds the limit of 65536 octets \(field at offset 16 /);
});

test('decoder: malformed blocks give HpackErrors that say what and where', () => {
  const cases: [string, RegExp][] = [
    ['80', /indexed header field at offset 0 has index 0/],
    ['82 80', /indexed header field at offset 1 has index 0/],
    ['be', /index 62 at offset 0 is out of range/],
    ['7f00 0161', /index 63 at offset 0 is out of range/], // incremental indexing, name index 63
    ['0f2f 0161', /index 62 at offset 0 is out of range/], // without indexing, name index 62
    ['1f2f 0161', /index 62 at offset 0 is out of range/], // never indexed, name index 62
    ['40', /block truncated: name length expected at offset 1/],
    ['400a 6375', /string at offset 1 declares name length 10 but only 2 octets remain/],
    ['4001 61', /block truncated: value length expected at offset 3/],
    ['4001 6105 6162', /string at offset 3 declares value length 5 but only 2 octets remain/],
    ['44', /block truncated: value length expected at offset 1/],
    ['447f', /truncated inside the value length integer at offset 1/],
    ['44 7fffffffff7f', /value length integer at offset 1 exceeds 2\^31-1/],
    ['0081 ff01 61', /Huffman string at offset 2 ends with padding longer than 7 bits/],
    ['0001 6181 18', /Huffman string at offset 4 ends inside a symbol or with padding that is not all ones/],
    ['0001 6184 ffff ffff', /Huffman string at offset 4 contains the EOS symbol/],
  ];
  for (const [block, re] of cases) throwsHpack(() => new HpackDecoder().decode(hex(block)), re);
});

test('decoder: after any error every later decode throws, even for a valid block', () => {
  const d = new HpackDecoder();
  assert.deepEqual(d.decode(hex('82')), [[':method', 'GET']]);
  throwsHpack(() => d.decode(hex('80')), /index 0/);
  throwsHpack(() => d.decode(hex('82')), /decoder unusable after an earlier error: indexed header field at offset 0 has index 0/);
  throwsHpack(() => d.decode(hex('')), /unusable/);
});

test('decoder: random and mutated input only ever yields a list or an HpackError', () => {
  const rand = rng(2024);
  const encoder = new HpackEncoder();
  const valid = [
    hex('8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf'),
    hex('88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab'),
    encoder.encode([[':status', '200'], ['x-custom', 'some value \u00e9'], ['content-type', 'application/json']]),
  ];
  let errors = 0;
  const attempt = (block: Uint8Array) => {
    const d = new HpackDecoder({ maxTableSize: 256, maxHeaderListSize: 4096 });
    try {
      d.decode(hex('4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf')); // one dynamic entry to refer to
      d.decode(block);
    } catch (err) {
      assert.ok(err instanceof HpackError, `non-HpackError for ${Buffer.from(block).toString('hex')}: ${String(err)}`);
      errors++;
    }
  };
  for (let i = 0; i < 20000; i++) {
    const block = new Uint8Array(Math.floor(rand() * 40));
    for (let j = 0; j < block.length; j++) block[j] = Math.floor(rand() * 256);
    attempt(block);
  }
  for (const v of valid) {
    for (let cut = 0; cut <= v.length; cut++) attempt(v.subarray(0, cut)); // every truncation
    for (let i = 0; i < 2000; i++) {
      const m = Buffer.from(v);
      m[Math.floor(rand() * m.length)] ^= 1 << Math.floor(rand() * 8);
      attempt(m);
    }
  }
  assert.ok(errors > 1000);
});

// ---------------------------------------------------------------------------------------------
// Encoder

test('encoder: exact static matches are one indexed octet, ":status: 200" is 0x88', () => {
  const enc = new HpackEncoder();
  assert.equal(enc.encode([[':status', '200']]).toString('hex'), '88');
  assert.equal(enc.encode([[':method', 'GET'], [':path', '/'], ['accept-encoding', 'gzip, deflate'], [':authority', '']]).toString('hex'), '828490' + '81');
});

test('encoder: static name index for literals, literal names otherwise, Huffman only when shorter', () => {
  const enc = new HpackEncoder();
  // content-type is static index 31: 4-bit prefix 0x0f then 31 - 15 = 16.
  const ct = enc.encode([['content-type', 'text/plain']]);
  assert.equal(ct.subarray(0, 2).toString('hex'), '0f10');
  assert.equal(ct[2] & 0x80, 0x80, 'value is Huffman-coded');
  assert.equal(ct.length, 3 + huffmanEncodedLength('text/plain'));
  // :status 201 uses name index 8 with a literal value.
  assert.equal(enc.encode([[':status', '201']]).toString('hex'), '08' + '82' + huffmanEncode('201').toString('hex'));
  // Unknown name: 0x00 then the name as a string.
  const custom = enc.encode([['x-a', 'b']]);
  assert.equal(custom[0], 0x00);
  assert.deepEqual(new HpackDecoder().decode(custom), [['x-a', 'b']]);
  // Octets with long codes: raw is shorter, so no Huffman.
  const raw = enc.encode([['x-bin', '\u00ff\u00fe\u0080']]);
  assert.equal(raw.subarray(-4).toString('hex'), '03fffe80');
  // Equal lengths: raw ('&' is 8 bits).
  assert.equal(enc.encode([['x-amp', '&']]).subarray(-2).toString('hex'), '0126');
});

test('encoder: output decodes to the same list and leaves the peer table empty', () => {
  const rand = rng(99);
  const enc = new HpackEncoder();
  const dec = new HpackDecoder();
  const names = [':status', ':path', 'content-type', 'set-cookie', 'x-custom', 'date', 'accept-encoding', 'www-authenticate', 'X-Mixed'];
  for (let i = 0; i < 500; i++) {
    const list: HeaderField[] = [];
    const n = Math.floor(rand() * 15);
    for (let j = 0; j < n; j++) {
      const name = names[Math.floor(rand() * names.length)];
      const len = Math.floor(rand() * (rand() < 0.05 ? 5000 : 60));
      let value = '';
      for (let k = 0; k < len; k++) value += String.fromCharCode(rand() < 0.8 ? 32 + Math.floor(rand() * 95) : Math.floor(rand() * 256));
      list.push([name, rand() < 0.1 ? '200' : value]);
    }
    assert.deepEqual(dec.decode(enc.encode(list)), list);
    assert.equal(dec.dynamicTableSize, 0);
  }
  assert.deepEqual(dec.decode(enc.encode([])), []);
  assert.equal(enc.encode([]).length, 0);
});

test('encoder: setPeerMaxTableSize emits a size update at the start of the next block only', () => {
  const enc = new HpackEncoder();
  const dec = new HpackDecoder();
  // Raising or keeping the default needs no update.
  enc.setPeerMaxTableSize(4096);
  enc.setPeerMaxTableSize(65536);
  assert.equal(enc.encode([[':status', '200']]).toString('hex'), '88');
  // Lowering does: the next block begins with "size 0", the one after does not.
  enc.setPeerMaxTableSize(100);
  const first = enc.encode([[':status', '200']]);
  assert.equal(first.toString('hex'), '2088');
  assert.deepEqual(dec.decode(first), [[':status', '200']]);
  assert.equal(dec.dynamicTableCapacity, 0);
  assert.equal(enc.encode([[':status', '200']]).toString('hex'), '88');
  // Our table is now 0, which no later limit undercuts.
  enc.setPeerMaxTableSize(0);
  enc.setPeerMaxTableSize(50);
  assert.equal(enc.encode([[':status', '200']]).toString('hex'), '88');
  // Several changes before a block still give one update; an empty list carries it too.
  const enc2 = new HpackEncoder();
  enc2.setPeerMaxTableSize(1000);
  enc2.setPeerMaxTableSize(10);
  assert.equal(enc2.encode([]).toString('hex'), '20');
  assert.equal(enc2.encode([]).toString('hex'), '');
  assert.throws(() => enc2.setPeerMaxTableSize(-1), RangeError);
  assert.throws(() => enc2.setPeerMaxTableSize(2 ** 32), RangeError);
});

test('constructor and setter validate their numbers', () => {
  assert.throws(() => new HpackDecoder({ maxTableSize: -1 }), RangeError);
  assert.throws(() => new HpackDecoder({ maxHeaderListSize: 1.5 }), RangeError);
  assert.throws(() => new HpackDecoder().setMaxTableSize(Number.NaN), RangeError);
});

// ---------------------------------------------------------------------------------------------
// Interop with node:http2 (nghttp2) over a raw TCP socket we speak HTTP/2 frames on

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const T_HEADERS = 0x1;
const T_SETTINGS = 0x4;
const T_GOAWAY = 0x7;
const T_CONTINUATION = 0x9;
const COMPRESSION_ERROR = 0x9;
const F_END_STREAM = 0x1;
const F_ACK = 0x1;
const F_END_HEADERS = 0x4;
const F_PADDED = 0x8;
const F_PRIORITY = 0x20;
const S_HEADER_TABLE_SIZE = 0x1;

function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId, 5);
  return Buffer.concat([h, payload]);
}

/** HEADERS plus CONTINUATION frames for a block, split at the default 16384 max frame size. */
function headerFrames(streamId: number, block: Buffer, endStream: boolean): Buffer {
  const max = 16384;
  const parts: Buffer[] = [];
  for (let off = 0; off === 0 || off < block.length; off += max) {
    const chunk = block.subarray(off, off + max);
    const last = off + max >= block.length;
    const type = off === 0 ? T_HEADERS : T_CONTINUATION;
    const flags = (last ? F_END_HEADERS : 0) | (off === 0 && endStream ? F_END_STREAM : 0);
    parts.push(frame(type, flags, streamId, chunk));
  }
  return Buffer.concat(parts);
}

interface ServerOptions {
  /** SETTINGS_HEADER_TABLE_SIZE we advertise; applied to our decoder when the client ACKs. */
  headerTableSize?: number;
  /** Ignore the client's SETTINGS_HEADER_TABLE_SIZE (to see the peer object). */
  ignorePeerTableSize?: boolean;
  response: (request: HeaderField[]) => HeaderField[];
}

interface RawServer {
  port: number;
  /** Decoded request blocks, in order, with the block sizes and the table size after each. */
  requests: { headers: HeaderField[]; blockLength: number; frames: number; tableSize: number; tableCapacity: number }[];
  errors: unknown[];
  /** Error codes of GOAWAY frames the client sent. */
  goaways: number[];
  close(): Promise<void>;
}

async function startRawServer(opts: ServerOptions): Promise<RawServer> {
  const requests: RawServer['requests'] = [];
  const errors: unknown[] = [];
  const goaways: number[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    const decoder = new HpackDecoder();
    const encoder = new HpackEncoder();
    let buf = Buffer.alloc(0);
    let prefaceDone = false;
    let pending: { streamId: number; parts: Buffer[]; frames: number } | null = null;

    const settings = Buffer.alloc(opts.headerTableSize === undefined ? 0 : 6);
    if (opts.headerTableSize !== undefined) {
      settings.writeUInt16BE(S_HEADER_TABLE_SIZE, 0);
      settings.writeUInt32BE(opts.headerTableSize, 2);
    }
    sock.write(frame(T_SETTINGS, 0, 0, settings));

    const onBlock = (streamId: number, block: Buffer, frames: number) => {
      const headers = decoder.decode(block);
      requests.push({ headers, blockLength: block.length, frames, tableSize: decoder.dynamicTableSize, tableCapacity: decoder.dynamicTableCapacity });
      sock.write(headerFrames(streamId, encoder.encode(opts.response(headers)), true));
    };

    sock.on('data', (chunk: Buffer) => {
      try {
        buf = Buffer.concat([buf, chunk]);
        if (!prefaceDone) {
          if (buf.length < PREFACE.length) return;
          assert.deepEqual(buf.subarray(0, PREFACE.length), PREFACE);
          buf = buf.subarray(PREFACE.length);
          prefaceDone = true;
        }
        while (buf.length >= 9) {
          const len = buf.readUIntBE(0, 3);
          if (buf.length < 9 + len) break;
          const type = buf[3];
          const flags = buf[4];
          const streamId = buf.readUInt32BE(5) & 0x7fffffff;
          let payload = buf.subarray(9, 9 + len);
          buf = buf.subarray(9 + len);
          if (type === T_SETTINGS) {
            if (flags & F_ACK) {
              if (opts.headerTableSize !== undefined) decoder.setMaxTableSize(opts.headerTableSize);
            } else {
              for (let off = 0; off + 6 <= payload.length; off += 6) {
                if (payload.readUInt16BE(off) === S_HEADER_TABLE_SIZE && !opts.ignorePeerTableSize) {
                  encoder.setPeerMaxTableSize(payload.readUInt32BE(off + 2));
                }
              }
              sock.write(frame(T_SETTINGS, F_ACK, 0));
            }
          } else if (type === T_HEADERS) {
            if (flags & F_PADDED) payload = payload.subarray(1, payload.length - payload[0]);
            if (flags & F_PRIORITY) payload = payload.subarray(5);
            if (flags & F_END_HEADERS) onBlock(streamId, Buffer.from(payload), 1);
            else pending = { streamId, parts: [Buffer.from(payload)], frames: 1 };
          } else if (type === T_GOAWAY) {
            goaways.push(payload.readUInt32BE(4));
          } else if (type === T_CONTINUATION) {
            assert.ok(pending && pending.streamId === streamId, 'CONTINUATION without HEADERS');
            pending.parts.push(Buffer.from(payload));
            pending.frames++;
            if (flags & F_END_HEADERS) {
              const p = pending;
              pending = null;
              onBlock(p.streamId, Buffer.concat(p.parts), p.frames);
            }
          }
          // DATA, WINDOW_UPDATE, PRIORITY, PING, GOAWAY: not needed here.
        }
      } catch (err) {
        errors.push(err);
        sock.destroy();
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    requests,
    errors,
    goaways,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function connect(port: number, settings?: http2.Settings): Promise<http2.ClientHttp2Session> {
  const client = http2.connect(`http://127.0.0.1:${port}`, { settings });
  client.on('error', () => {}); // failures surface through the request promises below
  // Wait for the server's SETTINGS so the client encodes with the table size we advertised.
  await once(client, 'remoteSettings', { signal: AbortSignal.timeout(5000) });
  return client;
}

function request(client: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders): Promise<http2.IncomingHttpHeaders> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no response within 5 s')), 5000);
    const req = client.request(headers, { endStream: true });
    req.on('response', (h) => {
      clearTimeout(timer);
      resolve(h);
      req.resume();
    });
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.on('close', () => {
      clearTimeout(timer);
      reject(new Error(`stream closed without a response (rst code ${req.rstCode})`));
    });
  });
}

async function closeClient(client: http2.ClientHttp2Session): Promise<void> {
  if (client.destroyed) return;
  const closed = once(client, 'close');
  client.destroy();
  await closed;
}

test('interop: our decoder reads node:http2 request blocks (Huffman, dynamic table, never-indexed, CONTINUATION), and node:http2 reads our responses', { timeout: 20000 }, async () => {
  const latin1Value = 'caf\u00e9 \u00ff\u0080\u00a0 na\u00efve';
  const longValue = 'x'.repeat(20000); // > 16384 octets even Huffman-coded: forces CONTINUATION
  const responseHeaders: HeaderField[] = [
    [':status', '200'],
    ['content-type', 'text/plain; charset=utf-8'],
    ['cache-control', 'no-store'],
    ['set-cookie', 'a=1; Path=/'],
    ['set-cookie', 'b=2; HttpOnly'],
    ['x-echo-latin1', latin1Value],
    ['x-long-response', 'y'.repeat(18000)],
    ['x-empty', ''],
    ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'],
  ];
  const server = await startRawServer({ response: () => responseHeaders });
  const client = await connect(server.port);
  try {
    const common = {
      'user-agent': 'switchboard-hpack-test/1.0',
      accept: '*/*',
      'accept-encoding': 'gzip, deflate',
      'content-type': 'application/json',
      authorization: 'Bearer 0123456789abcdef0123456789abcdef',
      cookie: 'sid=abc',
      'x-multi': ['one', 'two', 'three'],
      'x-latin1': latin1Value,
      'x-empty': '',
      'x-digits': '12345678901234567890',
      'x-secret': 'do-not-index-me',
      [http2.sensitiveHeaders]: ['x-secret'],
    };
    const want = (extra: HeaderField[]): HeaderField[] => [
      ['user-agent', 'switchboard-hpack-test/1.0'],
      ['accept', '*/*'],
      ['accept-encoding', 'gzip, deflate'],
      ['content-type', 'application/json'],
      ['authorization', 'Bearer 0123456789abcdef0123456789abcdef'],
      ['cookie', 'sid=abc'],
      ['x-multi', 'one'],
      ['x-multi', 'two'],
      ['x-multi', 'three'],
      ['x-latin1', latin1Value],
      ['x-empty', ''],
      ['x-digits', '12345678901234567890'],
      ['x-secret', 'do-not-index-me'],
      ...extra,
    ];
    const expectedResponse = {
      ':status': 200,
      'content-type': 'text/plain; charset=utf-8',
      'cache-control': 'no-store',
      'set-cookie': ['a=1; Path=/', 'b=2; HttpOnly'],
      'x-echo-latin1': latin1Value,
      'x-long-response': 'y'.repeat(18000),
      'x-empty': '',
      date: 'Mon, 21 Oct 2013 20:13:21 GMT',
    };

    const res1 = await request(client, { ':path': '/first', ...common, 'x-request': '1', 'x-long': longValue });
    const res2 = await request(client, { ':path': '/second?q=%C3%A9', ...common, 'x-request': '2' });
    assert.deepEqual(server.errors, []);
    assert.equal(server.requests.length, 2);

    // Pseudo-header fields come first (their order is nghttp2's business): compare them as a
    // set, the regular fields in order.
    const split = (list: HeaderField[]) => {
      const firstRegular = list.findIndex(([n]) => !n.startsWith(':'));
      return { pseudo: list.slice(0, firstRegular).sort(), rest: list.slice(firstRegular) };
    };
    const pseudo = (path: string): HeaderField[] => [[':authority', `127.0.0.1:${server.port}`], [':method', 'GET'], [':path', path], [':scheme', 'http']];
    const r1 = split(server.requests[0].headers);
    const r2 = split(server.requests[1].headers);
    assert.deepEqual(r1.pseudo, pseudo('/first'));
    assert.deepEqual(r2.pseudo, pseudo('/second?q=%C3%A9'));
    assert.deepEqual(r1.rest, want([['x-request', '1'], ['x-long', longValue]]));
    assert.deepEqual(r2.rest, want([['x-request', '2']]));
    // The first block spanned HEADERS + CONTINUATION; nghttp2 indexed fields and the second
    // block leaned on them, so it is far shorter than the fields it carries.
    assert.ok(server.requests[0].frames >= 2, `frames: ${server.requests[0].frames}`);
    assert.ok(server.requests[0].tableSize > 0);
    const carried = server.requests[1].headers.reduce((n, [k, v]) => n + k.length + v.length, 0);
    assert.ok(server.requests[1].blockLength * 3 < carried, `second block: ${server.requests[1].blockLength} octets for ${carried}`);
    assert.deepEqual(server.goaways, []);

    for (const res of [res1, res2]) {
      const got = Object.fromEntries(Object.entries(res).filter(([k]) => typeof k === 'string'));
      assert.deepEqual(got, expectedResponse);
    }
  } finally {
    await closeClient(client);
    await server.close();
  }
});

test('interop: setPeerMaxTableSize emits the size update nghttp2 requires after it lowers its table size', { timeout: 20000 }, async () => {
  const response = (): HeaderField[] => [[':status', '204'], ['x-ok', 'yes']];
  // With the update the client accepts our responses.
  const server = await startRawServer({ response });
  const client = await connect(server.port, { headerTableSize: 256 });
  try {
    for (let i = 0; i < 2; i++) {
      const res = await request(client, { ':path': `/${i}` });
      assert.equal(res[':status'], 204);
      assert.equal(res['x-ok'], 'yes');
    }
    assert.deepEqual(server.errors, []);
    assert.deepEqual(server.goaways, []);
  } finally {
    await closeClient(client);
    await server.close();
  }
  // Without it (the setting ignored) nghttp2 answers with GOAWAY(COMPRESSION_ERROR): this is
  // what makes the positive case above meaningful.
  const bad = await startRawServer({ response, ignorePeerTableSize: true });
  const badClient = await connect(bad.port, { headerTableSize: 256 });
  try {
    void request(badClient, { ':path': '/' }).catch(() => {});
    const deadline = Date.now() + 5000;
    while (bad.goaways.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(bad.goaways, [COMPRESSION_ERROR]);
  } finally {
    await closeClient(badClient);
    await bad.close();
  }
});

test('interop: when we advertise a smaller table, nghttp2 starts its next block with an update our decoder enforces', { timeout: 20000 }, async () => {
  const server = await startRawServer({ headerTableSize: 64, response: () => [[':status', '200']] });
  const client = await connect(server.port);
  try {
    for (let i = 0; i < 3; i++) {
      const res = await request(client, { ':path': `/r${i}`, 'x-a': 'a-fairly-long-value-that-does-not-fit-twice', 'x-i': String(i) });
      assert.equal(res[':status'], 200);
    }
    assert.deepEqual(server.errors, []);
    assert.deepEqual(server.goaways, []);
    for (const r of server.requests) {
      assert.ok(r.tableCapacity <= 64, `table capacity ${r.tableCapacity}`);
      assert.ok(r.tableSize <= 64);
    }
    assert.deepEqual(
      server.requests.map((r) => r.headers.find(([n]) => n === 'x-i')?.[1]),
      ['0', '1', '2'],
    );
  } finally {
    await closeClient(client);
    await server.close();
  }
});
