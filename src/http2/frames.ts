// HTTP/2 wire constants and frame headers (RFC 9113 §4, §6, §7).

export const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const FRAME_HEADER_LEN = 9;

export const enum FrameType {
  DATA = 0x0,
  HEADERS = 0x1,
  PRIORITY = 0x2,
  RST_STREAM = 0x3,
  SETTINGS = 0x4,
  PUSH_PROMISE = 0x5,
  PING = 0x6,
  GOAWAY = 0x7,
  WINDOW_UPDATE = 0x8,
  CONTINUATION = 0x9,
}

export const enum Flag {
  END_STREAM = 0x1,
  ACK = 0x1,
  END_HEADERS = 0x4,
  PADDED = 0x8,
  PRIORITY = 0x20,
}

export const enum ErrorCode {
  NO_ERROR = 0x0,
  PROTOCOL_ERROR = 0x1,
  INTERNAL_ERROR = 0x2,
  FLOW_CONTROL_ERROR = 0x3,
  SETTINGS_TIMEOUT = 0x4,
  STREAM_CLOSED = 0x5,
  FRAME_SIZE_ERROR = 0x6,
  REFUSED_STREAM = 0x7,
  CANCEL = 0x8,
  COMPRESSION_ERROR = 0x9,
  CONNECT_ERROR = 0xa,
  ENHANCE_YOUR_CALM = 0xb,
  INADEQUATE_SECURITY = 0xc,
  HTTP_1_1_REQUIRED = 0xd,
}

const ERROR_NAMES = [
  'NO_ERROR',
  'PROTOCOL_ERROR',
  'INTERNAL_ERROR',
  'FLOW_CONTROL_ERROR',
  'SETTINGS_TIMEOUT',
  'STREAM_CLOSED',
  'FRAME_SIZE_ERROR',
  'REFUSED_STREAM',
  'CANCEL',
  'COMPRESSION_ERROR',
  'CONNECT_ERROR',
  'ENHANCE_YOUR_CALM',
  'INADEQUATE_SECURITY',
  'HTTP_1_1_REQUIRED',
];

export function errorName(code: number): string {
  return ERROR_NAMES[code] ?? `error 0x${code.toString(16)}`;
}

export const enum Setting {
  HEADER_TABLE_SIZE = 0x1,
  ENABLE_PUSH = 0x2,
  MAX_CONCURRENT_STREAMS = 0x3,
  INITIAL_WINDOW_SIZE = 0x4,
  MAX_FRAME_SIZE = 0x5,
  MAX_HEADER_LIST_SIZE = 0x6,
}

/** Flow-control windows may never exceed 2^31-1 (RFC 9113 §6.9.1). */
export const MAX_WINDOW = 0x7fff_ffff;
export const DEFAULT_WINDOW = 65_535;
export const DEFAULT_MAX_FRAME_SIZE = 16_384;
export const MAX_ALLOWED_FRAME_SIZE = 16_777_215;

/** A connection error: the whole connection ends with GOAWAY(code). */
export class H2ConnectionError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'H2ConnectionError';
  }
}

/** A stream error: only the one stream ends, with RST_STREAM(code). */
export class H2StreamError extends Error {
  constructor(
    readonly streamId: number,
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'H2StreamError';
  }
}

/** A frame header plus payload, as one buffer ready to send. */
export function frame(type: FrameType, flags: number, streamId: number, payload?: Uint8Array): Buffer {
  const len = payload ? payload.length : 0;
  const b = Buffer.allocUnsafe(FRAME_HEADER_LEN + len);
  writeFrameHeader(b, 0, len, type, flags, streamId);
  if (payload) b.set(payload, FRAME_HEADER_LEN);
  return b;
}

export function writeFrameHeader(b: Buffer, off: number, len: number, type: FrameType, flags: number, streamId: number): void {
  b[off] = (len >>> 16) & 0xff;
  b[off + 1] = (len >>> 8) & 0xff;
  b[off + 2] = len & 0xff;
  b[off + 3] = type;
  b[off + 4] = flags;
  b.writeUInt32BE(streamId & 0x7fff_ffff, off + 5);
}

export function settingsFrame(settings: ReadonlyArray<readonly [Setting, number]>): Buffer {
  const p = Buffer.allocUnsafe(6 * settings.length);
  settings.forEach(([id, v], i) => {
    p.writeUInt16BE(id, 6 * i);
    p.writeUInt32BE(v, 6 * i + 2);
  });
  return frame(FrameType.SETTINGS, 0, 0, p);
}

export function windowUpdateFrame(streamId: number, increment: number): Buffer {
  const p = Buffer.allocUnsafe(4);
  p.writeUInt32BE(increment, 0);
  return frame(FrameType.WINDOW_UPDATE, 0, streamId, p);
}

export function rstStreamFrame(streamId: number, code: ErrorCode): Buffer {
  const p = Buffer.allocUnsafe(4);
  p.writeUInt32BE(code, 0);
  return frame(FrameType.RST_STREAM, 0, streamId, p);
}

export function goawayFrame(lastStreamId: number, code: ErrorCode, debug: string): Buffer {
  const d = Buffer.from(debug.slice(0, 256), 'utf8');
  const p = Buffer.allocUnsafe(8 + d.length);
  p.writeUInt32BE(lastStreamId & 0x7fff_ffff, 0);
  p.writeUInt32BE(code, 4);
  d.copy(p, 8);
  return frame(FrameType.GOAWAY, 0, 0, p);
}

/** The peer's SETTINGS that change how we send; absent fields were not in the frame. */
export interface PeerSettings {
  headerTableSize?: number;
  maxConcurrentStreams?: number;
  initialWindowSize?: number;
  maxFrameSize?: number;
}

/**
 * Validates a SETTINGS frame (RFC 9113 §6.5) the same way for both ends. Returns null for
 * an ACK. ENABLE_PUSH may be 0 or 1 from either side: neither end here ever pushes.
 */
export function parseSettings(flags: number, streamId: number, p: Buffer): PeerSettings | null {
  if (streamId !== 0) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, 'SETTINGS on a stream');
  if (flags & Flag.ACK) {
    if (p.length !== 0) throw new H2ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS ACK with a payload');
    return null;
  }
  if (p.length % 6 !== 0) throw new H2ConnectionError(ErrorCode.FRAME_SIZE_ERROR, `SETTINGS payload of ${p.length} bytes is not a multiple of 6`);
  const out: PeerSettings = {};
  for (let i = 0; i < p.length; i += 6) {
    const id = p.readUInt16BE(i);
    const v = p.readUInt32BE(i + 2);
    switch (id) {
      case Setting.HEADER_TABLE_SIZE:
        out.headerTableSize = v;
        break;
      case Setting.ENABLE_PUSH:
        if (v > 1) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, `SETTINGS_ENABLE_PUSH must be 0 or 1, got ${v}`);
        break;
      case Setting.MAX_CONCURRENT_STREAMS:
        out.maxConcurrentStreams = v;
        break;
      case Setting.INITIAL_WINDOW_SIZE:
        if (v > MAX_WINDOW) throw new H2ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, `SETTINGS_INITIAL_WINDOW_SIZE ${v} above 2^31-1`);
        out.initialWindowSize = v;
        break;
      case Setting.MAX_FRAME_SIZE:
        if (v < DEFAULT_MAX_FRAME_SIZE || v > MAX_ALLOWED_FRAME_SIZE) {
          throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, `SETTINGS_MAX_FRAME_SIZE ${v} outside ${DEFAULT_MAX_FRAME_SIZE}..${MAX_ALLOWED_FRAME_SIZE}`);
        }
        out.maxFrameSize = v;
        break;
      default:
        break; // MAX_HEADER_LIST_SIZE is advisory; unknown ids are ignored (§6.5.2)
    }
  }
  return out;
}

/** Moves every stream's send window by a change of INITIAL_WINDOW_SIZE (§6.9.2). */
export function shiftSendWindows(streams: Iterable<{ id: number; sendWindow: number }>, delta: number): void {
  for (const s of streams) {
    s.sendWindow += delta;
    if (s.sendWindow > MAX_WINDOW) throw new H2ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, `stream ${s.id} window above 2^31-1`);
  }
}
