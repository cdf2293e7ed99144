/**
 * Tailscale control protocol framing (controlbase/messages.go, conn.go).
 * Every frame is type(1) + length(2, big-endian) + body, except the
 * initiation which is prefixed with the 2-byte protocol version.
 */
export const MSG_TYPE_INITIATION = 1;
export const MSG_TYPE_RESPONSE = 2;
/** Unauthenticated, human-readable error; a hint only. */
export const MSG_TYPE_ERROR = 3;
export const MSG_TYPE_RECORD = 4;

export const HEADER_LEN = 3;
export const INITIATION_HEADER_LEN = 5;
/** 32 ephemeral + 48 encrypted static + 16 tag of the empty payload. */
export const INITIATION_PAYLOAD_LEN = 96;
export const INITIATION_LEN = INITIATION_HEADER_LEN + INITIATION_PAYLOAD_LEN;
/** 32 ephemeral + 16 tag of the empty payload. */
export const RESPONSE_PAYLOAD_LEN = 48;
export const RESPONSE_LEN = HEADER_LEN + RESPONSE_PAYLOAD_LEN;

/** Largest frame on the wire, header included. */
export const MAX_MESSAGE_SIZE = 4096;
export const MAX_CIPHERTEXT_SIZE = MAX_MESSAGE_SIZE - HEADER_LEN;
/** Largest plaintext one record carries: 4096 - 3 - 16 = 4077. */
export const MAX_PLAINTEXT_SIZE = MAX_CIPHERTEXT_SIZE - 16;

export const PROTOCOL_VERSION_PREFIX = 'Tailscale Control Protocol v';

/** Prologue mixed into the handshake so both sides agree on the cleartext version. */
export function protocolVersionPrologue(version: number): Buffer {
  return Buffer.from(PROTOCOL_VERSION_PREFIX + String(version), 'ascii');
}

export function frameHeader(type: number, length: number): Buffer {
  const h = Buffer.alloc(HEADER_LEN);
  h[0] = type;
  h.writeUInt16BE(length, 1);
  return h;
}

/** An error frame as controlbase's sendErr writes it (message truncated to 64 KiB - 1). */
export function errorFrame(message: string): Buffer {
  let body = Buffer.from(message, 'utf8');
  if (body.length > 0xffff) body = body.subarray(0, 0xffff);
  return Buffer.concat([frameHeader(MSG_TYPE_ERROR, body.length), body]);
}
