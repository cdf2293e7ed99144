import type { CipherState } from './cipher-state.js';
import { NoiseError } from './errors.js';
import { IKInitiator, IKResponder } from './handshake-ik.js';
import { KEY_LEN, preparePublicKey, prepareStaticKey, type PublicKeyHandle, type StaticKey } from './keys.js';
import {
  HEADER_LEN,
  INITIATION_HEADER_LEN,
  INITIATION_LEN,
  INITIATION_PAYLOAD_LEN,
  MSG_TYPE_ERROR,
  MSG_TYPE_INITIATION,
  MSG_TYPE_RESPONSE,
  RESPONSE_PAYLOAD_LEN,
  frameHeader,
  protocolVersionPrologue,
} from './messages.js';

/** What the server learns from a valid initiation, plus the bytes to answer with. */
export interface ControlResponderResult {
  /** The client's machine public key, raw 32 bytes. */
  clientMachineKey: Buffer;
  /** The 2-byte version from the initiation header (the client's capability version). */
  protocolVersion: number;
  /** The 51-byte response frame to send back. */
  responseBytes: Buffer;
  send: CipherState;
  recv: CipherState;
  handshakeHash: Buffer;
}

/** Reads the cleartext initiation header without doing any crypto. */
export function parseInitiationHeader(initiation: Uint8Array): { protocolVersion: number; type: number; length: number } {
  if (initiation.length < INITIATION_HEADER_LEN) {
    throw new NoiseError('BAD_LENGTH', `handshake initiation truncated: ${initiation.length} bytes, header alone is ${INITIATION_HEADER_LEN}`);
  }
  const b = Buffer.from(initiation.buffer, initiation.byteOffset, initiation.byteLength);
  return { protocolVersion: b.readUInt16BE(0), type: b[2], length: b.readUInt16BE(3) };
}

/**
 * Checks an initiation's framing (size, type, length field); returns its version.
 * Split from the crypto so callers can reject bad versions cheaply and clearly.
 */
export function checkInitiationFraming(initiation: Uint8Array): number {
  const hdr = parseInitiationHeader(initiation);
  if (hdr.type !== MSG_TYPE_INITIATION) {
    throw new NoiseError('BAD_TYPE', `unexpected handshake message type ${hdr.type}, want ${MSG_TYPE_INITIATION} (initiation)`);
  }
  if (hdr.length !== INITIATION_PAYLOAD_LEN) {
    throw new NoiseError('BAD_LENGTH', `wrong handshake initiation length field ${hdr.length}, want ${INITIATION_PAYLOAD_LEN}`);
  }
  if (initiation.length !== INITIATION_LEN) {
    throw new NoiseError('BAD_LENGTH', `wrong handshake initiation size: ${initiation.length} bytes, want ${INITIATION_LEN}`);
  }
  return hdr.protocolVersion;
}

/**
 * Server side of the control handshake: validates and decrypts the client's
 * initiation, and builds the response. Throws NoiseError on any bad input.
 */
export function respondToInitiation(
  serverPrivateKey: Uint8Array | StaticKey,
  initiation: Uint8Array,
  opts: { ephemeralPrivate?: Uint8Array } = {},
): ControlResponderResult {
  const protocolVersion = checkInitiationFraming(initiation);
  const responder = new IKResponder({
    prologue: protocolVersionPrologue(protocolVersion),
    staticPrivate: serverPrivateKey,
    ephemeralPrivate: opts.ephemeralPrivate,
    nonceEncoding: 'tailscale-be',
  });
  const payload = responder.readMessage1(initiation.subarray(INITIATION_HEADER_LEN));
  if (payload.length !== 0) {
    // Unreachable given the fixed size check, but the protocol requires it.
    throw new NoiseError('BAD_LENGTH', `initiation payload must be empty, got ${payload.length} bytes`);
  }
  const body = responder.writeMessage2();
  const { send, recv, handshakeHash } = responder.split();
  return {
    clientMachineKey: responder.remoteStaticPublic,
    protocolVersion,
    responseBytes: Buffer.concat([frameHeader(MSG_TYPE_RESPONSE, RESPONSE_PAYLOAD_LEN), body]),
    send,
    recv,
    handshakeHash,
  };
}

export interface ControlInitiation {
  /** The 101 bytes to put (base64) in X-Tailscale-Handshake. */
  initiationBytes: Buffer;
  machinePublicKey: Buffer;
  protocolVersion: number;
  /** Finishes the handshake with the server's 51-byte response frame. */
  complete(responseBytes: Uint8Array): { send: CipherState; recv: CipherState; handshakeHash: Buffer };
}

/** Client side: builds the initiation; call complete() with the server's response. */
export function createInitiation(
  machinePrivateKey: Uint8Array | StaticKey,
  serverPublicKey: Uint8Array | PublicKeyHandle,
  protocolVersion: number,
  opts: { ephemeralPrivate?: Uint8Array } = {},
): ControlInitiation {
  if (!Number.isInteger(protocolVersion) || protocolVersion < 0 || protocolVersion > 0xffff) {
    throw new NoiseError('BAD_VERSION', `protocol version must be an integer in 0..65535, got ${protocolVersion}`);
  }
  if (serverPublicKey instanceof Uint8Array && serverPublicKey.length !== KEY_LEN) {
    throw new NoiseError('BAD_KEY', `server public key must be ${KEY_LEN} bytes, got ${serverPublicKey.length}`);
  }
  const machine = prepareStaticKey(machinePrivateKey);
  const initiator = new IKInitiator({
    prologue: protocolVersionPrologue(protocolVersion),
    staticPrivate: machine,
    remoteStaticPublic: preparePublicKey(serverPublicKey),
    ephemeralPrivate: opts.ephemeralPrivate,
    nonceEncoding: 'tailscale-be',
  });
  const header = Buffer.alloc(INITIATION_HEADER_LEN);
  header.writeUInt16BE(protocolVersion, 0);
  header[2] = MSG_TYPE_INITIATION;
  header.writeUInt16BE(INITIATION_PAYLOAD_LEN, 3);
  const initiationBytes = Buffer.concat([header, initiator.writeMessage1()]);
  let done = false;
  return {
    initiationBytes,
    machinePublicKey: Buffer.from(machine.publicKey),
    protocolVersion,
    complete(responseBytes: Uint8Array) {
      if (done) throw new NoiseError('STATE', 'handshake already completed');
      done = true;
      const { type, length } = parseServerFrameHeader(responseBytes);
      if (type !== MSG_TYPE_RESPONSE) {
        throw new NoiseError('BAD_TYPE', `unexpected handshake response message type ${type}, want ${MSG_TYPE_RESPONSE}`);
      }
      if (length !== RESPONSE_PAYLOAD_LEN || responseBytes.length !== HEADER_LEN + RESPONSE_PAYLOAD_LEN) {
        throw new NoiseError('BAD_LENGTH', `wrong handshake response size: length field ${length}, ${responseBytes.length} bytes; want ${RESPONSE_PAYLOAD_LEN} and ${HEADER_LEN + RESPONSE_PAYLOAD_LEN}`);
      }
      initiator.readMessage2(responseBytes.subarray(HEADER_LEN));
      return initiator.split();
    },
  };
}

/** Type and length of a 3-byte server frame header (response, error or record). */
export function parseServerFrameHeader(bytes: Uint8Array): { type: number; length: number } {
  if (bytes.length < HEADER_LEN) {
    throw new NoiseError('TRUNCATED', `frame header truncated: ${bytes.length} of ${HEADER_LEN} bytes`);
  }
  return { type: bytes[0], length: (bytes[1] << 8) | bytes[2] };
}

/** Builds the NoiseError for an error frame's body, quoting the server's hint. */
export function peerErrorFromFrame(body: Uint8Array): NoiseError {
  return new NoiseError('PEER_ERROR', `server refused handshake: ${JSON.stringify(Buffer.from(body).toString('utf8'))}`);
}

export { MSG_TYPE_ERROR };
