import { CipherState, type NonceEncoding } from './cipher-state.js';
import { NoiseError } from './errors.js';
import { HASH_LEN, blake2s, hkdf2 } from './primitives.js';

/** Noise SymmetricState for a BLAKE2s / ChaChaPoly suite. */
export class SymmetricState {
  ck: Buffer;
  h: Buffer;
  cipher: CipherState;
  readonly #encoding: NonceEncoding;
  #split = false;

  constructor(protocolName: string, encoding: NonceEncoding) {
    const name = Buffer.from(protocolName, 'ascii');
    // Names longer than HASHLEN are hashed; shorter ones are zero-padded.
    this.h = name.length <= HASH_LEN ? Buffer.concat([name, Buffer.alloc(HASH_LEN - name.length)]) : blake2s(name);
    this.ck = Buffer.from(this.h);
    this.#encoding = encoding;
    this.cipher = new CipherState(null, encoding);
  }

  #check(): void {
    if (this.#split) throw new NoiseError('STATE', 'handshake state used after split');
  }

  mixHash(data: Uint8Array): void {
    this.#check();
    this.h = blake2s(this.h, data);
  }

  mixKey(ikm: Uint8Array): void {
    this.#check();
    const [ck, k] = hkdf2(this.ck, ikm);
    this.ck = ck;
    this.cipher = new CipherState(k, this.#encoding);
  }

  encryptAndHash(plaintext: Uint8Array): Buffer {
    this.#check();
    const ct = this.cipher.encryptWithAd(this.h, plaintext);
    this.mixHash(ct);
    return ct;
  }

  decryptAndHash(ciphertext: Uint8Array): Buffer {
    this.#check();
    const pt = this.cipher.decryptWithAd(this.h, ciphertext);
    this.mixHash(ciphertext);
    return pt;
  }

  /** Returns (initiator→responder, responder→initiator) cipher states. */
  split(): [CipherState, CipherState] {
    this.#check();
    this.#split = true;
    const [k1, k2] = hkdf2(this.ck, Buffer.alloc(0));
    this.ck.fill(0);
    return [new CipherState(k1, this.#encoding), new CipherState(k2, this.#encoding)];
  }
}
