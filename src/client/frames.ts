// Reads the /machine/map body: repeated [4-byte little-endian length][zstd frame].

import type { Readable } from 'node:stream';
import { decompress } from 'zstd-napi';
import type { MapResponse } from '../tailcfg/types.js';

/** Guards against a corrupt length field asking for gigabytes. */
const MAX_FRAME = 64 << 20;

/** Incremental decoder: feed body chunks, get the complete MapResponses they finish. */
export class MapFrameReader {
  // An incomplete frame's bytes, kept as they came and joined once it is whole: a map larger
  // than one DATA frame costs one copy, not one per chunk.
  #parts: Buffer[] = [];
  #partBytes = 0;
  /** Bytes needed before the kept ones can be decoded further. */
  #need = 0;

  constructor(private readonly compressed: boolean) {}

  push(chunk: Buffer): MapResponse[] {
    let buf = chunk;
    if (this.#partBytes > 0) {
      this.#parts.push(chunk);
      this.#partBytes += chunk.length;
      if (this.#partBytes < this.#need) return [];
      buf = Buffer.concat(this.#parts, this.#partBytes);
      this.#parts = [];
      this.#partBytes = 0;
    }
    const out: MapResponse[] = [];
    let off = 0;
    let need = 4;
    while (buf.length - off >= 4) {
      const size = buf.readUInt32LE(off);
      if (size > MAX_FRAME) throw new Error(`map frame of ${size} bytes exceeds the ${MAX_FRAME}-byte limit`);
      if (buf.length - off < 4 + size) {
        need = 4 + size;
        break;
      }
      const frame = buf.subarray(off + 4, off + 4 + size);
      off += 4 + size;
      const json = this.compressed ? decompress(frame) : frame;
      out.push(JSON.parse(json.toString('utf8')) as MapResponse);
    }
    if (off < buf.length) {
      this.#parts = [off === 0 ? buf : buf.subarray(off)];
      this.#partBytes = buf.length - off;
      this.#need = need;
    }
    return out;
  }

  /** The body ended: a partial frame left over means it was cut short. */
  finish(): void {
    if (this.#partBytes) throw new Error(`map stream ended inside a frame (${this.#partBytes} bytes left over)`);
  }
}

export async function* readMapFrames(body: Readable, compressed: boolean): AsyncGenerator<MapResponse> {
  const reader = new MapFrameReader(compressed);
  for await (const chunk of body as AsyncIterable<Buffer>) yield* reader.push(chunk);
  reader.finish();
}
