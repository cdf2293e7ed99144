// The DERP mesh pre-shared key (derp.server.mesh_key_path; derper's --mesh-psk-file): relays
// of one region that hold the same key trust each other to watch connections and forward
// packets. The file holds hex, whitespace trimmed; derper wants 64 or more hex digits and
// compares the text as given, so the same file works for both. Created 0600 when missing.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

const MESH_KEY_RE = /^[0-9a-fA-F]{64,}$/;

export class MeshKey {
  private readonly digest: Buffer;

  constructor(readonly text: string) {
    if (!MESH_KEY_RE.test(text)) throw new Error('a DERP mesh key is 64 or more hex digits');
    this.digest = createHash('sha256').update(text).digest();
  }

  /** Whether a client's meshKey is this key; constant time (both sides hashed to one length first). */
  matches(given: unknown): boolean {
    if (typeof given !== 'string' || given === '') return false;
    return timingSafeEqual(createHash('sha256').update(given).digest(), this.digest);
  }
}

export function loadOrCreateMeshKey(path: string, log: (msg: string) => void, setting = 'derp.server.mesh_key_path'): MeshKey {
  if (existsSync(path)) {
    const text = readFileSync(path, 'utf8').trim();
    if (!MESH_KEY_RE.test(text)) throw new Error(`${setting}: ${path} must hold 64 or more hex digits (the DERP mesh key)`);
    const mode = statSync(path).mode & 0o777;
    if (mode & 0o077) {
      chmodSync(path, 0o600);
      log(`${setting}: tightened permissions of ${path} to 0600 (were ${mode.toString(8)})`);
    }
    return new MeshKey(text);
  }
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const text = randomBytes(32).toString('hex');
  writeFileSync(path, text + '\n', { mode: 0o600, flag: 'wx' });
  log(`created a new DERP mesh key at ${path}; copy it to the relays listed in derp.server.mesh_with`);
  return new MeshKey(text);
}
