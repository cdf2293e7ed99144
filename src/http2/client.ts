// The client side of one HTTP/2 connection (RFC 9113) over any byte transport; here, the
// plaintext of a Noise channel. Written for what a control client does: a few small
// requests, and long-lived response streams of many small DATA frames, each of which
// should cost one parse and one 'data' event.

import { EventEmitter } from 'node:events';
import type { H2Transport } from './connection.js';
import {
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW,
  ErrorCode,
  Flag,
  FRAME_HEADER_LEN,
  FrameType,
  H2ConnectionError,
  H2StreamError,
  MAX_WINDOW,
  Setting,
  parseSettings,
  shiftSendWindows,
  CLIENT_PREFACE,
  errorName,
  frame,
  goawayFrame,
  rstStreamFrame,
  settingsFrame,
  windowUpdateFrame,
  writeFrameHeader,
} from './frames.js';
import { HpackDecoder, HpackEncoder, HpackError, type HeaderField } from './hpack.js';

export interface H2ClientOptions {
  /** Our receive window per stream (SETTINGS_INITIAL_WINDOW_SIZE). Default 4 MiB, as Go's Transport. */
  streamWindow?: number;
  /** Our receive window for the whole connection. Default 1 GiB, as Go's Transport. */
  connectionWindow?: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE we advertise and enforce on responses. Default 1 MiB. */
  maxHeaderListSize?: number;
  /** Protocol errors that end the connection (ours or the server's GOAWAY), for debug logs. */
  onError?(err: Error): void;
}

export interface H2ClientRequest {
  method: string;
  /** The :path pseudo-header, query included. */
  path: string;
  authority: string;
  /** Default "http". */
  scheme?: string;
  /** Regular header fields; names are lower-cased. content-length is added for a body. */
  headers?: Readonly<Record<string, string>>;
}

export interface H2ClientStreamEvents {
  /** The final response's headers arrived (1xx informational responses are skipped). */
  response: [status: number, headers: Record<string, string>];
  data: [chunk: Buffer];
  trailers: [headers: Record<string, string>];
  /** The server finished the response (END_STREAM). */
  end: [];
  /** The server reset the stream, or the connection failed; always followed by 'close'. */
  error: [err: Error];
  /** Exactly once: null after a normal end, else the RST_STREAM code (ours or the server's). */
  close: [code: ErrorCode | null];
}

export interface H2ClientConnectionEvents {
  /** The server's first SETTINGS arrived; requests start to leave from here on. */
  connect: [];
  goaway: [code: ErrorCode, lastStreamId: number, debug: string];
  /** The connection is over: we ended it (close(), GOAWAY, a protocol error) or the transport closed. err is null for an orderly end. */
  close: [err: Error | null];
}

export type PingCallback = (err: Error | null, durationMs: number) => void;

const DEFAULT_STREAM_WINDOW = 4 << 20;
const DEFAULT_CONNECTION_WINDOW = 1 << 30;
/** Streams a server allows before its SETTINGS say otherwise (RFC 9113 §6.5.2 sets no limit; 100 is the recommended minimum). */
const INITIAL_MAX_STREAMS = 100;
const MAX_STREAM_ID = 0x7fff_ffff;
/** A header block (HEADERS + CONTINUATION) may not grow beyond this before decoding. */
const MAX_HEADER_BLOCK = 1 << 20;
const MAX_OUTSTANDING_PINGS = 8;
/** Ping payloads start with this tag; the second word is a sequence number. */
const PING_TAG = 0x5342_4331; // "SBC1"
/** Headers that only make sense hop-by-hop in HTTP/1.1 and are malformed in HTTP/2 (RFC 9113 §8.2.2). */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
const BAD_VALUE = /[\0\r\n]|[^\0-\xff]/;

/** What a stream needs from its connection. */
interface ClientStreamHost {
  cancelStream(s: H2ClientStream, code: ErrorCode): void;
}

/**
 * One request and its response. The fields below the events are the connection's
 * bookkeeping; read them, don't set them.
 */
export class H2ClientStream extends EventEmitter<H2ClientStreamEvents> {
  /** 0 while the request waits for the server's SETTINGS or a free stream slot. */
  id = 0;
  /** The final response status, 0 until it arrives. */
  status = 0;
  responseHeaders: Record<string, string> | null = null;
  /** Why the stream failed, if it did ('error' is only emitted when someone listens). */
  error: Error | null = null;
  closed = false;
  // ---- owned by the connection ----
  body: Buffer | null;
  bodyOffset = 0;
  /** Bytes we may still send; can go negative after a SETTINGS change (RFC 9113 §6.9.2). */
  sendWindow = 0;
  /** Bytes the server may still send us before we give window back. */
  recvWindow = 0;
  /** Bytes delivered but not yet given back as window. */
  recvUnacked = 0;
  localClosed = false;
  remoteClosed = false;

  constructor(
    private readonly host: ClientStreamHost,
    readonly request: Readonly<H2ClientRequest>,
    body: Buffer | null,
  ) {
    super();
    this.body = body;
  }

  /** Abandons the stream: RST_STREAM(code) if the request left, else it never will. 'close' follows, no 'error'. */
  close(code: ErrorCode = ErrorCode.CANCEL): void {
    if (!this.closed) this.host.cancelStream(this, code);
  }
}

export class H2ClientConnection extends EventEmitter<H2ClientConnectionEvents> implements ClientStreamHost {
  readonly #t: H2Transport;
  readonly #onError: ((err: Error) => void) | undefined;
  readonly #streamWindow: number;
  readonly #connWindow: number;
  readonly #decoder: HpackDecoder;
  readonly #encoder = new HpackEncoder();
  readonly #streams = new Map<number, H2ClientStream>();
  /** Requests not yet sent, oldest first from #waitHead (cancelled ones stay, marked closed). */
  #waiting: H2ClientStream[] = [];
  #waitHead = 0;
  /** Streams with body queued, waiting for connection-level window. */
  readonly #blocked = new Set<H2ClientStream>();
  #nextStreamId = 1;
  // Unparsed input: chunks kept as they came until #rxNeed bytes are there, then joined once.
  #rxParts: Buffer[] = [];
  #rxBytes = 0;
  #rxNeed = 0;
  #settingsSeen = false;
  /** Stream whose header block is still arriving in CONTINUATION frames. */
  #headerStream = 0;
  #headerFlags = 0;
  #headerChunks: Buffer[] = [];
  #headerBytes = 0;
  // Server's settings that govern what we send.
  #peerInitialWindow = DEFAULT_WINDOW;
  #peerMaxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  #peerMaxStreams = INITIAL_MAX_STREAMS;
  #connSendWindow = DEFAULT_WINDOW;
  #connRecvWindow: number;
  #connRecvUnacked = 0;
  /** The server's GOAWAY, once received. */
  #goaway: { code: ErrorCode; lastStreamId: number; debug: string } | null = null;
  /** close() was called: no new requests; GOAWAY once the open ones finish. */
  #draining = false;
  /** We sent GOAWAY or gave up on the connection: nothing more is parsed. */
  #stopped = false;
  #ended = false;
  #closed = false;
  #failure: Error | null = null;
  #out: Buffer[] = [];
  #outBytes = 0;
  #flushScheduled = false;
  readonly #flush = () => this.#flushNow();
  #pingSeq = 0;
  readonly #pings = new Map<number, { cb: PingCallback; sent: number }>();

  constructor(transport: H2Transport, opts: H2ClientOptions = {}) {
    super();
    this.#t = transport;
    this.#onError = opts.onError;
    this.#streamWindow = checkWindow('streamWindow', opts.streamWindow ?? DEFAULT_STREAM_WINDOW);
    this.#connWindow = Math.max(DEFAULT_WINDOW, checkWindow('connectionWindow', opts.connectionWindow ?? DEFAULT_CONNECTION_WINDOW));
    this.#connRecvWindow = this.#connWindow;
    const maxHeaderListSize = opts.maxHeaderListSize ?? 1 << 20;
    this.#decoder = new HpackDecoder({ maxHeaderListSize });
    // The client preface, then what Go's Transport sends: no push, big windows.
    this.#queue(CLIENT_PREFACE);
    this.#queue(
      settingsFrame([
        [Setting.ENABLE_PUSH, 0],
        [Setting.INITIAL_WINDOW_SIZE, this.#streamWindow],
        [Setting.MAX_HEADER_LIST_SIZE, maxHeaderListSize],
      ]),
    );
    if (this.#connWindow > DEFAULT_WINDOW) this.#queue(windowUpdateFrame(0, this.#connWindow - DEFAULT_WINDOW));
  }

  /** The server's SETTINGS arrived. */
  get connected(): boolean {
    return this.#settingsSeen;
  }

  /** No new request can succeed: closing, GOAWAY received, failed or closed. */
  get draining(): boolean {
    return this.#draining || this.#goaway !== null || this.#stopped || this.#closed;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Streams sent and not yet finished. */
  get streamCount(): number {
    return this.#streams.size;
  }

  /** Requests waiting for a stream slot or the server's SETTINGS. */
  get queuedCount(): number {
    let n = 0;
    for (let i = this.#waitHead; i < this.#waiting.length; i++) if (!this.#waiting[i]!.closed) n++;
    return n;
  }

  /**
   * Starts a request. It leaves at once when the server's limits allow, else it waits for a
   * slot. Throws TypeError for header names or values HTTP/2 cannot carry.
   */
  request(req: H2ClientRequest, body?: Buffer): H2ClientStream {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers ?? {})) {
      const name = k.toLowerCase();
      if (!TOKEN.test(name)) throw new TypeError(`invalid header name ${JSON.stringify(k)}`);
      if (CONNECTION_SPECIFIC.has(name)) throw new TypeError(`connection-specific header ${name} is not allowed in HTTP/2`);
      if (BAD_VALUE.test(v)) throw new TypeError(`invalid value for header ${name}`);
      headers[name] = v;
    }
    for (const [what, v] of [['method', req.method], ['path', req.path], ['authority', req.authority], ['scheme', req.scheme ?? 'http']] as const) {
      if (BAD_VALUE.test(v)) throw new TypeError(`invalid ${what} ${JSON.stringify(v)}`);
    }
    if (req.method === '' || req.path === '') throw new TypeError('a request needs a method and a path');
    if (body !== undefined && headers['content-length'] === undefined) headers['content-length'] = String(body.length);
    const s = new H2ClientStream(this, { ...req, headers }, body !== undefined && body.length > 0 ? body : null);
    const refusal = this.#refusal();
    if (refusal) {
      // Failed later, so the caller can attach its listeners first.
      process.nextTick(() => this.#finish(s, ErrorCode.REFUSED_STREAM, refusal));
      return s;
    }
    this.#waiting.push(s);
    this.#openWaiting();
    return s;
  }

  /**
   * Sends a PING; `cb` gets null and the round trip when the server acknowledges it, or an
   * error if the connection closes first. Returns false (and never calls cb) when too many
   * are unanswered or the connection is closing.
   */
  ping(cb: PingCallback): boolean {
    if (this.#stopped || this.#closed || this.#pings.size >= MAX_OUTSTANDING_PINGS) return false;
    const payload = Buffer.allocUnsafe(8);
    const seq = ++this.#pingSeq >>> 0;
    payload.writeUInt32BE(PING_TAG, 0);
    payload.writeUInt32BE(seq, 4);
    this.#pings.set(seq, { cb, sent: performance.now() });
    this.#queue(frame(FrameType.PING, 0, 0, payload));
    return true;
  }

  /** Graceful end: no new requests; once the sent and waiting ones finish, GOAWAY and the transport ends. */
  close(): void {
    this.#draining = true;
    this.#maybeEnd();
  }

  /** Immediate end: the transport is destroyed, every stream fails with `err` (or "connection destroyed"). */
  destroy(err?: Error): void {
    if (this.#closed) return;
    this.#stopped = true;
    this.#t.destroy(err);
    this.transportClosed(err);
  }

  /** Feeds bytes read from the transport. */
  receive(chunk: Buffer): void {
    if (this.#stopped || this.#closed || chunk.length === 0) return;
    let buf = chunk;
    if (this.#rxBytes > 0) {
      this.#rxParts.push(chunk);
      this.#rxBytes += chunk.length;
      if (this.#rxBytes < this.#rxNeed) return;
      buf = Buffer.concat(this.#rxParts, this.#rxBytes);
      this.#rxParts = [];
      this.#rxBytes = 0;
    }
    try {
      this.#parse(buf);
    } catch (err) {
      this.#fail(err as Error);
    }
  }

  /** The transport ended or closed: every stream still open is over. */
  transportClosed(err?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopped = true;
    const g = this.#goaway;
    const reason =
      err ??
      this.#failure ??
      (g && g.code !== ErrorCode.NO_ERROR ? new H2ConnectionError(g.code, `server sent GOAWAY ${errorName(g.code)}: ${g.debug}`) : null);
    const streamErr = reason ?? new Error(g ? `connection closed after the server's GOAWAY (${g.debug || 'no reason given'})` : 'connection closed');
    this.#failAll(streamErr);
    this.#out = [];
    this.#outBytes = 0;
    this.#rxParts = [];
    this.#rxBytes = 0;
    this.emit('close', reason);
  }

  // ---- ClientStreamHost ---------------------------------------------------------------

  cancelStream(s: H2ClientStream, code: ErrorCode): void {
    if (s.closed) return;
    if (s.id !== 0 && !this.#stopped && !this.#closed) this.#queue(rstStreamFrame(s.id, code));
    this.#finish(s, code, null);
  }

  // ---- sending ------------------------------------------------------------------------

  #queue(b: Buffer): void {
    this.#out.push(b);
    this.#outBytes += b.length;
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      // Everything produced in one turn (requests, acks, window updates) leaves as one write.
      queueMicrotask(this.#flush);
    }
  }

  #flushNow(): void {
    this.#flushScheduled = false;
    if (this.#out.length === 0) return;
    if (this.#closed || this.#ended) {
      // Too late to send (e.g. a PING ack after we ended our side).
      this.#out = [];
      this.#outBytes = 0;
      return;
    }
    const data = this.#out.length === 1 ? this.#out[0]! : Buffer.concat(this.#out, this.#outBytes);
    this.#out = [];
    this.#outBytes = 0;
    this.#t.write(data);
  }

  /**
   * We are done with the connection: the bytes queued go out, the transport ends, and the
   * connection counts as closed now. Some servers (node:http2) never close their side after
   * our FIN; the transport's owner bounds that.
   */
  #endTransport(): void {
    this.#flushNow();
    if (this.#ended || this.#closed) return;
    this.#ended = true;
    this.#t.end();
    this.transportClosed();
  }

  /** Why a new request cannot be sent, or null. */
  #refusal(): Error | null {
    if (this.#failure) return new Error(`connection failed: ${this.#failure.message}`);
    if (this.#closed || this.#stopped) return new Error('connection closed');
    if (this.#goaway) return new Error(`connection is going away (server sent GOAWAY ${errorName(this.#goaway.code)}: ${this.#goaway.debug || 'no reason given'})`);
    if (this.#draining) return new Error('connection is closing');
    return null;
  }

  /** Sends waiting requests while the server's concurrency limit allows. */
  #openWaiting(): void {
    const q = this.#waiting;
    while (this.#waitHead < q.length && this.#settingsSeen && !this.#stopped && this.#goaway === null && this.#streams.size < this.#peerMaxStreams) {
      const s = q[this.#waitHead]!;
      q[this.#waitHead++] = undefined as unknown as H2ClientStream;
      if (!s.closed) this.#open(s);
    }
    if (this.#waitHead === q.length) {
      this.#waiting = [];
      this.#waitHead = 0;
    } else if (this.#waitHead > 1024) {
      this.#waiting = q.slice(this.#waitHead);
      this.#waitHead = 0;
    }
  }

  #open(s: H2ClientStream): void {
    if (this.#nextStreamId > MAX_STREAM_ID) {
      // Ids ran out: this connection can do no more; the caller needs a new one.
      this.#draining = true;
      this.#finish(s, ErrorCode.REFUSED_STREAM, new Error('stream ids exhausted on this connection'));
      this.#maybeEnd();
      return;
    }
    const r = s.request;
    const fields: HeaderField[] = [
      [':method', r.method],
      [':scheme', r.scheme ?? 'http'],
      [':authority', r.authority],
      [':path', r.path],
    ];
    for (const [k, v] of Object.entries(r.headers ?? {})) fields.push([k, v]);
    // Encoded only now, when it is sent: HPACK blocks must reach the server in encoding order.
    const block = this.#encoder.encode(fields);
    s.id = this.#nextStreamId;
    this.#nextStreamId += 2;
    s.sendWindow = this.#peerInitialWindow;
    s.recvWindow = this.#streamWindow;
    this.#streams.set(s.id, s);
    const endStream = s.body === null;
    const max = this.#peerMaxFrameSize;
    let off = 0;
    let first = true;
    do {
      const piece = block.subarray(off, off + max);
      off += piece.length;
      const flags = (off >= block.length ? Flag.END_HEADERS : 0) | (first && endStream ? Flag.END_STREAM : 0);
      this.#queue(frame(first ? FrameType.HEADERS : FrameType.CONTINUATION, flags, s.id, piece));
      first = false;
    } while (off < block.length);
    if (endStream) s.localClosed = true;
    else this.#pump(s);
  }

  /** Sends as much of the stream's body as the windows allow. */
  #pump(s: H2ClientStream): void {
    const body = s.body;
    if (body === null || s.closed) return;
    const max = this.#peerMaxFrameSize;
    while (s.bodyOffset < body.length) {
      const allowed = Math.min(s.sendWindow, this.#connSendWindow, max);
      if (allowed <= 0) {
        if (this.#connSendWindow <= 0 && s.sendWindow > 0) this.#blocked.add(s);
        return;
      }
      const n = Math.min(body.length - s.bodyOffset, allowed);
      const last = s.bodyOffset + n === body.length;
      // Header and payload in one buffer: the transport seals it as one record.
      const f = Buffer.allocUnsafe(FRAME_HEADER_LEN + n);
      writeFrameHeader(f, 0, n, FrameType.DATA, last ? Flag.END_STREAM : 0, s.id);
      body.copy(f, FRAME_HEADER_LEN, s.bodyOffset, s.bodyOffset + n);
      this.#queue(f);
      s.sendWindow -= n;
      this.#connSendWindow -= n;
      s.bodyOffset += n;
    }
    this.#blocked.delete(s);
    s.body = null;
    s.localClosed = true;
    if (s.remoteClosed) this.#finish(s, null, null);
  }

  /** The stream is gone: 'error' (if any, and if anyone listens), then 'close'. */
  #finish(s: H2ClientStream, code: ErrorCode | null, err: Error | null): void {
    if (s.closed) return;
    s.closed = true;
    s.body = null;
    if (s.id !== 0 && this.#streams.get(s.id) === s) this.#streams.delete(s.id);
    this.#blocked.delete(s);
    if (err) {
      s.error = err;
      // An unheard 'error' would throw out of the parser; the error stays on s.error and 'close' has the code.
      if (s.listenerCount('error') > 0) s.emit('error', err);
    }
    s.emit('close', code);
    if (!this.#stopped) {
      this.#openWaiting();
      this.#maybeEnd();
    }
  }

  /** Ends the transport once closing and nothing is left to wait for. */
  #maybeEnd(): void {
    if (this.#stopped || this.#closed || this.#streams.size > 0) return;
    if (this.#goaway) {
      this.#endTransport();
      return;
    }
    if (!this.#draining || this.queuedCount > 0) return;
    this.#stopped = true;
    this.#queue(goawayFrame(0, ErrorCode.NO_ERROR, 'client closing'));
    this.#endTransport();
  }

  #fail(err: Error): void {
    if (this.#stopped) return;
    this.#onError?.(err);
    this.#failure = err;
    this.#stopped = true;
    const code = err instanceof H2ConnectionError ? err.code : ErrorCode.INTERNAL_ERROR;
    // A non-protocol error here is a bug (ours or a listener's): say only that much to the server.
    this.#queue(goawayFrame(0, code, err instanceof H2ConnectionError ? err.message : 'internal error'));
    this.#endTransport();
    this.#failAll(err);
  }

  /** Fails every stream, waiting request and ping with `err`. */
  #failAll(err: Error): void {
    const code = err instanceof H2ConnectionError ? err.code : ErrorCode.CANCEL;
    const streams = [...this.#streams.values()];
    const waiting = this.#waiting.slice(this.#waitHead);
    this.#waiting = [];
    this.#waitHead = 0;
    for (const s of streams) this.#finish(s, code, err);
    for (const s of waiting) this.#finish(s, ErrorCode.REFUSED_STREAM, err);
    const pings = [...this.#pings.values()];
    this.#pings.clear();
    for (const p of pings) p.cb(err, 0);
  }

  // ---- receiving ----------------------------------------------------------------------

  #parse(buf: Buffer): void {
    const end = buf.length;
    let off = 0;
    let need = 0;
    while (!this.#stopped) {
      const left = end - off;
      if (left < FRAME_HEADER_LEN) {
        need = FRAME_HEADER_LEN;
        break;
      }
      const len = (buf[off]! << 16) | (buf[off + 1]! << 8) | buf[off + 2]!;
      const type = buf[off + 3]!;
      const flags = buf[off + 4]!;
      if (!this.#settingsSeen && (type !== FrameType.SETTINGS || flags & Flag.ACK)) {
        throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, badPreface(buf.subarray(off, off + FRAME_HEADER_LEN)));
      }
      // We never raise SETTINGS_MAX_FRAME_SIZE above the default.
      if (len > DEFAULT_MAX_FRAME_SIZE) {
        throw new H2ConnectionError(ErrorCode.FRAME_SIZE_ERROR, `frame of ${len} bytes exceeds SETTINGS_MAX_FRAME_SIZE ${DEFAULT_MAX_FRAME_SIZE}`);
      }
      if (left < FRAME_HEADER_LEN + len) {
        need = FRAME_HEADER_LEN + len;
        break;
      }
      const streamId = buf.readUInt32BE(off + 5) & 0x7fff_ffff;
      const payload = buf.subarray(off + FRAME_HEADER_LEN, off + FRAME_HEADER_LEN + len);
      off += FRAME_HEADER_LEN + len;
      try {
        if (type === FrameType.DATA && this.#headerStream === 0) this.#onData(flags, streamId, payload);
        else this.#onFrame(type, flags, streamId, payload);
      } catch (err) {
        if (!(err instanceof H2StreamError)) throw err;
        const s = this.#streams.get(err.streamId);
        if (s) {
          this.#queue(rstStreamFrame(err.streamId, err.code));
          this.#finish(s, err.code, err);
        } else this.#queue(rstStreamFrame(err.streamId, err.code));
      }
    }
    if (this.#stopped || off >= end) return;
    // Keep the tail; copied when it is a small end of a big chunk, so the chunk can be freed.
    this.#rxParts = [off === 0 ? buf : Buffer.from(buf.subarray(off))];
    this.#rxBytes = end - off;
    this.#rxNeed = need;
  }

  #onFrame(type: number, flags: number, streamId: number, p: Buffer): void {
    if (this.#headerStream !== 0 && type !== FrameType.CONTINUATION) {
      throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, `expected CONTINUATION for stream ${this.#headerStream}, got frame type ${type}`);
    }
    switch (type) {
      case FrameType.DATA:
        return this.#onData(flags, streamId, p);
      case FrameType.HEADERS:
        return this.#onHeaders(flags, streamId, p);
      case FrameType.PRIORITY:
        if (streamId === 0) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, 'PRIORITY on stream 0');
        if (p.length !== 5) throw new H2StreamError(streamId, ErrorCode.FRAME_SIZE_ERROR, 'PRIORITY payload must be 5 bytes');
        return; // advisory, and meaningless to a client
      case FrameType.RST_STREAM:
        return this.#onRstStream(streamId, p);
      case FrameType.SETTINGS:
        return this.#onSettings(flags, streamId, p);
      case FrameType.PUSH_PROMISE:
        throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, `server sent PUSH_PROMISE on stream ${streamId}, but push is disabled (SETTINGS_ENABLE_PUSH=0)`);
      case FrameType.PING:
        return this.#onPing(flags, streamId, p);
      case FrameType.GOAWAY:
        return this.#onGoaway(streamId, p);
      case FrameType.WINDOW_UPDATE:
        return this.#onWindowUpdate(streamId, p);
      case FrameType.CONTINUATION:
        return this.#onContinuation(flags, streamId, p);
      default:
        return; // unknown frame types are ignored (RFC 9113 §4.1)
    }
  }

  /** A stream id that was never opened: even (push is off, the server opens none) or beyond our last. */
  #isIdle(streamId: number): boolean {
    return streamId % 2 === 0 || streamId >= this.#nextStreamId;
  }

  /** The frame's content without its pad length byte and padding. */
  #unpad(flags: number, streamId: number, p: Buffer, what: string): Buffer {
    if (!(flags & Flag.PADDED)) return p;
    if (p.length < 1) throw new H2ConnectionError(ErrorCode.FRAME_SIZE_ERROR, `padded ${what} frame on stream ${streamId} has no pad length`);
    const pad = p[0]!;
    if (pad > p.length - 1) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, `${what} padding on stream ${streamId} longer than the frame`);
    return p.subarray(1, p.length - pad);
  }

  #onData(flags: number, streamId: number, raw: Buffer): void {
    if (streamId === 0) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, 'DATA on stream 0');
    const s = this.#streams.get(streamId);
    if (s === undefined && this.#isIdle(streamId)) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, `DATA on idle stream ${streamId}`);
    // Flow control counts the whole frame, padding included, delivered or not.
    const n = raw.length;
    if (n > 0) {
      if (n > this.#connRecvWindow) throw new H2ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'DATA beyond the connection flow-control window');
      this.#connRecvWindow -= n;
      this.#connRecvUnacked += n;
      // Data is handed on (or dropped) at once, so the window comes back in bulk as it is used.
      if (this.#connRecvUnacked >= this.#connWindow >>> 1) {
        this.#queue(windowUpdateFrame(0, this.#connRecvUnacked));
        this.#connRecvWindow += this.#connRecvUnacked;
        this.#connRecvUnacked = 0;
      }
    }
    if (s === undefined) return; // late data for a stream we finished or reset
    if (s.remoteClosed) throw new H2StreamError(streamId, ErrorCode.STREAM_CLOSED, `DATA after END_STREAM on stream ${streamId}`);
    if (s.status === 0) throw new H2StreamError(streamId, ErrorCode.PROTOCOL_ERROR, `DATA before the response HEADERS on stream ${streamId}`);
    if (n > s.recvWindow) throw new H2StreamError(streamId, ErrorCode.FLOW_CONTROL_ERROR, `DATA of ${n} bytes beyond stream ${streamId}'s window`);
    s.recvWindow -= n;
    const data = flags & Flag.PADDED ? this.#unpad(flags, streamId, raw, 'DATA') : raw;
    if (data.length > 0) s.emit('data', data);
    if (flags & Flag.END_STREAM) {
      if (!s.closed) this.#remoteEnd(s);
      return;
    }
    if (s.closed) return;
    s.recvUnacked += n;
    if (s.recvUnacked >= this.#streamWindow >>> 1) {
      this.#queue(windowUpdateFrame(streamId, s.recvUnacked));
      s.recvWindow += s.recvUnacked;
      s.recvUnacked = 0;
    }
  }

  #remoteEnd(s: H2ClientStream): void {
    s.remoteClosed = true;
    s.emit('end');
    // A response that ends while the body is still going out leaves the stream open
    // until the body is sent, or the server resets the stream (RFC 9113 §8.1).
    if (s.localClosed) this.#finish(s, null, null);
  }

  #onHeaders(flags: number, streamId: number, raw: Buffer): void {
    if (streamId === 0) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, 'HEADERS on stream 0');
    let p = this.#unpad(flags, streamId, raw, 'HEADERS');
    if (flags & Flag.PRIORITY) {
      if (p.length < 5) throw new H2ConnectionError(ErrorCode.FRAME_SIZE_ERROR, `HEADERS on stream ${streamId} too short for its priority fields`);
      p = p.subarray(5);
    }
    if (flags & Flag.END_HEADERS) {
      this.#headerBlockDone(streamId, flags, p);
      return;
    }
    this.#headerStream = streamId;
    this.#headerFlags = flags;
    this.#headerChunks = [p];
    this.#headerBytes = p.length;
  }

  #onContinuation(flags: number, streamId: number, p: Buffer): void {
    if (this.#headerStream === 0 || streamId !== this.#headerStream) {
      throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, `unexpected CONTINUATION on stream ${streamId}`);
    }
    this.#headerBytes += p.length;
    if (this.#headerBytes > MAX_HEADER_BLOCK) {
      throw new H2ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, `header block larger than ${MAX_HEADER_BLOCK} bytes`);
    }
    this.#headerChunks.push(p);
    if (!(flags & Flag.END_HEADERS)) return;
    const block = Buffer.concat(this.#headerChunks, this.#headerBytes);
    this.#headerStream = 0;
    this.#headerChunks = [];
    this.#headerBytes = 0;
    this.#headerBlockDone(streamId, this.#headerFlags, block);
  }

  #headerBlockDone(streamId: number, flags: number, block: Buffer): void {
    let fields: HeaderField[];
    try {
      // Always decoded, even for a stream we dropped: the decoder's table must stay in step.
      fields = this.#decoder.decode(block);
    } catch (err) {
      if (err instanceof HpackError) throw new H2ConnectionError(ErrorCode.COMPRESSION_ERROR, `header block on stream ${streamId}: ${err.message}`);
      throw err;
    }
    const s = this.#streams.get(streamId);
    if (s === undefined) {
      if (streamId % 2 === 0) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, `server opened stream ${streamId}; servers may not open streams without push`);
      if (this.#isIdle(streamId)) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, `HEADERS on idle stream ${streamId}`);
      return; // a response to a stream we reset
    }
    if (s.remoteClosed) throw new H2StreamError(streamId, ErrorCode.STREAM_CLOSED, `HEADERS after END_STREAM on stream ${streamId}`);
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if (s.status === 0) {
      const { status, headers } = parseHeaders(streamId, fields, false);
      if (status < 200) {
        if (endStream) throw new H2StreamError(streamId, ErrorCode.PROTOCOL_ERROR, `informational response ${status} with END_STREAM on stream ${streamId}`);
        return; // 1xx: the final response is still to come
      }
      s.status = status;
      s.responseHeaders = headers;
      s.emit('response', status, headers);
    } else {
      if (!endStream) throw new H2StreamError(streamId, ErrorCode.PROTOCOL_ERROR, `trailers without END_STREAM on stream ${streamId}`);
      s.emit('trailers', parseHeaders(streamId, fields, true).headers);
    }
    if (endStream && !s.closed) this.#remoteEnd(s);
  }

  #onRstStream(streamId: number, p: Buffer): void {
    if (streamId === 0) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
    if (p.length !== 4) throw new H2ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'RST_STREAM payload must be 4 bytes');
    if (this.#isIdle(streamId)) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, `RST_STREAM on idle stream ${streamId}`);
    const s = this.#streams.get(streamId);
    if (!s) return;
    const code = p.readUInt32BE(0) as ErrorCode;
    // NO_ERROR after a complete response only asks us to stop sending the body.
    if (code === ErrorCode.NO_ERROR && s.remoteClosed) this.#finish(s, null, null);
    else this.#finish(s, code, new H2StreamError(streamId, code, `stream ${streamId} reset by the server: ${errorName(code)}`));
  }

  #onSettings(flags: number, streamId: number, p: Buffer): void {
    const st = parseSettings(flags, streamId, p);
    if (!st) return;
    if (st.headerTableSize !== undefined) this.#encoder.setPeerMaxTableSize(st.headerTableSize);
    if (st.maxConcurrentStreams !== undefined) this.#peerMaxStreams = st.maxConcurrentStreams;
    if (st.maxFrameSize !== undefined) this.#peerMaxFrameSize = st.maxFrameSize;
    let windowDelta = 0;
    if (st.initialWindowSize !== undefined) {
      windowDelta = st.initialWindowSize - this.#peerInitialWindow;
      this.#peerInitialWindow = st.initialWindowSize;
    }
    this.#queue(frame(FrameType.SETTINGS, Flag.ACK, 0));
    if (windowDelta !== 0) {
      shiftSendWindows(this.#streams.values(), windowDelta);
      if (windowDelta > 0) for (const s of [...this.#streams.values()]) this.#pump(s);
    }
    if (!this.#settingsSeen) {
      this.#settingsSeen = true;
      this.emit('connect');
    }
    this.#openWaiting();
  }

  #onPing(flags: number, streamId: number, p: Buffer): void {
    if (streamId !== 0) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, 'PING on a stream');
    if (p.length !== 8) throw new H2ConnectionError(ErrorCode.FRAME_SIZE_ERROR, `PING payload of ${p.length} bytes, want 8`);
    if (!(flags & Flag.ACK)) {
      this.#queue(frame(FrameType.PING, Flag.ACK, 0, p));
      return;
    }
    if (p.readUInt32BE(0) !== PING_TAG) return;
    const seq = p.readUInt32BE(4);
    const entry = this.#pings.get(seq);
    if (!entry) return;
    this.#pings.delete(seq);
    entry.cb(null, performance.now() - entry.sent);
  }

  #onGoaway(streamId: number, p: Buffer): void {
    if (streamId !== 0) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, 'GOAWAY on a stream');
    if (p.length < 8) throw new H2ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'GOAWAY payload shorter than 8 bytes');
    const code = p.readUInt32BE(4) as ErrorCode;
    // A later GOAWAY may only lower the last stream id.
    const lastStreamId = Math.min(p.readUInt32BE(0) & 0x7fff_ffff, this.#goaway?.lastStreamId ?? MAX_STREAM_ID);
    const debug = p.subarray(8).toString('utf8');
    this.#goaway = { code, lastStreamId, debug };
    if (code !== ErrorCode.NO_ERROR) this.#onError?.(new H2ConnectionError(code, `server sent GOAWAY ${errorName(code)}: ${debug}`));
    this.emit('goaway', code, lastStreamId, debug);
    const why = `server sent GOAWAY ${errorName(code)} with last stream ${lastStreamId}${debug ? ` (${JSON.stringify(debug)})` : ''}`;
    const waiting = this.#waiting.slice(this.#waitHead);
    this.#waiting = [];
    this.#waitHead = 0;
    for (const s of waiting) this.#finish(s, ErrorCode.REFUSED_STREAM, new Error(`${why}; the request was not sent`));
    // Streams above the last id were never processed: safe to retry on a new connection.
    for (const s of [...this.#streams.values()]) {
      if (s.id > lastStreamId) this.#finish(s, ErrorCode.REFUSED_STREAM, new H2StreamError(s.id, ErrorCode.REFUSED_STREAM, `${why}; stream ${s.id} was not processed`));
    }
    this.#maybeEnd();
  }

  #onWindowUpdate(streamId: number, p: Buffer): void {
    if (p.length !== 4) throw new H2ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'WINDOW_UPDATE payload must be 4 bytes');
    const inc = p.readUInt32BE(0) & 0x7fff_ffff;
    if (streamId === 0) {
      if (inc === 0) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, 'WINDOW_UPDATE with increment 0 on the connection');
      this.#connSendWindow += inc;
      if (this.#connSendWindow > MAX_WINDOW) throw new H2ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'connection window above 2^31-1');
      for (const s of [...this.#blocked]) {
        if (this.#connSendWindow <= 0) break;
        this.#pump(s);
      }
      return;
    }
    if (this.#isIdle(streamId)) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, `WINDOW_UPDATE on idle stream ${streamId}`);
    const s = this.#streams.get(streamId);
    if (!s) return;
    if (inc === 0) throw new H2StreamError(streamId, ErrorCode.PROTOCOL_ERROR, `WINDOW_UPDATE with increment 0 on stream ${streamId}`);
    s.sendWindow += inc;
    if (s.sendWindow > MAX_WINDOW) throw new H2StreamError(streamId, ErrorCode.FLOW_CONTROL_ERROR, `stream ${streamId} window above 2^31-1`);
    this.#pump(s);
  }
}

function checkWindow(what: string, n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > MAX_WINDOW) throw new RangeError(`${what} must be an integer in 1..2^31-1, got ${n}`);
  return n;
}

/** Names what the server sent instead of its SETTINGS frame. */
function badPreface(head: Buffer): string {
  const text = head.toString('latin1');
  if (text.startsWith('HTTP/1.')) return `server answered in HTTP/1.x (${JSON.stringify(text)}...), not HTTP/2`;
  return `the server's first frame must be SETTINGS, got frame type ${head[3]} with flags 0x${head[4]!.toString(16)}`;
}

/** Checks a response's (or trailers') header list (RFC 9113 §8.3.2) and pulls out :status. */
function parseHeaders(streamId: number, fields: readonly HeaderField[], trailers: boolean): { status: number; headers: Record<string, string> } {
  const bad = (msg: string) => new H2StreamError(streamId, ErrorCode.PROTOCOL_ERROR, `malformed ${trailers ? 'trailers' : 'response'} on stream ${streamId}: ${msg}`);
  let status = -1;
  let regularSeen = false;
  const headers: Record<string, string> = {};
  for (const [name, value] of fields) {
    if (name.startsWith(':')) {
      if (trailers) throw bad(`pseudo-header ${name}`);
      if (name !== ':status') throw bad(`pseudo-header ${name} in a response`);
      if (regularSeen) throw bad(':status after regular headers');
      if (status !== -1) throw bad('repeated :status');
      if (!/^[1-9]\d\d$/.test(value) || value === '101') throw bad(`invalid :status ${JSON.stringify(value)}`);
      status = Number(value);
      continue;
    }
    regularSeen = true;
    if (name !== name.toLowerCase()) throw bad(`header name ${JSON.stringify(name)} is not lowercase`);
    if (CONNECTION_SPECIFIC.has(name)) throw bad(`connection-specific header ${name}`);
    const prev = headers[name];
    headers[name] = prev === undefined ? value : prev + ', ' + value;
  }
  if (!trailers && status === -1) throw bad('missing :status');
  return { status, headers };
}
