// The relay's NaCl boxes (Curve25519, XSalsa20-Poly1305), as Tailscale's key.NodePrivate
// SealTo/OpenFrom: a 24-byte random nonce followed by the box. The client proves it holds
// the private half of the key it claims by sealing its info to the server's key.

import { randomBytes } from 'node:crypto';
import nacl from 'tweetnacl';
import { NONCE_LEN } from './frames.js';

export interface RelayKey {
  privateKey: Uint8Array;
  publicKey: Buffer;
}

export function relayKeyFromPrivate(privateKey: Uint8Array): RelayKey {
  return { privateKey, publicKey: Buffer.from(nacl.box.keyPair.fromSecretKey(privateKey).publicKey) };
}

/** The box shared key of the relay and one peer, computed once per connection. */
export function sharedKey(myPrivate: Uint8Array, theirPublic: Uint8Array): Uint8Array {
  return nacl.box.before(theirPublic, myPrivate);
}

export function seal(shared: Uint8Array, message: Uint8Array): Buffer {
  const nonce = randomBytes(NONCE_LEN);
  return Buffer.concat([nonce, nacl.box.after(message, nonce, shared)]);
}

/** The opened message, or null when the box is short, forged or sealed to another key. */
export function open(shared: Uint8Array, sealed: Uint8Array): Uint8Array | null {
  if (sealed.length < NONCE_LEN + nacl.box.overheadLength) return null;
  return nacl.box.open.after(sealed.subarray(NONCE_LEN), sealed.subarray(0, NONCE_LEN), shared);
}
