// Reads the /machine/map body: repeated [4-byte little-endian length][zstd frame].

import type { Readable } from 'node:stream';
import { decompress } from 'zstd-napi';
import type { MapResponse } from '../tailcfg/types.js';

/** Guards against a corrupt length field asking for gigabytes. */
const MAX_FRAME = 64 << 20;

/** Incremental decoder: feed body chunks, get the complete MapResponses they finish. */
export class MapFrameReader {
  #buf: Buffer = Buffer.alloc(0);

  constructor(private readonly compressed: boolean) {}

  push(chunk: Buffer): MapResponse[] {
    let buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : chunk;
    const out: MapResponse[] = [];
    while (buf.length >= 4) {
      const size = buf.readUInt32LE(0);
      if (size > MAX_FRAME) throw new Error(`map frame of ${size} bytes exceeds the ${MAX_FRAME}-byte limit`);
      if (buf.length < 4 + size) break;
      const frame = buf.subarray(4, 4 + size);
      buf = buf.subarray(4 + size);
      const json = this.compressed ? decompress(frame) : frame;
      out.push(JSON.parse(json.toString('utf8')) as MapResponse);
    }
    this.#buf = buf;
    return out;
  }

  /** The body ended: a partial frame left over means it was cut short. */
  finish(): void {
    if (this.#buf.length) throw new Error(`map stream ended inside a frame (${this.#buf.length} bytes left over)`);
  }
}

export async function* readMapFrames(body: Readable, compressed: boolean): AsyncGenerator<MapResponse> {
  const reader = new MapFrameReader(compressed);
  for await (const chunk of body as AsyncIterable<Buffer>) yield* reader.push(chunk);
  reader.finish();
}
