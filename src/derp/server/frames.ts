// DERP wire constants and frame encoders. A frame is a 1-byte type, a 4-byte big-endian
// payload length, then the payload (Tailscale's derp/derp.go).

export const MAGIC = Buffer.from('DERP🔑', 'utf8'); // 8 bytes: 44 45 52 50 f0 9f 94 91
export const PROTOCOL_VERSION = 2;
export const KEY_LEN = 32;
export const NONCE_LEN = 24;
export const HEADER_LEN = 5;
/** Largest packet a client may relay (the data bytes, without framing). */
export const MAX_PACKET_SIZE = 64 << 10;
/** derper refuses longer client info frames before parsing any JSON. */
export const MAX_CLIENT_INFO_LEN = 256 << 10;
/** Ping bodies carry 8 bytes; derper allows a little room for extensions. */
export const MAX_PING_LEN = 1000;

export const FrameType = {
  ServerKey: 0x01,
  ClientInfo: 0x02,
  ServerInfo: 0x03,
  SendPacket: 0x04,
  RecvPacket: 0x05,
  KeepAlive: 0x06,
  NotePreferred: 0x07,
  PeerGone: 0x08,
  PeerPresent: 0x09,
  ForwardPacket: 0x0a,
  WatchConns: 0x10,
  ClosePeer: 0x11,
  Ping: 0x12,
  Pong: 0x13,
  Health: 0x14,
  Restarting: 0x15,
} as const;

export const PeerGoneReason = {
  Disconnected: 0x00,
  NotHere: 0x01,
} as const;

/** The flags byte of framePeerPresent (derp.go PeerPresentFlags). */
export const PeerPresentFlags = {
  IsRegular: 1 << 0,
  IsMeshPeer: 1 << 1,
  IsProber: 1 << 2,
  NotIdeal: 1 << 3,
} as const;

/** Key, 16-byte IP, 2-byte port, flags: what current derpers send (older ones send less). */
export const PEER_PRESENT_LEN = KEY_LEN + 16 + 2 + 1;

/** Disco messages start with this magic, then a 32-byte key and a 24-byte nonce. */
const DISCO_MAGIC = Buffer.from('TS💬', 'utf8');
const DISCO_MIN_LEN = DISCO_MAGIC.length + KEY_LEN + NONCE_LEN;

/** Whether a relayed packet is a disco message (these get their own queue, as in derper). */
export function looksLikeDisco(p: Uint8Array): boolean {
  if (p.length < DISCO_MIN_LEN) return false;
  for (let i = 0; i < DISCO_MAGIC.length; i++) if (p[i] !== DISCO_MAGIC[i]) return false;
  return true;
}

export function frame(type: number, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  const b = Buffer.allocUnsafe(HEADER_LEN + payload.length);
  b[0] = type;
  b.writeUInt32BE(payload.length, 1);
  b.set(payload, HEADER_LEN);
  return b;
}

/** A frameRecvPacket (protocol v2: source key, then the packet), built in one buffer. */
export function recvPacketFrame(src: Uint8Array, packet: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(HEADER_LEN + KEY_LEN + packet.length);
  b[0] = FrameType.RecvPacket;
  b.writeUInt32BE(KEY_LEN + packet.length, 1);
  b.set(src, HEADER_LEN);
  b.set(packet, HEADER_LEN + KEY_LEN);
  return b;
}

export function serverKeyFrame(publicKey: Uint8Array): Buffer {
  return frame(FrameType.ServerKey, Buffer.concat([MAGIC, publicKey]));
}

export function peerGoneFrame(peer: Uint8Array, reason: number): Buffer {
  const p = Buffer.allocUnsafe(KEY_LEN + 1);
  p.set(peer, 0);
  p[KEY_LEN] = reason;
  return frame(FrameType.PeerGone, p);
}

export const KEEPALIVE_FRAME = frame(FrameType.KeepAlive);

/** framePeerPresent for mesh watchers: the key, the client's address as 16 bytes (IPv4 mapped) and port, and flags. */
export function peerPresentFrame(peer: Uint8Array, ip16: Uint8Array, port: number, flags: number): Buffer {
  const p = Buffer.alloc(PEER_PRESENT_LEN);
  p.set(peer, 0);
  p.set(ip16, KEY_LEN);
  p.writeUInt16BE(port, KEY_LEN + 16);
  p[KEY_LEN + 18] = flags;
  return frame(FrameType.PeerPresent, p);
}

/** frameForwardPacket (mesh peer to mesh peer): source key, destination key, then the packet. */
export function forwardPacketFrame(src: Uint8Array, dst: Uint8Array, packet: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(HEADER_LEN + 2 * KEY_LEN + packet.length);
  b[0] = FrameType.ForwardPacket;
  b.writeUInt32BE(2 * KEY_LEN + packet.length, 1);
  b.set(src, HEADER_LEN);
  b.set(dst, HEADER_LEN + KEY_LEN);
  b.set(packet, HEADER_LEN + 2 * KEY_LEN);
  return b;
}
