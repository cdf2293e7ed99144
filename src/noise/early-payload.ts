import type { Readable } from 'node:stream';
import type { EarlyNoise } from '../tailcfg/types.js';
import { NoiseError } from './errors.js';
import { readExact } from './read-exact.js';

/**
 * The server's first bytes inside the Noise channel may be an "early payload":
 * 5 magic bytes chosen so they can't start an HTTP/2 frame, a 4-byte
 * big-endian length, then JSON tailcfg.EarlyNoise. Otherwise those first 9
 * bytes are simply the server's HTTP/2 SETTINGS frame header.
 */
export const EARLY_PAYLOAD_MAGIC = Buffer.from([0xff, 0xff, 0xff, 0x54, 0x53]); // "\xff\xff\xffTS"
export const EARLY_PAYLOAD_HEADER_LEN = 9;
/** Clients understand the early payload from capability version 49. */
export const EARLY_NOISE_MIN_VERSION = 49;
/** Upper bound we accept when reading; the real payload is ~80 bytes. */
export const MAX_EARLY_PAYLOAD_LEN = 1 << 20;

export function encodeEarlyPayload(early: EarlyNoise): Buffer {
  const json = Buffer.from(JSON.stringify(early), 'utf8');
  const hdr = Buffer.alloc(EARLY_PAYLOAD_HEADER_LEN);
  EARLY_PAYLOAD_MAGIC.copy(hdr, 0);
  hdr.writeUInt32BE(json.length, EARLY_PAYLOAD_MAGIC.length);
  return Buffer.concat([hdr, json]);
}

/**
 * Reads the optional early payload from a fresh control connection. Returns
 * null (and puts the bytes back) if the server went straight to HTTP/2.
 */
export async function readEarlyPayload(conn: Readable, maxLen = MAX_EARLY_PAYLOAD_LEN): Promise<EarlyNoise | null> {
  const hdr = await readExact(conn, EARLY_PAYLOAD_HEADER_LEN, 'the early payload or HTTP/2 frame header');
  if (!hdr.subarray(0, EARLY_PAYLOAD_MAGIC.length).equals(EARLY_PAYLOAD_MAGIC)) {
    conn.unshift(hdr);
    return null;
  }
  const len = hdr.readUInt32BE(EARLY_PAYLOAD_MAGIC.length);
  if (len > maxLen) {
    throw new NoiseError('BAD_EARLY_PAYLOAD', `early payload of ${len} bytes exceeds the ${maxLen}-byte limit`);
  }
  const body = len === 0 ? Buffer.alloc(0) : await readExact(conn, len, 'the early payload body');
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new NoiseError('BAD_EARLY_PAYLOAD', `early payload is not valid JSON: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new NoiseError('BAD_EARLY_PAYLOAD', 'early payload JSON must be an object (tailcfg.EarlyNoise)');
  }
  const challenge = (parsed as Record<string, unknown>).NodeKeyChallenge;
  if (challenge !== undefined && typeof challenge !== 'string') {
    throw new NoiseError('BAD_EARLY_PAYLOAD', 'early payload NodeKeyChallenge must be a string');
  }
  return parsed as EarlyNoise;
}
