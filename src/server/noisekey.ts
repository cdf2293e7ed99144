// The server's Noise (machine) private key: created 0600 on first start, then kept,
// because clients pin the public key they first saw. The embedded DERP relay keeps its
// key the same way (derp.server.private_key_path), in the same "privkey:<hex>" form.

import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { formatPrivate, generatePrivateKey, parsePrivate } from '../noise/keys.js';

export function loadOrCreateNoiseKey(path: string, log: (msg: string) => void, setting = 'noise.private_key_path', what = 'Noise'): Buffer {
  if (existsSync(path)) {
    const text = readFileSync(path, 'utf8').trim();
    let key: Buffer;
    try {
      key = parsePrivate(text);
    } catch (err) {
      throw new Error(`${setting}: ${path} does not hold a "privkey:<64 hex>" key: ${(err as Error).message}`);
    }
    const mode = statSync(path).mode & 0o777;
    if (mode & 0o077) {
      chmodSync(path, 0o600);
      log(`${setting}: tightened permissions of ${path} to 0600 (were ${mode.toString(8)})`);
    }
    return key;
  }
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const key = generatePrivateKey();
  writeFileSync(path, formatPrivate(key) + '\n', { mode: 0o600, flag: 'wx' });
  log(`created a new ${what} private key at ${path}`);
  return key;
}
