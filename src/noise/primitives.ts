import { createCipheriv, createDecipheriv, createHash, hkdfSync } from 'node:crypto';
import { chacha20Poly1305Open, chacha20Poly1305Seal } from './chacha20poly1305.js';

/** BLAKE2s output size; also Noise's HASHLEN for this suite. */
export const HASH_LEN = 32;
/** ChaCha20-Poly1305 key, nonce and tag sizes. */
export const AEAD_KEY_LEN = 32;
export const AEAD_NONCE_LEN = 12;
export const AEAD_TAG_LEN = 16;

export function blake2s(...parts: Uint8Array[]): Buffer {
  const h = createHash('blake2s256');
  for (const p of parts) h.update(p);
  return h.digest();
}

const NO_INFO = Buffer.alloc(0);

/**
 * Noise HKDF with two outputs. Identical to RFC 5869 HKDF with salt=ck and
 * empty info, which is what controlbase uses (hkdf.New(blake2s, ikm, ck, nil)),
 * so OpenSSL's HKDF computes it in one call instead of three HMACs.
 */
export function hkdf2(chainingKey: Uint8Array, ikm: Uint8Array): [Buffer, Buffer] {
  const okm = Buffer.from(hkdfSync('blake2s256', ikm, chainingKey, NO_INFO, 64));
  return [okm.subarray(0, 32), okm.subarray(32, 64)];
}

/**
 * Records up to this many bytes (plaintext + AD) are sealed/opened by the JS
 * implementation in chacha20poly1305.ts: node:crypto pays a roughly fixed cost per
 * call for creating and finalising a cipher object, which outweighs doing the
 * arithmetic in JS for small records. bench/aead.ts measured the crossover at about
 * 1.3-1.5 KiB for seal and 1 KiB for open (Node 20, x86-64); at 1 KiB JS is still
 * ~20% faster at sealing and even at opening, and 4-7x faster at 16-256 bytes.
 */
export const AEAD_JS_MAX_BYTES = 1024;

/** ChaCha20-Poly1305 seal: returns ciphertext || 16-byte tag. */
export function aeadSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Buffer {
  // Odd key/nonce sizes go to node:crypto so they fail exactly as they always have.
  if (plaintext.length + ad.length <= AEAD_JS_MAX_BYTES && key.length === AEAD_KEY_LEN && nonce.length === AEAD_NONCE_LEN) {
    return chacha20Poly1305Seal(key, nonce, plaintext, ad);
  }
  return aeadSealNative(key, nonce, plaintext, ad);
}

/** ChaCha20-Poly1305 open; null when authentication fails (never throws on bad input). */
export function aeadOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Buffer | null {
  if (sealed.length < AEAD_TAG_LEN) return null;
  if (sealed.length - AEAD_TAG_LEN + ad.length <= AEAD_JS_MAX_BYTES && key.length === AEAD_KEY_LEN && nonce.length === AEAD_NONCE_LEN) {
    return chacha20Poly1305Open(key, nonce, sealed, ad);
  }
  return aeadOpenNative(key, nonce, sealed, ad);
}

/** aeadSeal through node:crypto only (large records; also the reference in tests and bench). */
export function aeadSealNative(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Buffer {
  const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: AEAD_TAG_LEN });
  c.setAAD(ad, { plaintextLength: plaintext.length });
  const head = c.update(plaintext);
  const tail = c.final();
  return Buffer.concat([head, tail, c.getAuthTag()]);
}

/** aeadOpen through node:crypto only. */
export function aeadOpenNative(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Buffer | null {
  if (sealed.length < AEAD_TAG_LEN) return null;
  const body = sealed.subarray(0, sealed.length - AEAD_TAG_LEN);
  const tag = sealed.subarray(sealed.length - AEAD_TAG_LEN);
  const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: AEAD_TAG_LEN });
  d.setAAD(ad, { plaintextLength: body.length });
  d.setAuthTag(tag);
  const head = d.update(body);
  try {
    const tail = d.final();
    return tail.length ? Buffer.concat([head, tail]) : head;
  } catch {
    return null;
  }
}
