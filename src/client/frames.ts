// Reads the /machine/map body: repeated [4-byte little-endian length][zstd frame].

import type { Readable } from 'node:stream';
import { decompress } from 'zstd-napi';
import type { MapResponse } from '../tailcfg/types.js';

/** Guards against a corrupt length field asking for gigabytes. */
const MAX_FRAME = 64 << 20;

export async function* readMapFrames(body: Readable, compressed: boolean): AsyncGenerator<MapResponse> {
  let buf: Buffer = Buffer.alloc(0);
  for await (const chunk of body as AsyncIterable<Buffer>) {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    while (buf.length >= 4) {
      const size = buf.readUInt32LE(0);
      if (size > MAX_FRAME) throw new Error(`map frame of ${size} bytes exceeds the ${MAX_FRAME}-byte limit`);
      if (buf.length < 4 + size) break;
      const frame = buf.subarray(4, 4 + size);
      buf = buf.subarray(4 + size);
      const json = compressed ? decompress(frame) : frame;
      yield JSON.parse(json.toString('utf8')) as MapResponse;
    }
  }
  if (buf.length) throw new Error(`map stream ended inside a frame (${buf.length} bytes left over)`);
}
