// Framing of map responses on the /machine/map stream: a 4-byte little-endian length,
// then one zstd frame of the JSON (or the plain JSON when the client did not ask for zstd).

import { compress } from 'zstd-napi';

export type Compression = 'zstd' | 'none';

export function encodeFrame(json: string | Buffer, compression: Compression): Buffer {
  const raw = typeof json === 'string' ? Buffer.from(json, 'utf8') : json;
  const body = compression === 'zstd' ? compress(raw, { compressionLevel: 1 }) : raw;
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeUInt32LE(body.length, 0);
  body.copy(out, 4);
  return out;
}

// The keep-alive frame never changes, so it is encoded once. The client recognises
// a repeated byte-identical keep-alive and skips decoding it.
const KEEPALIVE_JSON = '{"KeepAlive":true}';
const KEEPALIVE_FRAMES: Readonly<Record<Compression, Buffer>> = Object.freeze({
  zstd: encodeFrame(KEEPALIVE_JSON, 'zstd'),
  none: encodeFrame(KEEPALIVE_JSON, 'none'),
});

export function keepAliveFrame(compression: Compression): Buffer {
  return KEEPALIVE_FRAMES[compression];
}
