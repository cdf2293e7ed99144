// Everything the server computes to answer one control handshake, as plain bytes, so it can
// be computed on a worker thread (responder-pool.ts) and picked up on the main thread. It is a
// pure function of the initiation and the server's static key, apart from fresh randomness.

import { CipherState } from './cipher-state.js';
import { respondToInitiation } from './control-handshake.js';
import { EARLY_NOISE_MIN_VERSION, encodeEarlyPayload } from './early-payload.js';
import { formatChallengePublic, generateKeyPair, type StaticKey } from './keys.js';
import { HEADER_LEN, MSG_TYPE_RECORD } from './messages.js';

/** A cipher's key and next nonce, to continue it with CipherState.resume. */
export interface CipherHandOver {
  key: Uint8Array;
  counter: number;
}

/** The answer to a valid initiation. Every field survives a structured clone. */
export interface ControlAnswer {
  /** The client's machine public key, raw 32 bytes. */
  clientMachineKey: Uint8Array;
  /** The 2-byte version from the initiation header (the client's capability version). */
  protocolVersion: number;
  /** The 51-byte Noise response frame. */
  responseBytes: Uint8Array;
  /** The early payload record (NodeKeyChallenge) sealed as the first transport record, if it is sent. */
  earlyRecord: Uint8Array | null;
  send: CipherHandOver;
  recv: CipherHandOver;
  handshakeHash: Uint8Array;
  /** The NodeKeyChallenge key pair the early payload announces (the private half verifies registrations). */
  challengePrivate: Uint8Array;
  challengePublic: Uint8Array;
}

const EMPTY_AD = Buffer.alloc(0);

/**
 * Answers a framed initiation (checkInitiationFraming already passed): the response, and
 * the early payload record when `earlyPayload` is asked for and the client understands it.
 * Throws NoiseError on an initiation that does not decrypt.
 */
export function answerControlInitiation(serverKey: StaticKey, initiation: Uint8Array, earlyPayload: boolean): ControlAnswer {
  const r = respondToInitiation(serverKey, initiation);
  const challenge = generateKeyPair();
  let earlyRecord: Buffer | null = null;
  if (earlyPayload && r.protocolVersion >= EARLY_NOISE_MIN_VERSION) {
    // Sealed with the send cipher's first nonce; the connection's records continue after it.
    const sealed = r.send.encryptWithAd(EMPTY_AD, encodeEarlyPayload({ NodeKeyChallenge: formatChallengePublic(challenge.publicKey) }));
    earlyRecord = Buffer.allocUnsafe(HEADER_LEN + sealed.length);
    earlyRecord[0] = MSG_TYPE_RECORD;
    earlyRecord.writeUInt16BE(sealed.length, 1);
    sealed.copy(earlyRecord, HEADER_LEN);
  }
  return {
    clientMachineKey: r.clientMachineKey,
    protocolVersion: r.protocolVersion,
    responseBytes: r.responseBytes,
    earlyRecord,
    send: r.send.handOver(),
    recv: r.recv.handOver(),
    handshakeHash: r.handshakeHash,
    challengePrivate: challenge.privateKey,
    challengePublic: challenge.publicKey,
  };
}

/** Byte fields as Buffers again (a structured clone turns them into plain Uint8Arrays). */
export const asBuffer = (u: Uint8Array): Buffer => (Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength));

/** The answer's ciphers, live again on this thread. */
export function resumeCiphers(a: ControlAnswer): { send: CipherState; recv: CipherState } {
  return {
    send: CipherState.resume(a.send.key, a.send.counter, 'tailscale-be'),
    recv: CipherState.resume(a.recv.key, a.recv.counter, 'tailscale-be'),
  };
}
