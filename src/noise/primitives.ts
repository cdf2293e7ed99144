import { createCipheriv, createDecipheriv, createHash, hkdfSync } from 'node:crypto';

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

/** ChaCha20-Poly1305 seal: returns ciphertext || 16-byte tag. */
export function aeadSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Buffer {
  const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: AEAD_TAG_LEN });
  c.setAAD(ad, { plaintextLength: plaintext.length });
  const head = c.update(plaintext);
  const tail = c.final();
  return Buffer.concat([head, tail, c.getAuthTag()]);
}

/** ChaCha20-Poly1305 open; null when authentication fails (never throws on bad input). */
export function aeadOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Buffer | null {
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
