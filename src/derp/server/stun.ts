// STUN binding (RFC 5389) as the relay answers it: a request is a 20-byte header (type
// 0x0001, the magic cookie, a 12-byte transaction id) and attributes; the answer is a
// binding success carrying the sender's address in XOR-MAPPED-ADDRESS. Requests from any
// RFC 5389 client are answered; a FINGERPRINT, when present, must be last and correct.

import { crc32 } from 'node:zlib';
import { parseAddress } from '../../util/netaddr.js';

const HEADER_LEN = 20;
const COOKIE = Buffer.from([0x21, 0x12, 0xa4, 0x42]);
const BINDING_REQUEST = 0x0001;
const BINDING_SUCCESS = 0x0101;
const ATTR_XOR_MAPPED_ADDRESS = 0x0020;
const ATTR_FINGERPRINT = 0x8028;
const FINGERPRINT_XOR = 0x5354554e;

export class StunError extends Error {}

/** The transaction id of a binding request; throws StunError naming what is wrong. */
export function parseBindingRequest(b: Buffer): Buffer {
  if (b.length < HEADER_LEN) throw new StunError(`${b.length} bytes is shorter than a STUN header`);
  if ((b[0]! & 0xc0) !== 0 || !b.subarray(4, 8).equals(COOKIE)) throw new StunError('not a STUN message (no magic cookie)');
  const type = b.readUInt16BE(0);
  if (type !== BINDING_REQUEST) throw new StunError(`STUN message type 0x${type.toString(16).padStart(4, '0')} is not a binding request`);
  const len = b.readUInt16BE(2);
  if (len % 4 !== 0 || HEADER_LEN + len > b.length) throw new StunError(`STUN length ${len} does not fit the ${b.length}-byte datagram`);
  let off = HEADER_LEN;
  const end = HEADER_LEN + len;
  while (off < end) {
    if (end - off < 4) throw new StunError('truncated STUN attribute header');
    const at = b.readUInt16BE(off);
    const alen = b.readUInt16BE(off + 2);
    const padded = (alen + 3) & ~3;
    if (off + 4 + padded > end) throw new StunError(`STUN attribute 0x${at.toString(16)} runs past the message`);
    if (at === ATTR_FINGERPRINT) {
      if (alen !== 4 || off + 8 !== end) throw new StunError('STUN FINGERPRINT is not the last attribute');
      const want = (crc32(b.subarray(0, off)) ^ FINGERPRINT_XOR) >>> 0;
      if (b.readUInt32BE(off + 4) !== want) throw new StunError('STUN FINGERPRINT does not match');
    }
    off += 4 + padded;
  }
  return Buffer.from(b.subarray(8, HEADER_LEN));
}

/** A binding success telling the client its address as the relay saw it. */
export function bindingResponse(txid: Buffer, address: string, port: number): Buffer {
  const { bytes: ip, v4 } = ipBytes(unmapAddress(address));
  const attrLen = 4 + ip.length;
  const b = Buffer.alloc(HEADER_LEN + 4 + attrLen);
  b.writeUInt16BE(BINDING_SUCCESS, 0);
  b.writeUInt16BE(4 + attrLen, 2);
  COOKIE.copy(b, 4);
  txid.copy(b, 8);
  b.writeUInt16BE(ATTR_XOR_MAPPED_ADDRESS, 20);
  b.writeUInt16BE(attrLen, 22);
  b[24] = 0;
  b[25] = v4 ? 1 : 2;
  b.writeUInt16BE(port ^ 0x2112, 26);
  // The address is XORed with the cookie, then (IPv6) the transaction id.
  const mask = Buffer.concat([COOKIE, txid]);
  for (let i = 0; i < ip.length; i++) b[28 + i] = ip[i]! ^ mask[i]!;
  return b;
}

/** "::ffff:1.2.3.4" as "1.2.3.4": a dual-stack socket reports IPv4 senders mapped. */
export function unmapAddress(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m ? m[1]! : address;
}

function ipBytes(address: string): { bytes: Buffer; v4: boolean } {
  const a = parseAddress(address.replace(/%.*$/, ''));
  if (!a) throw new StunError(`cannot encode address ${JSON.stringify(address)}`);
  const n = a.family === 4 ? 4 : 16;
  const bytes = Buffer.alloc(n);
  let v = a.value;
  for (let i = n - 1; i >= 0; i--) {
    bytes[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return { bytes, v4: a.family === 4 };
}
