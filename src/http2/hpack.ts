// HPACK (RFC 7541) header compression for our HTTP/2 layer: a full decoder and an encoder that
// never indexes. Pure, no I/O. Header names and values are latin1 strings (one char per
// octet), so any octet a peer sends round-trips and table sizes count octets.

import { HpackError, huffmanDecode, huffmanEncodedLength, huffmanEncodeInto } from './huffman.js';

export { HpackError };

export type HeaderField = [name: string, value: string];

/** RFC 7541 Appendix A; STATIC_TABLE[i - 1] is index i. */
export const STATIC_TABLE: readonly (readonly [name: string, value: string])[] = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];

const STATIC_COUNT = STATIC_TABLE.length; // 61

/** The SETTINGS_HEADER_TABLE_SIZE every HTTP/2 endpoint starts with (RFC 7540 §6.5.2). */
export const DEFAULT_HEADER_TABLE_SIZE = 4096;

/** RFC 7541 §4.1: an entry costs its octets plus 32. */
const ENTRY_OVERHEAD = 32;

// Integers above this are rejected; 2^31 - 1 takes at most 5 continuation octets after an
// N-bit prefix, so a 6th is never needed and is refused before it is read.
const MAX_INTEGER = 0x7fffffff;
const MAX_CONTINUATION_BYTES = 5;

function checkSize(what: string, n: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isSafeInteger(n) || n < 0 || n > max) throw new RangeError(`${what} must be an integer in 0..${max}, got ${n}`);
  return n;
}

/**
 * The dynamic table (§2.3.2, §4): a ring of names and values, newest at dynamic index 1.
 * The ring grows by doubling; evicted slots are cleared so their strings can be collected.
 */
class DynamicTable {
  names: string[] = new Array<string>(16).fill('');
  values: string[] = new Array<string>(16).fill('');
  mask = 15;
  /** Slot the next entry goes into. */
  head = 0;
  count = 0;
  /** Current size in octets per §4.1. */
  size = 0;

  constructor(public capacity: number) {}

  /** Ring slot of dynamic index d (1 = newest), or -1 if there is no such entry. */
  slot(d: number): number {
    return d >= 1 && d <= this.count ? (this.head - d) & this.mask : -1;
  }

  add(name: string, value: string): void {
    const size = name.length + value.length + ENTRY_OVERHEAD;
    // §4.4: an entry larger than the table empties it and is not stored; not an error.
    if (size > this.capacity) {
      while (this.count > 0) this.evictOldest();
      return;
    }
    while (this.size + size > this.capacity) this.evictOldest();
    if (this.count === this.names.length) this.grow();
    this.names[this.head] = name;
    this.values[this.head] = value;
    this.head = (this.head + 1) & this.mask;
    this.count++;
    this.size += size;
  }

  setCapacity(capacity: number): void {
    this.capacity = capacity;
    while (this.size > capacity) this.evictOldest();
  }

  private evictOldest(): void {
    const tail = (this.head - this.count) & this.mask;
    this.size -= this.names[tail].length + this.values[tail].length + ENTRY_OVERHEAD;
    this.names[tail] = '';
    this.values[tail] = '';
    this.count--;
  }

  private grow(): void {
    const n = this.names.length;
    const names = new Array<string>(n * 2).fill('');
    const values = new Array<string>(n * 2).fill('');
    for (let i = 0; i < this.count; i++) {
      const from = (this.head - this.count + i) & this.mask;
      names[i] = this.names[from];
      values[i] = this.values[from];
    }
    this.names = names;
    this.values = values;
    this.mask = n * 2 - 1;
    this.head = this.count;
  }
}

// Labels for integer errors, as constants so the hot path builds no strings.
const L_INDEX = 'header field index';
const L_NAME_INDEX = 'name index';
const L_TABLE_SIZE = 'dynamic table size';
const L_NAME_LENGTH = 'name length';
const L_VALUE_LENGTH = 'value length';

const EMPTY = Buffer.alloc(0);

export interface HpackDecoderOptions {
  /** The SETTINGS_HEADER_TABLE_SIZE we advertised (default 4096). */
  maxTableSize?: number;
  /** Limit on the decoded list: sum of name.length + value.length + 32 (RFC 7540 §6.5.2); default 64 KiB. */
  maxHeaderListSize?: number;
}

export class HpackDecoder {
  readonly #table: DynamicTable;
  #maxTableSize: number;
  readonly #maxHeaderListSize: number;
  /** We lowered our limit below the table's capacity: the next block must start with a size update (§4.2). */
  #updateRequired = false;
  /** The first error; the peer's and our table may differ from then on, so we refuse to go on. */
  #failure: HpackError | null = null;
  // Cursor of the block being decoded.
  #buf: Buffer = EMPTY;
  #pos = 0;

  /**
   * maxTableSize: the SETTINGS_HEADER_TABLE_SIZE we advertised (default 4096). maxHeaderListSize:
   * limit on the decoded list (sum of name.length+value.length+32 per field, RFC 7540 6.5.2),
   * default 64 KiB.
   */
  constructor(opts: HpackDecoderOptions = {}) {
    this.#maxTableSize = checkSize('maxTableSize', opts.maxTableSize ?? DEFAULT_HEADER_TABLE_SIZE);
    this.#maxHeaderListSize = checkSize('maxHeaderListSize', opts.maxHeaderListSize ?? 64 * 1024);
    this.#table = new DynamicTable(this.#maxTableSize);
  }

  /**
   * Our SETTINGS_HEADER_TABLE_SIZE changed and the peer acknowledged it. Lowering it below the
   * table's current capacity obliges the peer to start its next block with a size update.
   */
  setMaxTableSize(n: number): void {
    this.#maxTableSize = checkSize('maxTableSize', n);
    if (n < this.#table.capacity) this.#updateRequired = true;
  }

  /** Octets in the dynamic table per RFC 7541 §4.1. */
  get dynamicTableSize(): number {
    return this.#table.size;
  }

  /** The table's maximum size as last set by the peer's size updates (initially maxTableSize). */
  get dynamicTableCapacity(): number {
    return this.#table.capacity;
  }

  /** The dynamic table, newest first (the entry at index 62 first). */
  dynamicTableEntries(): HeaderField[] {
    const t = this.#table;
    const out: HeaderField[] = [];
    for (let d = 1; d <= t.count; d++) {
      const s = t.slot(d);
      out.push([t.names[s], t.values[s]]);
    }
    return out;
  }

  /**
   * Decodes one complete header block (HEADERS + CONTINUATION payloads concatenated). Throws
   * HpackError; after an error the decoder is unusable (the connection gets a
   * COMPRESSION_ERROR), and every later call throws again.
   */
  decode(block: Uint8Array): HeaderField[] {
    if (this.#failure !== null) {
      throw new HpackError(`decoder unusable after an earlier error: ${this.#failure.message}`);
    }
    const buf = Buffer.isBuffer(block) ? block : Buffer.from(block.buffer, block.byteOffset, block.byteLength);
    try {
      return this.#decodeBlock(buf);
    } catch (err) {
      // Never let another exception type escape: the caller maps HpackError to COMPRESSION_ERROR.
      const e = err instanceof HpackError ? err : new HpackError(`internal error decoding header block: ${String(err)}`, { cause: err });
      this.#failure = e;
      throw e;
    } finally {
      this.#buf = EMPTY;
    }
  }

  #decodeBlock(buf: Buffer): HeaderField[] {
    this.#buf = buf;
    this.#pos = 0;
    const end = buf.length;
    const table = this.#table;
    const maxList = this.#maxHeaderListSize;
    const out: HeaderField[] = [];
    let listSize = 0;
    let fieldSeen = false;

    while (this.#pos < end) {
      const start = this.#pos;
      const b = buf[start];

      if ((b & 0xe0) === 0x20) {
        // §6.3 dynamic table size update: only before the first field (§4.2).
        if (fieldSeen) throw new HpackError(`dynamic table size update at offset ${start} follows a header field; it is only allowed at the start of a block`);
        const size = this.#int(5, L_TABLE_SIZE);
        if (size > this.#maxTableSize) {
          throw new HpackError(`dynamic table size update at offset ${start} to ${size} exceeds our SETTINGS_HEADER_TABLE_SIZE of ${this.#maxTableSize}`);
        }
        table.setCapacity(size);
        this.#updateRequired = false;
        continue;
      }
      if (!fieldSeen) {
        if (this.#updateRequired) {
          throw new HpackError(`block must start with a dynamic table size update (our SETTINGS_HEADER_TABLE_SIZE dropped to ${this.#maxTableSize}), found a header field at offset ${start}`);
        }
        fieldSeen = true;
      }

      let name: string;
      let value: string;
      if (b & 0x80) {
        // §6.1 indexed header field.
        const index = this.#int(7, L_INDEX);
        if (index === 0) throw new HpackError(`indexed header field at offset ${start} has index 0`);
        if (index <= STATIC_COUNT) {
          const e = STATIC_TABLE[index - 1];
          name = e[0];
          value = e[1];
        } else {
          const s = table.slot(index - STATIC_COUNT);
          if (s < 0) throw this.#badIndex(index, start);
          name = table.names[s];
          value = table.values[s];
        }
      } else if (b & 0x40) {
        // §6.2.1 literal with incremental indexing.
        const index = this.#int(6, L_NAME_INDEX);
        name = index === 0 ? this.#string(L_NAME_LENGTH) : this.#name(index, start);
        value = this.#string(L_VALUE_LENGTH);
        table.add(name, value);
      } else {
        // §6.2.2 without indexing (0000xxxx) and §6.2.3 never indexed (0001xxxx): the same to a
        // decoder; the never-indexed marking only binds re-encoding intermediaries.
        const index = this.#int(4, L_NAME_INDEX);
        name = index === 0 ? this.#string(L_NAME_LENGTH) : this.#name(index, start);
        value = this.#string(L_VALUE_LENGTH);
      }

      listSize += name.length + value.length + ENTRY_OVERHEAD;
      if (listSize > maxList) {
        throw new HpackError(`header list exceeds the limit of ${maxList} octets (field at offset ${start} brings it to ${listSize})`);
      }
      out.push([name, value]);
    }

    if (this.#updateRequired) {
      throw new HpackError(`block must start with a dynamic table size update (our SETTINGS_HEADER_TABLE_SIZE dropped to ${this.#maxTableSize}), but it has none`);
    }
    return out;
  }

  /** Name of the static or dynamic entry at index (never 0) for a literal field at offset start. */
  #name(index: number, start: number): string {
    if (index <= STATIC_COUNT) return STATIC_TABLE[index - 1][0];
    const t = this.#table;
    const s = t.slot(index - STATIC_COUNT);
    if (s < 0) throw this.#badIndex(index, start);
    return t.names[s];
  }

  #badIndex(index: number, start: number): HpackError {
    const n = this.#table.count;
    const range = n === 0 ? 'the dynamic table is empty' : `dynamic indices are ${STATIC_COUNT + 1}..${STATIC_COUNT + n}`;
    return new HpackError(`index ${index} at offset ${start} is out of range (static indices are 1..${STATIC_COUNT}, ${range})`);
  }

  /** §5.1 integer with a prefixBits-bit prefix at the cursor; the cursor moves past it. */
  #int(prefixBits: number, what: string): number {
    const buf = this.#buf;
    const start = this.#pos;
    let pos = start;
    const max = (1 << prefixBits) - 1;
    let value = buf[pos++] & max;
    if (value < max) {
      this.#pos = pos;
      return value;
    }
    let scale = 1;
    for (let n = 0; ; n++) {
      if (pos >= buf.length) throw new HpackError(`block truncated inside the ${what} integer at offset ${start}`);
      if (n === MAX_CONTINUATION_BYTES) {
        throw new HpackError(`${what} integer at offset ${start} has more than ${MAX_CONTINUATION_BYTES} continuation octets`);
      }
      const c = buf[pos++];
      value += (c & 0x7f) * scale;
      if (value > MAX_INTEGER) throw new HpackError(`${what} integer at offset ${start} exceeds 2^31-1`);
      if ((c & 0x80) === 0) break;
      scale *= 128;
    }
    this.#pos = pos;
    return value;
  }

  /** §5.2 string literal at the cursor; the cursor moves past it. */
  #string(what: string): string {
    const buf = this.#buf;
    const start = this.#pos;
    if (start >= buf.length) throw new HpackError(`block truncated: ${what} expected at offset ${start}`);
    const huffman = (buf[start] & 0x80) !== 0;
    const len = this.#int(7, what);
    const from = this.#pos;
    if (len > buf.length - from) {
      throw new HpackError(`block truncated: string at offset ${start} declares ${what} ${len} but only ${buf.length - from} octets remain`);
    }
    this.#pos = from + len;
    return huffman ? huffmanDecode(buf, from, from + len) : buf.toString('latin1', from, from + len);
  }
}

// Encoder lookup: name -> first static index with that name, and value -> exact index.
interface StaticName {
  index: number;
  values: Map<string, number>;
}
const STATIC_BY_NAME = new Map<string, StaticName>();
STATIC_TABLE.forEach(([name, value], i) => {
  let e = STATIC_BY_NAME.get(name);
  if (e === undefined) {
    e = { index: i + 1, values: new Map() };
    STATIC_BY_NAME.set(name, e);
  }
  e.values.set(value, i + 1);
});

/** Writes value as a §5.1 integer with a prefixBits-bit prefix, OR-ing flags into the first octet. */
function writeInt(dst: Uint8Array, pos: number, value: number, prefixBits: number, flags: number): number {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    dst[pos++] = flags | value;
    return pos;
  }
  dst[pos++] = flags | max;
  let rest = value - max;
  while (rest >= 128) {
    dst[pos++] = (rest & 0x7f) | 0x80;
    rest >>>= 7;
  }
  dst[pos++] = rest;
  return pos;
}

/** A §5.1 integer on its own; flags go into the bits above the prefix of the first octet. */
export function encodeInteger(value: number, prefixBits: number, flags = 0): Buffer {
  checkSize('value', value, MAX_INTEGER);
  if (!Number.isInteger(prefixBits) || prefixBits < 1 || prefixBits > 8) throw new RangeError(`prefixBits must be 1..8, got ${prefixBits}`);
  const out = Buffer.allocUnsafe(6);
  return out.subarray(0, writeInt(out, 0, value, prefixBits, flags & ~((1 << prefixBits) - 1) & 0xff));
}

/** Octets of value as a §5.1 integer with a prefixBits-bit prefix. */
function intLength(value: number, prefixBits: number): number {
  const max = (1 << prefixBits) - 1;
  if (value < max) return 1;
  let n = 2;
  for (let rest = value - max; rest >= 128; rest >>>= 7) n++;
  return n;
}

/** How a string goes out: its Huffman length when that is strictly shorter, else -1 (raw). */
function stringPlan(s: string): number {
  const h = huffmanEncodedLength(s); // also rejects characters above U+00FF
  return h < s.length ? h : -1;
}

function stringLength(s: string, plan: number): number {
  const len = plan >= 0 ? plan : s.length;
  return intLength(len, 7) + len;
}

/** §5.2 string literal as planned by stringPlan. */
function writeString(dst: Buffer, pos: number, s: string, plan: number): number {
  if (plan >= 0) {
    pos = writeInt(dst, pos, plan, 7, 0x80);
    return huffmanEncodeInto(s, dst, pos);
  }
  pos = writeInt(dst, pos, s.length, 7, 0);
  // A JS loop beats Buffer#write's native call for the short strings headers mostly are.
  if (s.length > 32) return pos + dst.write(s, pos, 'latin1');
  for (let i = 0; i < s.length; i++) dst[pos++] = s.charCodeAt(i);
  return pos;
}

// Per-field plan from encode()'s sizing pass, read back by its writing pass, three slots a
// field: representation (k > 0: indexed field k; k < 0: literal with name index -k; 0:
// literal with literal name), name plan, value plan (see stringPlan). Shared: encode() is
// synchronous and not re-entrant.
let fieldPlans = new Int32Array(3 * 32);

export class HpackEncoder {
  /** Our dynamic table's maximum size as the peer's decoder knows it; the table itself stays empty. */
  #capacity = DEFAULT_HEADER_TABLE_SIZE;
  #updatePending = false;

  /**
   * Encodes a header list. Never inserts into the dynamic table (so our table is always empty
   * and the peer's SETTINGS_HEADER_TABLE_SIZE can never be exceeded); uses static-table indices
   * for exact name+value matches (":status: 200" -> one byte) and static name indices for
   * literal-without-indexing otherwise; Huffman-encodes a string when that is shorter.
   * Names and values must be latin1 (characters <= U+00FF), else RangeError.
   */
  encode(headers: readonly HeaderField[]): Buffer {
    // Two passes so the output is allocated once at its exact size: plan and measure, write.
    const n = headers.length;
    if (fieldPlans.length < 3 * n) fieldPlans = new Int32Array(6 * n);
    const plans = fieldPlans;
    const update = this.#updatePending;
    let size = update ? intLength(this.#capacity, 5) : 0;
    for (let i = 0; i < n; i++) {
      const [name, value] = headers[i];
      const known = STATIC_BY_NAME.get(name);
      if (known !== undefined) {
        const exact = known.values.get(value);
        if (exact !== undefined) {
          plans[3 * i] = exact;
          size += intLength(exact, 7);
          continue;
        }
        plans[3 * i] = -known.index;
        size += intLength(known.index, 4);
      } else {
        const p = stringPlan(name);
        plans[3 * i] = 0;
        plans[3 * i + 1] = p;
        size += 1 + stringLength(name, p);
      }
      const p = stringPlan(value);
      plans[3 * i + 2] = p;
      size += stringLength(value, p);
    }

    const out = Buffer.allocUnsafe(size);
    let pos = 0;
    if (update) {
      pos = writeInt(out, pos, this.#capacity, 5, 0x20);
      this.#updatePending = false;
    }
    for (let i = 0; i < n; i++) {
      const [name, value] = headers[i];
      const rep = plans[3 * i];
      if (rep > 0) {
        pos = writeInt(out, pos, rep, 7, 0x80);
        continue;
      }
      if (rep < 0) {
        pos = writeInt(out, pos, -rep, 4, 0x00);
      } else {
        out[pos++] = 0x00;
        pos = writeString(out, pos, name, plans[3 * i + 1]);
      }
      pos = writeString(out, pos, value, plans[3 * i + 2]);
    }
    // The buffer is uninitialised memory: a sizing slip must never send its leftovers.
    if (pos !== size) throw new Error(`HPACK encoder wrote ${pos} octets, planned ${size}`);
    return out;
  }

  /**
   * The peer changed SETTINGS_HEADER_TABLE_SIZE. If it is now below the size the peer's decoder
   * assumes for our table, §4.2 requires a size update at the start of the next block; we go
   * to 0, which every later limit allows, since we never index anyway.
   */
  setPeerMaxTableSize(n: number): void {
    checkSize('peer SETTINGS_HEADER_TABLE_SIZE', n, 0xffffffff);
    if (n < this.#capacity) {
      this.#capacity = 0;
      this.#updatePending = true;
    }
  }
}
