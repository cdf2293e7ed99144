import type { KeyObject } from 'node:crypto';
import { CipherState, type NonceEncoding } from './cipher-state.js';
import { NoiseError } from './errors.js';
import {
  KEY_LEN,
  generatePrivateKey,
  preparePublicKey,
  prepareStaticKey,
  privateKeyObject,
  publicKeyObject,
  publicOfKeyObject,
  type PublicKeyHandle,
  type StaticKey,
  x25519,
} from './keys.js';
import { AEAD_TAG_LEN } from './primitives.js';
import { SymmetricState } from './symmetric-state.js';

/**
 * The plain Noise IK pattern (no Tailscale framing), so it can be checked
 * against the published test vectors:
 *   <- s
 *   ...
 *   -> e, es, s, ss
 *   <- e, ee, se
 */
export const IK_PROTOCOL_NAME = 'Noise_IK_25519_ChaChaPoly_BLAKE2s';

/** Length of message 1 for a given payload: e + encrypted s + encrypted payload. */
export const ikMessage1Length = (payloadLen: number): number => KEY_LEN + KEY_LEN + AEAD_TAG_LEN + payloadLen + AEAD_TAG_LEN;
/** Length of message 2 for a given payload: e + encrypted payload. */
export const ikMessage2Length = (payloadLen: number): number => KEY_LEN + payloadLen + AEAD_TAG_LEN;

export interface IKCommonOptions {
  prologue: Uint8Array;
  /** Our static private key: raw 32 bytes, or prepared once with prepareStaticKey. */
  staticPrivate: Uint8Array | StaticKey;
  /** Fixed ephemeral private key; only test vectors should set this. */
  ephemeralPrivate?: Uint8Array;
  protocolName?: string;
  nonceEncoding?: NonceEncoding;
}

export interface IKInitiatorOptions extends IKCommonOptions {
  /** The responder's static public key: raw 32 bytes, or imported once with preparePublicKey. */
  remoteStaticPublic: Uint8Array | PublicKeyHandle;
}

/** Transport ciphers after a completed handshake, from one side's point of view. */
export interface IKResult {
  send: CipherState;
  recv: CipherState;
  handshakeHash: Buffer;
}

/**
 * Ephemeral key, imported once and used for two DH operations. Its raw bytes
 * exist in one buffer only, which the caller wipes when done.
 */
function ephemeral(raw: Uint8Array | undefined): StaticKey {
  const privateKey = raw === undefined ? generatePrivateKey() : Buffer.from(raw);
  const keyObject = privateKeyObject(privateKey);
  return { privateKey, publicKey: publicOfKeyObject(keyObject), keyObject };
}

export class IKInitiator {
  readonly #ss: SymmetricState;
  readonly #s: StaticKey;
  readonly #rs: KeyObject;
  readonly #e: StaticKey;
  #step = 0;

  constructor(opts: IKInitiatorOptions) {
    this.#ss = new SymmetricState(opts.protocolName ?? IK_PROTOCOL_NAME, opts.nonceEncoding ?? 'noise-le');
    this.#s = prepareStaticKey(opts.staticPrivate);
    const rs = preparePublicKey(opts.remoteStaticPublic);
    this.#rs = rs.keyObject;
    this.#e = ephemeral(opts.ephemeralPrivate);
    this.#ss.mixHash(opts.prologue);
    this.#ss.mixHash(rs.publicKey);
  }

  writeMessage1(payload: Uint8Array = Buffer.alloc(0)): Buffer {
    if (this.#step !== 0) throw new NoiseError('STATE', 'initiator message 1 already written');
    this.#step = 1;
    const ss = this.#ss;
    const ePub = this.#e.publicKey;
    ss.mixHash(ePub);
    ss.mixKey(x25519(this.#e.keyObject, this.#rs));
    const encS = ss.encryptAndHash(this.#s.publicKey);
    ss.mixKey(x25519(this.#s.keyObject, this.#rs));
    const encPayload = ss.encryptAndHash(payload);
    return Buffer.concat([ePub, encS, encPayload]);
  }

  /** Processes the responder's message 2; returns its payload. */
  readMessage2(message: Uint8Array): Buffer {
    if (this.#step !== 1) throw new NoiseError('STATE', 'initiator must write message 1 before reading message 2');
    if (message.length < ikMessage2Length(0)) {
      throw new NoiseError('BAD_LENGTH', `handshake response too short: ${message.length} bytes, need at least ${ikMessage2Length(0)}`);
    }
    this.#step = 2;
    const ss = this.#ss;
    const re = message.subarray(0, KEY_LEN);
    ss.mixHash(re);
    const reKey = publicKeyObject(re);
    ss.mixKey(x25519(this.#e.keyObject, reKey));
    ss.mixKey(x25519(this.#s.keyObject, reKey));
    try {
      return ss.decryptAndHash(message.subarray(KEY_LEN));
    } catch (err) {
      throw rename(err, 'decrypting handshake response failed (wrong server key?)');
    }
  }

  split(): IKResult {
    if (this.#step !== 2) throw new NoiseError('STATE', 'handshake not complete');
    this.#step = 3;
    const handshakeHash = Buffer.from(this.#ss.h);
    const [c1, c2] = this.#ss.split();
    this.#e.privateKey.fill(0);
    return { send: c1, recv: c2, handshakeHash };
  }
}

export class IKResponder {
  readonly #ss: SymmetricState;
  readonly #s: StaticKey;
  readonly #ephemeralRaw: Uint8Array | undefined;
  #re: KeyObject | null = null;
  #rs: Buffer | null = null;
  #rsKey: KeyObject | null = null;
  #step = 0;

  constructor(opts: IKCommonOptions) {
    this.#ss = new SymmetricState(opts.protocolName ?? IK_PROTOCOL_NAME, opts.nonceEncoding ?? 'noise-le');
    this.#s = prepareStaticKey(opts.staticPrivate);
    // Generated only once message 1 checks out, so junk costs no key generation.
    this.#ephemeralRaw = opts.ephemeralPrivate;
    this.#ss.mixHash(opts.prologue);
    this.#ss.mixHash(this.#s.publicKey);
  }

  /** The initiator's static public key, known after message 1. */
  get remoteStaticPublic(): Buffer {
    if (this.#rs === null) throw new NoiseError('STATE', 'remote static key not known before message 1');
    return Buffer.from(this.#rs);
  }

  /** Processes message 1; returns its payload. */
  readMessage1(message: Uint8Array): Buffer {
    if (this.#step !== 0) throw new NoiseError('STATE', 'responder already read message 1');
    if (message.length < ikMessage1Length(0)) {
      throw new NoiseError('BAD_LENGTH', `handshake initiation too short: ${message.length} bytes, need at least ${ikMessage1Length(0)}`);
    }
    this.#step = 1;
    const ss = this.#ss;
    const re = publicKeyObject(message.subarray(0, KEY_LEN));
    ss.mixHash(message.subarray(0, KEY_LEN));
    ss.mixKey(x25519(this.#s.keyObject, re));
    let rs: Buffer;
    try {
      rs = ss.decryptAndHash(message.subarray(KEY_LEN, 2 * KEY_LEN + AEAD_TAG_LEN));
    } catch (err) {
      throw rename(err, 'decrypting initiator static key failed (initiation not made for this server key?)');
    }
    const rsKey = publicKeyObject(rs);
    ss.mixKey(x25519(this.#s.keyObject, rsKey));
    let payload: Buffer;
    try {
      payload = ss.decryptAndHash(message.subarray(2 * KEY_LEN + AEAD_TAG_LEN));
    } catch (err) {
      throw rename(err, 'decrypting initiation payload failed (tampered or wrong static key)');
    }
    this.#re = re;
    this.#rs = rs;
    this.#rsKey = rsKey;
    return payload;
  }

  writeMessage2(payload: Uint8Array = Buffer.alloc(0)): Buffer {
    if (this.#step !== 1 || this.#re === null || this.#rsKey === null) {
      throw new NoiseError('STATE', 'responder must read message 1 before writing message 2');
    }
    this.#step = 2;
    const ss = this.#ss;
    const e = ephemeral(this.#ephemeralRaw);
    ss.mixHash(e.publicKey);
    ss.mixKey(x25519(e.keyObject, this.#re));
    ss.mixKey(x25519(e.keyObject, this.#rsKey));
    e.privateKey.fill(0);
    return Buffer.concat([e.publicKey, ss.encryptAndHash(payload)]);
  }

  split(): IKResult {
    if (this.#step !== 2) throw new NoiseError('STATE', 'handshake not complete');
    this.#step = 3;
    const handshakeHash = Buffer.from(this.#ss.h);
    const [c1, c2] = this.#ss.split();
    return { send: c2, recv: c1, handshakeHash };
  }
}

function rename(err: unknown, message: string): unknown {
  if (err instanceof NoiseError && err.code === 'DECRYPT_FAILED') return new NoiseError('DECRYPT_FAILED', message);
  return err;
}
