import { NoiseError } from './errors.js';
import { AEAD_KEY_LEN, AEAD_NONCE_LEN, aeadOpen, aeadSeal } from './primitives.js';

/**
 * How the 64-bit counter becomes the 12-byte ChaCha20-Poly1305 nonce.
 * The Noise spec says 4 zero bytes + little-endian counter; Tailscale's
 * controlbase (conn.go, type nonce) writes the counter big-endian instead.
 * Handshake messages always use counter 0, so only transport records differ.
 */
export type NonceEncoding = 'noise-le' | 'tailscale-be';

// A JS number is exact up to 2^53-1; refusing beyond that is far below
// Noise's 2^64-1 limit and unreachable in practice, but keeps nonces unique.
const MAX_COUNTER = Number.MAX_SAFE_INTEGER;

const EMPTY = Buffer.alloc(0);

/**
 * Writes counter n (an integer in [0, 2^53)) into bytes 4..11 of a 12-byte nonce
 * whose first 4 bytes are zero; the same bytes as nonce(n), without the range checks
 * of writeUInt32*, which #next's own bounds make redundant. Exported for tests.
 */
export function writeNonce(out: Buffer, n: number, encoding: NonceEncoding): void {
  const hi = Math.floor(n / 0x1_0000_0000);
  const lo = n >>> 0;
  if (encoding === 'noise-le') {
    out[4] = lo; out[5] = lo >>> 8; out[6] = lo >>> 16; out[7] = lo >>> 24;
    out[8] = hi; out[9] = hi >>> 8; out[10] = hi >>> 16; out[11] = hi >>> 24;
  } else {
    out[4] = hi >>> 24; out[5] = hi >>> 16; out[6] = hi >>> 8; out[7] = hi;
    out[8] = lo >>> 24; out[9] = lo >>> 16; out[10] = lo >>> 8; out[11] = lo;
  }
}

/** Noise CipherState: a key plus a message counter. */
export class CipherState {
  #key: Buffer | null;
  #n = 0;
  /** Set after a failed decryption or wipe: the state must never be used again. */
  #dead = false;
  readonly #encoding: NonceEncoding;
  /**
   * The per-record nonce, rewritten in place: both AEAD paths read it during the
   * call and keep no reference, so allocating a fresh one per record buys nothing.
   */
  readonly #nonceBuf = Buffer.alloc(AEAD_NONCE_LEN);

  constructor(key: Uint8Array | null, encoding: NonceEncoding) {
    if (key !== null && key.length !== AEAD_KEY_LEN) {
      throw new NoiseError('STATE', `cipher key must be ${AEAD_KEY_LEN} bytes, got ${key.length}`);
    }
    this.#key = key === null ? null : Buffer.from(key);
    this.#encoding = encoding;
  }

  /**
   * A state that continues another one at `counter`: the other side of a thread boundary
   * (the handshake worker) hands over a key and where its nonces stand.
   */
  static resume(key: Uint8Array, counter: number, encoding: NonceEncoding): CipherState {
    if (!Number.isSafeInteger(counter) || counter < 0) {
      throw new NoiseError('STATE', `cipher counter must be a non-negative integer, got ${counter}`);
    }
    const c = new CipherState(key, encoding);
    c.#n = counter;
    return c;
  }

  /**
   * Gives up this state's key and counter, for CipherState.resume elsewhere; this state
   * is then unusable, so the same nonce can never be used from both places.
   */
  handOver(): { key: Buffer; counter: number } {
    if (this.#key === null || this.#dead) throw new NoiseError('STATE', 'cipher state has no key to hand over');
    const out = { key: Buffer.from(this.#key), counter: this.#n };
    this.wipe();
    return out;
  }

  hasKey(): boolean {
    return this.#key !== null;
  }

  /** Number of messages processed so far (the next nonce). */
  get counter(): number {
    return this.#n;
  }

  nonce(n: number): Buffer {
    const out = Buffer.alloc(AEAD_NONCE_LEN);
    const hi = Math.floor(n / 0x1_0000_0000);
    const lo = n >>> 0;
    if (this.#encoding === 'noise-le') {
      out.writeUInt32LE(lo, 4);
      out.writeUInt32LE(hi, 8);
    } else {
      out.writeUInt32BE(hi, 4);
      out.writeUInt32BE(lo, 8);
    }
    return out;
  }

  #next(): Buffer {
    if (this.#dead) {
      throw new NoiseError('STATE', 'cipher state is no longer usable (closed or failed authentication earlier)');
    }
    if (this.#n >= MAX_COUNTER) {
      throw new NoiseError('CIPHER_EXHAUSTED', 'cipher exhausted: no more nonces for this key');
    }
    writeNonce(this.#nonceBuf, this.#n++, this.#encoding);
    return this.#nonceBuf;
  }

  /** EncryptWithAd; with no key this is the identity, per the Noise spec. */
  encryptWithAd(ad: Uint8Array, plaintext: Uint8Array): Buffer {
    if (this.#key === null && !this.#dead) return Buffer.from(plaintext);
    const nonce = this.#next();
    return aeadSeal(this.#key as Buffer, nonce, plaintext, ad ?? EMPTY);
  }

  /** DecryptWithAd; throws NoiseError DECRYPT_FAILED and then refuses further use. */
  decryptWithAd(ad: Uint8Array, ciphertext: Uint8Array): Buffer {
    if (this.#key === null && !this.#dead) return Buffer.from(ciphertext);
    const nonce = this.#next();
    const opened = aeadOpen(this.#key as Buffer, nonce, ciphertext, ad ?? EMPTY);
    if (opened === null) {
      // Once out of sync with the peer no later record can be trusted.
      this.wipe();
      throw new NoiseError('DECRYPT_FAILED', 'decryption failed: message authentication tag did not verify');
    }
    return opened;
  }

  /** Forget the key (forward secrecy on close). */
  wipe(): void {
    this.#key?.fill(0);
    this.#key = null;
    this.#dead = true;
  }
}
