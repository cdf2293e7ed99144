import { CipherState, type NonceEncoding } from './cipher-state.js';
import { NoiseError } from './errors.js';
import { blake2s, hkdf2 } from './hkdf-blake2s.js';
import { HASH_LEN } from './primitives.js';

// The initial h depends only on the protocol name; every handshake would hash it again.
const initialHash = new Map<string, Buffer>();

function hashProtocolName(protocolName: string): Buffer {
  let h = initialHash.get(protocolName);
  if (h === undefined) {
    const name = Buffer.from(protocolName, 'ascii');
    // Names longer than HASHLEN are hashed; shorter ones are zero-padded.
    h = name.length <= HASH_LEN ? Buffer.concat([name, Buffer.alloc(HASH_LEN - name.length)]) : blake2s(name);
    if (initialHash.size < 16) initialHash.set(protocolName, h);
  }
  return h;
}

/** Noise SymmetricState for a BLAKE2s / ChaChaPoly suite. */
export class SymmetricState {
  ck: Buffer;
  h: Buffer;
  cipher: CipherState;
  readonly #encoding: NonceEncoding;
  #split = false;

  constructor(protocolName: string, encoding: NonceEncoding) {
    // Copies, so nothing done to this state's buffers can reach the cached one.
    const h0 = hashProtocolName(protocolName);
    this.h = Buffer.from(h0);
    this.ck = Buffer.from(h0);
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
