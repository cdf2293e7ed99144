// The server side of one HTTP/2 connection (RFC 9113) over any byte transport; here,
// the plaintext of a Noise channel. Written for the control protocol's traffic: small
// request bodies read whole, and long-lived response streams that carry many small
// frames, each of which should cost one record and one write.

import {
  CLIENT_PREFACE,
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
  errorName,
  frame,
  goawayFrame,
  rstStreamFrame,
  settingsFrame,
  windowUpdateFrame,
  writeFrameHeader,
} from './frames.js';
import { HpackDecoder, HpackEncoder, HpackError, type HeaderField } from './hpack.js';
import { H2Stream, type H2Request, type StreamHost } from './stream.js';

export interface H2Transport {
  /** Sends bytes; false when the transport is buffering them. */
  write(data: Buffer): boolean;
  /** Bytes accepted but not yet handed to the kernel. */
  buffered(): number;
  /** Ends the transport once what was written has gone out. */
  end(): void;
  destroy(err?: Error): void;
  /** Stops and restarts reading the peer's input (backpressure); optional. */
  pauseInput?(): void;
  resumeInput?(): void;
}

export interface H2ConnectionOptions {
  /** Called once a request's headers and whole body have arrived. */
  onRequest(stream: H2Stream): void;
  /** Streams the peer may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS). Default 100. */
  maxConcurrentStreams?: number;
  /** Largest request body; a larger one gets 413. Default 1 MiB. */
  maxBodyBytes?: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE we advertise and enforce. Default 64 KiB. */
  maxHeaderListSize?: number;
  /** Protocol errors that end the connection, for debug logs. */
  onError?(err: Error): void;
  /** Request-body bytes this connection may hold buffered across its streams. Default 4 MiB. */
  maxBufferedBodyBytes?: number;
  /** Shared by every connection of a server: request-body bytes buffered server-wide. */
  bodyBudget?: BodyBudget;
  /** A request body that gets no DATA for this long is reset with CANCEL. Default 30 s. */
  streamIdleTimeoutMs?: number;
  /** PING, SETTINGS, RST_STREAM and empty frames the peer may send per second. Default 1000. */
  maxControlFramesPerSecond?: number;
}

/** Request-body bytes buffered across all connections of one server, against one limit. */
export class BodyBudget {
  used = 0;
  constructor(readonly limit: number) {}
  take(n: number): boolean {
    if (this.used + n > this.limit) return false;
    this.used += n;
    return true;
  }
  release(n: number): void {
    this.used = Math.max(0, this.used - n);
  }
}

/** Our receive window for request bodies on one stream, and for the whole connection. */
const STREAM_RECV_WINDOW = 1 << 20;
const CONN_RECV_WINDOW = 16 << 20;
/** A header block (HEADERS + CONTINUATION) may not grow beyond this before decoding. */
const MAX_HEADER_BLOCK = 256 * 1024;
/** Unanswered pings we send at most; more would mean the peer stopped reading. */
const MAX_OUTSTANDING_PINGS = 8;
/**
 * Past this many bytes of output waiting for the peer, we stop reading its input: every
 * request can queue an answer, so reading on would let a peer that never reads grow our memory.
 */
const OUTPUT_HIGH_WATER = 1 << 20;
/** Control answers (PING/SETTINGS acks, resets) we queue while output is stalled, at most. */
const MAX_QUEUED_CONTROL = 1000;
/** Headers that only make sense hop-by-hop in HTTP/1.1 and are malformed in HTTP/2 (RFC 9113 §8.2.2). */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

type PingCallback = (err: Error | null) => void;

export class H2ServerConnection implements StreamHost {
  readonly #t: H2Transport;
  readonly #opts: Required<Omit<H2ConnectionOptions, 'onError'>> & Pick<H2ConnectionOptions, 'onError'>;
  readonly #decoder: HpackDecoder;
  readonly #encoder = new HpackEncoder();
  readonly #streams = new Map<number, H2Stream>();
  /** Streams with data queued, waiting for connection-level window. */
  readonly #blocked = new Set<H2Stream>();
  #rx: Buffer = Buffer.alloc(0);
  #prefaceSeen = false;
  #settingsSeen = false;
  /** Stream whose header block is still arriving in CONTINUATION frames. */
  #headerStream = 0;
  #headerFlags = 0;
  #headerChunks: Buffer[] = [];
  #headerBytes = 0;
  #lastStreamId = 0;
  #peerGoaway = false;
  #closing = false;
  #closed = false;
  #ended = false;
  // Peer's settings that govern what we send.
  #peerInitialWindow = DEFAULT_WINDOW;
  #peerMaxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  #connSendWindow = DEFAULT_WINDOW;
  #connRecvUnacked = 0;
  #out: Buffer[] = [];
  #outBytes = 0;
  #flushScheduled = false;
  readonly #flush = () => this.#flushNow();
  #pingSeq = 0;
  readonly #pings = new Map<string, PingCallback>();
  #closeListeners: ((err: Error | null) => void)[] = [];
  /** Request-body bytes buffered by this connection's streams (also counted in the shared budget). */
  #bodyBuffered = 0;
  #idleTimer: NodeJS.Timeout | null = null;
  /** Control frames received in the current one-second window. */
  #controlWindowStart = 0;
  #controlCount = 0;
  /** Control answers queued since the transport last had nothing buffered. */
  #queuedControl = 0;
  #inputPaused = false;

  constructor(transport: H2Transport, opts: H2ConnectionOptions) {
    this.#t = transport;
    this.#opts = {
      maxConcurrentStreams: 100,
      maxBodyBytes: 1 << 20,
      maxHeaderListSize: 64 * 1024,
      maxBufferedBodyBytes: 4 << 20,
      bodyBudget: new BodyBudget(Number.MAX_SAFE_INTEGER),
      streamIdleTimeoutMs: 30_000,
      maxControlFramesPerSecond: 1000,
      ...opts,
    };
    this.#decoder = new HpackDecoder({ maxHeaderListSize: this.#opts.maxHeaderListSize });
    // The server preface: our SETTINGS, then a larger connection window for request bodies.
    this.#queue(
      settingsFrame([
        [Setting.MAX_CONCURRENT_STREAMS, this.#opts.maxConcurrentStreams],
        [Setting.INITIAL_WINDOW_SIZE, STREAM_RECV_WINDOW],
        [Setting.MAX_HEADER_LIST_SIZE, this.#opts.maxHeaderListSize],
      ]),
    );
    this.#queue(windowUpdateFrame(0, CONN_RECV_WINDOW - DEFAULT_WINDOW));
  }

  /** True once the peer's preface and first SETTINGS have arrived. */
  get established(): boolean {
    return this.#settingsSeen;
  }

  get streamCount(): number {
    return this.#streams.size;
  }

  get closed(): boolean {
    return this.#closed;
  }

  onClose(fn: (err: Error | null) => void): void {
    if (this.#closed) queueMicrotask(() => fn(null));
    else this.#closeListeners.push(fn);
  }

  /** Feeds bytes read from the transport. */
  receive(chunk: Buffer): void {
    if (this.#closing) return;
    this.#rx = this.#rx.length === 0 ? chunk : Buffer.concat([this.#rx, chunk]);
    try {
      this.#parse();
    } catch (err) {
      this.#fail(err as Error);
    }
    // The answers to what we just read are queued; if the peer isn't taking them, stop reading.
    if (!this.#closing && !this.#inputPaused && this.#outBytes + this.#t.buffered() > OUTPUT_HIGH_WATER && this.#t.pauseInput) {
      this.#inputPaused = true;
      this.#t.pauseInput();
    }
  }

  /** The transport has written out everything it held: read again, and reset the stall count. */
  transportDrained(): void {
    this.#queuedControl = 0;
    if (this.#inputPaused && !this.#closing && this.#outBytes + this.#t.buffered() <= OUTPUT_HIGH_WATER) {
      this.#inputPaused = false;
      this.#t.resumeInput?.();
    }
  }

  /** The transport ended or closed: every stream is over. */
  transportClosed(err?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing = true;
    const reason = err ?? new Error('connection closed');
    for (const s of this.#streams.values()) {
      this.#releaseBody(s);
      s.markClosed(ErrorCode.CANCEL);
    }
    this.#streams.clear();
    if (this.#idleTimer) clearInterval(this.#idleTimer);
    this.#idleTimer = null;
    this.#blocked.clear();
    for (const cb of this.#pings.values()) cb(reason);
    this.#pings.clear();
    this.#out = [];
    this.#outBytes = 0;
    const ls = this.#closeListeners;
    this.#closeListeners = [];
    for (const fn of ls) fn(err ?? null);
  }

  /**
   * Sends a PING; `cb` gets null when the peer acknowledges it, or an error if the
   * connection closes first. Returns false (and never calls cb) when too many are unanswered.
   */
  ping(cb: PingCallback): boolean {
    if (this.#closing || this.#pings.size >= MAX_OUTSTANDING_PINGS) return false;
    const payload = Buffer.allocUnsafe(8);
    payload.writeUInt32BE(0x5357_4244, 0); // arbitrary tag; the sequence number makes it unique
    payload.writeUInt32BE(++this.#pingSeq >>> 0, 4);
    this.#pings.set(payload.toString('hex'), cb);
    this.#queue(frame(FrameType.PING, 0, 0, payload));
    return true;
  }

  /** Graceful end: GOAWAY(NO_ERROR), then the transport closes once the bytes are out. */
  close(reason = 'server shutting down'): void {
    if (this.#closing) return;
    this.#goaway(ErrorCode.NO_ERROR, reason);
  }

  /** Immediate end without a goodbye. */
  destroy(err?: Error): void {
    this.#closing = true;
    this.#t.destroy(err);
    this.transportClosed(err);
  }

  // ---- StreamHost -------------------------------------------------------------------

  sendHeaders(stream: H2Stream, status: number, headers: Readonly<Record<string, string>>, endStream: boolean): void {
    if (this.#closing) return;
    const fields: HeaderField[] = [[':status', String(status)]];
    for (const [k, v] of Object.entries(headers)) fields.push([k.toLowerCase(), v]);
    const block = this.#encoder.encode(fields);
    const max = this.#peerMaxFrameSize;
    let off = 0;
    let first = true;
    do {
      const piece = block.subarray(off, off + max);
      off += piece.length;
      const last = off >= block.length;
      const flags = (last ? Flag.END_HEADERS : 0) | (first && endStream ? Flag.END_STREAM : 0);
      this.#queue(frame(first ? FrameType.HEADERS : FrameType.CONTINUATION, flags, stream.id, piece));
      first = false;
    } while (off < block.length);
    if (endStream) this.#localDone(stream);
  }

  sendData(stream: H2Stream, data: Buffer, endStream: boolean): boolean {
    if (this.#closing || stream.closed) return false;
    if (data.length > 0) {
      stream.pending.push(data);
      stream.pendingBytes += data.length;
    }
    if (endStream) stream.endQueued = true;
    this.#pump(stream);
    return stream.pendingBytes === 0 && this.#t.buffered() === 0;
  }

  resetStream(stream: H2Stream, code: ErrorCode): void {
    if (stream.closed) return;
    if (!this.#closing) this.#queue(rstStreamFrame(stream.id, code));
    this.#removeStream(stream, code);
  }

  transportBuffered(): number {
    return this.#outBytes + this.#t.buffered();
  }

  // ---- sending ----------------------------------------------------------------------

  #queue(b: Buffer): void {
    this.#out.push(b);
    this.#outBytes += b.length;
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      // Everything produced in one turn (headers + data, acks) leaves as one write.
      queueMicrotask(this.#flush);
    }
  }

  #flushNow(): void {
    this.#flushScheduled = false;
    if (this.#out.length === 0 || this.#closed) return;
    const data = this.#out.length === 1 ? this.#out[0]! : Buffer.concat(this.#out, this.#outBytes);
    this.#out = [];
    this.#outBytes = 0;
    this.#t.write(data);
  }

  /** Sends as much of the stream's queue as the windows allow. */
  #pump(s: H2Stream): void {
    const max = this.#peerMaxFrameSize;
    while (s.pendingBytes > 0) {
      const allowed = Math.min(s.sendWindow, this.#connSendWindow, max);
      if (allowed <= 0) {
        if (this.#connSendWindow <= 0 && s.sendWindow > 0) this.#blocked.add(s);
        return;
      }
      const head = s.pending[0]!;
      const avail = head.length - s.pendingOffset;
      const n = Math.min(avail, allowed);
      const last = n === avail && s.pending.length === 1;
      const flags = last && s.endQueued ? Flag.END_STREAM : 0;
      // Header and payload in one buffer: the transport seals it as one record.
      const f = Buffer.allocUnsafe(FRAME_HEADER_LEN + n);
      writeFrameHeader(f, 0, n, FrameType.DATA, flags, s.id);
      head.copy(f, FRAME_HEADER_LEN, s.pendingOffset, s.pendingOffset + n);
      this.#queue(f);
      s.sendWindow -= n;
      this.#connSendWindow -= n;
      s.pendingBytes -= n;
      if (n === avail) {
        s.pending.shift();
        s.pendingOffset = 0;
      } else s.pendingOffset += n;
      if (flags) {
        this.#localDone(s);
        return;
      }
    }
    this.#blocked.delete(s);
    if (s.endQueued && !s.localClosed) {
      this.#queue(frame(FrameType.DATA, Flag.END_STREAM, s.id));
      this.#localDone(s);
    }
  }

  #localDone(s: H2Stream): void {
    s.localClosed = true;
    s.endQueued = false;
    this.#blocked.delete(s);
    if (s.remoteClosed) this.#removeStream(s, null);
    else {
      // We answered before the request finished: ask the client to stop sending (RFC 9113 §8.1).
      this.#queue(rstStreamFrame(s.id, ErrorCode.NO_ERROR));
      this.#removeStream(s, null);
    }
  }

  #removeStream(s: H2Stream, code: ErrorCode | null): void {
    this.#streams.delete(s.id);
    this.#releaseBody(s);
    this.#blocked.delete(s);
    s.markClosed(code);
    if (this.#streams.size === 0 && (this.#peerGoaway || this.#closing) && !this.#closed) this.#endTransport();
  }

  #goaway(code: ErrorCode, message: string): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#queue(goawayFrame(this.#lastStreamId, code, message));
    this.#flushNow();
    this.#endTransport();
  }

  #endTransport(): void {
    this.#flushNow();
    if (this.#ended) return;
    this.#ended = true;
    this.#t.end();
  }

  #fail(err: Error): void {
    this.#opts.onError?.(err);
    if (err instanceof H2ConnectionError) this.#goaway(err.code, err.message);
    else {
      this.#goaway(ErrorCode.INTERNAL_ERROR, 'internal error');
    }
    // Streams end now; the transport closes when the goaway is out.
    for (const s of [...this.#streams.values()]) this.#removeStream(s, ErrorCode.CANCEL);
  }

  // ---- abuse limits -----------------------------------------------------------------

  /**
   * Counts a frame that costs us work or an answer but carries no request data (PING,
   * SETTINGS, RST_STREAM, empty DATA/CONTINUATION). A flood of them ends the connection
   * with ENHANCE_YOUR_CALM, as Go's and nghttp2's servers do.
   */
  #countControl(what: string): void {
    const now = Date.now();
    if (now - this.#controlWindowStart >= 1000) {
      this.#controlWindowStart = now;
      this.#controlCount = 0;
    }
    if (++this.#controlCount > this.#opts.maxControlFramesPerSecond) {
      throw new H2ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, `more than ${this.#opts.maxControlFramesPerSecond} ${what} and other control frames in a second`);
    }
  }

  /** Queues a control answer; too many while the peer isn't reading ends the connection. */
  #queueControl(b: Buffer): void {
    if (this.#t.buffered() > 0 && ++this.#queuedControl > MAX_QUEUED_CONTROL) {
      throw new H2ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, `more than ${MAX_QUEUED_CONTROL} control frames queued while the peer does not read`);
    }
    this.#queue(b);
  }

  #releaseBody(s: H2Stream): void {
    if (s.bodyCounted === 0) return;
    this.#bodyBuffered -= s.bodyCounted;
    this.#opts.bodyBudget.release(s.bodyCounted);
    s.bodyCounted = 0;
  }

  /** Buffers are taken from two budgets: this connection's and the server's. */
  #takeBody(s: H2Stream, n: number): boolean {
    if (this.#bodyBuffered + n > this.#opts.maxBufferedBodyBytes) return false;
    if (!this.#opts.bodyBudget.take(n)) return false;
    this.#bodyBuffered += n;
    s.bodyCounted += n;
    return true;
  }

  get bufferedBodyBytes(): number {
    return this.#bodyBuffered;
  }

  /** Streams still waiting for their body are checked every few seconds while any exist. */
  #watchIdle(): void {
    if (this.#idleTimer || this.#closed) return;
    const limit = this.#opts.streamIdleTimeoutMs;
    this.#idleTimer = setInterval(() => {
      const now = Date.now();
      let waiting = 0;
      for (const s of [...this.#streams.values()]) {
        if (s.remoteClosed || !s.bodyChunks) continue;
        if (now - s.lastDataAt >= limit) {
          this.#opts.onError?.(new Error(`stream ${s.id}: no request body data for ${limit} ms, reset`));
          this.resetStream(s, ErrorCode.CANCEL);
        } else waiting++;
      }
      if (waiting === 0 && this.#idleTimer) {
        clearInterval(this.#idleTimer);
        this.#idleTimer = null;
      }
    }, Math.max(10, Math.min(limit / 4, 5000)));
    this.#idleTimer.unref();
  }

  // ---- receiving --------------------------------------------------------------------

  #parse(): void {
    let buf = this.#rx;
    let off = 0;
    if (!this.#prefaceSeen) {
      const n = Math.min(buf.length, CLIENT_PREFACE.length);
      if (buf.compare(CLIENT_PREFACE, 0, n, 0, n) !== 0) {
        throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, 'expected the HTTP/2 client connection preface');
      }
      if (buf.length < CLIENT_PREFACE.length) return;
      off = CLIENT_PREFACE.length;
      this.#prefaceSeen = true;
    }
    while (buf.length - off >= FRAME_HEADER_LEN && !this.#closing) {
      const len = (buf[off]! << 16) | (buf[off + 1]! << 8) | buf[off + 2]!;
      // We never raise SETTINGS_MAX_FRAME_SIZE above the default.
      if (len > DEFAULT_MAX_FRAME_SIZE) {
        throw new H2ConnectionError(ErrorCode.FRAME_SIZE_ERROR, `frame of ${len} bytes exceeds SETTINGS_MAX_FRAME_SIZE ${DEFAULT_MAX_FRAME_SIZE}`);
      }
      if (buf.length - off < FRAME_HEADER_LEN + len) break;
      const type = buf[off + 3]!;
      const flags = buf[off + 4]!;
      const streamId = buf.readUInt32BE(off + 5) & 0x7fff_ffff;
      const payload = buf.subarray(off + FRAME_HEADER_LEN, off + FRAME_HEADER_LEN + len);
      off += FRAME_HEADER_LEN + len;
      try {
        this.#onFrame(type, flags, streamId, payload);
      } catch (err) {
        if (!(err instanceof H2StreamError)) throw err;
        const s = this.#streams.get(err.streamId);
        if (s) this.resetStream(s, err.code);
        else this.#queueControl(rstStreamFrame(err.streamId, err.code));
      }
    }
    if (off === 0) return;
    // Keep only the unparsed tail; copy it so the large chunk it came from can be freed.
    this.#rx = off >= buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(off));
    buf = this.#rx;
  }

  #onFrame(type: number, flags: number, streamId: number, p: Buffer): void {
    if (!this.#settingsSeen) {
      if (type !== FrameType.SETTINGS || flags & Flag.ACK) {
        throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, 'the first frame after the preface must be SETTINGS');
      }
      this.#settingsSeen = true;
    }
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
        return; // advisory; every stream here is served in arrival order
      case FrameType.RST_STREAM:
        return this.#onRstStream(streamId, p);
      case FrameType.SETTINGS:
        return this.#onSettings(flags, streamId, p);
      case FrameType.PUSH_PROMISE:
        throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, 'clients may not send PUSH_PROMISE');
      case FrameType.PING:
        return this.#onPing(flags, streamId, p);
      case FrameType.GOAWAY:
        if (streamId !== 0) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, 'GOAWAY on a stream');
        if (p.length < 8) throw new H2ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'GOAWAY payload shorter than 8 bytes');
        this.#peerGoaway = true;
        if (this.#streams.size === 0) this.#endTransport();
        return;
      case FrameType.WINDOW_UPDATE:
        return this.#onWindowUpdate(streamId, p);
      case FrameType.CONTINUATION:
        return this.#onContinuation(flags, streamId, p);
      default:
        return; // unknown frame types are ignored (RFC 9113 §4.1)
    }
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
    if (streamId > this.#lastStreamId) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, `DATA on idle stream ${streamId}`);
    // Flow control counts the whole frame, padding included.
    this.#consumeConnWindow(raw.length);
    const data = this.#unpad(flags, streamId, raw, 'DATA');
    if (raw.length === 0 && !(flags & Flag.END_STREAM)) this.#countControl('empty DATA');
    const s = this.#streams.get(streamId);
    if (!s) return; // a stream we already finished or reset: its late data is dropped
    if (s.remoteClosed) throw new H2StreamError(streamId, ErrorCode.STREAM_CLOSED, `DATA after END_STREAM on stream ${streamId}`);
    if (raw.length > s.recvWindow) {
      throw new H2StreamError(streamId, ErrorCode.FLOW_CONTROL_ERROR, `DATA of ${raw.length} bytes beyond stream ${streamId}'s window`);
    }
    s.recvWindow -= raw.length;
    if (s.bodyChunks) {
      s.bodyBytes += data.length;
      if (s.bodyBytes > this.#opts.maxBodyBytes) {
        s.bodyChunks = null;
        this.#releaseBody(s);
        s.respond(413, { 'content-type': 'text/plain; charset=utf-8' });
        s.end(Buffer.from(`request body larger than ${this.#opts.maxBodyBytes} bytes\n`));
        return;
      }
      if (data.length > 0) {
        if (!this.#takeBody(s, data.length)) {
          // Safe for the client to retry: nothing of this request was processed.
          this.resetStream(s, ErrorCode.REFUSED_STREAM);
          return;
        }
        s.bodyChunks.push(Buffer.from(data));
      }
      s.lastDataAt = Date.now();
    }
    // Give the window back as the body is taken in, so bodies larger than one window can arrive.
    s.recvUnacked += raw.length;
    if (!(flags & Flag.END_STREAM) && s.recvUnacked >= STREAM_RECV_WINDOW / 2) {
      this.#queue(windowUpdateFrame(streamId, s.recvUnacked));
      s.recvWindow += s.recvUnacked;
      s.recvUnacked = 0;
    }
    if (flags & Flag.END_STREAM) this.#remoteDone(s);
  }

  #consumeConnWindow(n: number): void {
    if (n === 0) return;
    this.#connRecvUnacked += n;
    if (this.#connRecvUnacked > CONN_RECV_WINDOW) {
      throw new H2ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'DATA beyond the connection flow-control window');
    }
    // Request bodies are buffered in full right away, so the window is returned at once in bulk.
    if (this.#connRecvUnacked >= CONN_RECV_WINDOW / 2) {
      this.#queue(windowUpdateFrame(0, this.#connRecvUnacked));
      this.#connRecvUnacked = 0;
    }
  }

  #onHeaders(flags: number, streamId: number, raw: Buffer): void {
    if (streamId === 0) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, 'HEADERS on stream 0');
    let p = this.#unpad(flags, streamId, raw, 'HEADERS');
    if (flags & Flag.PRIORITY) {
      // Priority signals are advisory (and deprecated by RFC 9113); skip them.
      if (p.length < 5) throw new H2ConnectionError(ErrorCode.FRAME_SIZE_ERROR, `HEADERS on stream ${streamId} too short for its priority fields`);
      p = p.subarray(5);
    }
    this.#headerStream = streamId;
    this.#headerFlags = flags;
    this.#headerChunks = [Buffer.from(p)];
    this.#headerBytes = p.length;
    if (flags & Flag.END_HEADERS) this.#headerBlockDone();
  }

  #onContinuation(flags: number, streamId: number, p: Buffer): void {
    if (this.#headerStream === 0 || streamId !== this.#headerStream) {
      throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, `unexpected CONTINUATION on stream ${streamId}`);
    }
    if (p.length === 0 && !(flags & Flag.END_HEADERS)) this.#countControl('empty CONTINUATION');
    this.#headerBytes += p.length;
    if (this.#headerBytes > MAX_HEADER_BLOCK) {
      throw new H2ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, `header block larger than ${MAX_HEADER_BLOCK} bytes`);
    }
    this.#headerChunks.push(Buffer.from(p));
    if (flags & Flag.END_HEADERS) this.#headerBlockDone();
  }

  #headerBlockDone(): void {
    const streamId = this.#headerStream;
    const flags = this.#headerFlags;
    const block = this.#headerChunks.length === 1 ? this.#headerChunks[0]! : Buffer.concat(this.#headerChunks);
    this.#headerStream = 0;
    this.#headerChunks = [];
    this.#headerBytes = 0;
    let fields: HeaderField[];
    try {
      // Always decoded, even for a refused stream: the decoder's table must stay in step.
      fields = this.#decoder.decode(block);
    } catch (err) {
      if (err instanceof HpackError) throw new H2ConnectionError(ErrorCode.COMPRESSION_ERROR, `header block on stream ${streamId}: ${err.message}`);
      throw err;
    }
    const existing = this.#streams.get(streamId);
    if (existing || streamId <= this.#lastStreamId) {
      // Trailers end an open request; a header block on a finished stream is an error.
      if (!existing || existing.remoteClosed) {
        throw new H2ConnectionError(ErrorCode.STREAM_CLOSED, `HEADERS on closed stream ${streamId}`);
      }
      if (!(flags & Flag.END_STREAM)) throw new H2StreamError(streamId, ErrorCode.PROTOCOL_ERROR, 'trailers without END_STREAM');
      this.#remoteDone(existing);
      return;
    }
    if (streamId % 2 === 0) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, `client opened even-numbered stream ${streamId}`);
    this.#lastStreamId = streamId;
    if (this.#peerGoaway || this.#closing) throw new H2StreamError(streamId, ErrorCode.REFUSED_STREAM, 'connection is closing');
    if (this.#streams.size >= this.#opts.maxConcurrentStreams) {
      throw new H2StreamError(streamId, ErrorCode.REFUSED_STREAM, `more than ${this.#opts.maxConcurrentStreams} concurrent streams`);
    }
    const request = parseRequest(streamId, fields);
    const s = new H2Stream(streamId, request, this, this.#peerInitialWindow, STREAM_RECV_WINDOW);
    this.#streams.set(streamId, s);
    if (flags & Flag.END_STREAM) this.#remoteDone(s);
    else {
      s.lastDataAt = Date.now();
      this.#watchIdle();
    }
  }

  #remoteDone(s: H2Stream): void {
    s.remoteClosed = true;
    if (!s.bodyChunks) return; // refused (too large); already answered
    s.body = s.bodyChunks.length === 1 ? s.bodyChunks[0]! : Buffer.concat(s.bodyChunks);
    s.bodyChunks = null;
    // From here the body belongs to the handler, which answers within its own limits.
    this.#releaseBody(s);
    if (s.declaredLength !== null && s.declaredLength !== s.body.length) {
      throw new H2StreamError(s.id, ErrorCode.PROTOCOL_ERROR, `content-length ${s.declaredLength} but the body had ${s.body.length} bytes`);
    }
    if (s.localClosed) {
      this.#removeStream(s, null);
      return;
    }
    try {
      this.#opts.onRequest(s);
    } catch (err) {
      // A handler bug costs its own stream, not the connection.
      this.#opts.onError?.(err as Error);
      this.resetStream(s, ErrorCode.INTERNAL_ERROR);
    }
  }

  #onRstStream(streamId: number, p: Buffer): void {
    if (streamId === 0) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
    if (p.length !== 4) throw new H2ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'RST_STREAM payload must be 4 bytes');
    if (streamId > this.#lastStreamId) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, `RST_STREAM on idle stream ${streamId}`);
    this.#countControl('RST_STREAM');
    const s = this.#streams.get(streamId);
    if (s) this.#removeStream(s, p.readUInt32BE(0) as ErrorCode);
  }

  #onSettings(flags: number, streamId: number, p: Buffer): void {
    const st = parseSettings(flags, streamId, p);
    if (!st) return;
    this.#countControl('SETTINGS');
    if (st.headerTableSize !== undefined) this.#encoder.setPeerMaxTableSize(st.headerTableSize);
    if (st.maxFrameSize !== undefined) this.#peerMaxFrameSize = st.maxFrameSize;
    let windowDelta = 0;
    if (st.initialWindowSize !== undefined) {
      windowDelta = st.initialWindowSize - this.#peerInitialWindow;
      this.#peerInitialWindow = st.initialWindowSize;
    }
    this.#queueControl(frame(FrameType.SETTINGS, Flag.ACK, 0));
    if (windowDelta !== 0) {
      shiftSendWindows(this.#streams.values(), windowDelta);
      if (windowDelta > 0) for (const s of [...this.#streams.values()]) this.#pump(s);
    }
  }

  #onPing(flags: number, streamId: number, p: Buffer): void {
    if (streamId !== 0) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, 'PING on a stream');
    if (p.length !== 8) throw new H2ConnectionError(ErrorCode.FRAME_SIZE_ERROR, `PING payload of ${p.length} bytes, want 8`);
    if (flags & Flag.ACK) {
      const key = p.toString('hex');
      const cb = this.#pings.get(key);
      if (cb) {
        this.#pings.delete(key);
        cb(null);
      }
      return;
    }
    this.#countControl('PING');
    this.#queueControl(frame(FrameType.PING, Flag.ACK, 0, p));
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
    if (streamId > this.#lastStreamId) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, `WINDOW_UPDATE on idle stream ${streamId}`);
    const s = this.#streams.get(streamId);
    if (!s) return;
    if (inc === 0) throw new H2StreamError(streamId, ErrorCode.PROTOCOL_ERROR, `WINDOW_UPDATE with increment 0 on stream ${streamId}`);
    s.sendWindow += inc;
    if (s.sendWindow > MAX_WINDOW) throw new H2StreamError(streamId, ErrorCode.FLOW_CONTROL_ERROR, `stream ${streamId} window above 2^31-1`);
    this.#pump(s);
  }
}

/** Checks a request's header list (RFC 9113 §8.3.1) and splits pseudo-headers from the rest. */
function parseRequest(streamId: number, fields: readonly HeaderField[]): H2Request {
  const bad = (msg: string) => new H2StreamError(streamId, ErrorCode.PROTOCOL_ERROR, `malformed request on stream ${streamId}: ${msg}`);
  let method = '';
  let path = '';
  let scheme = '';
  let authority = '';
  let regularSeen = false;
  const headers: Record<string, string> = {};
  for (const [name, value] of fields) {
    if (name.startsWith(':')) {
      if (regularSeen) throw bad(`pseudo-header ${name} after regular headers`);
      const seen = (v: string) => {
        if (v !== '') throw bad(`repeated ${name}`);
      };
      switch (name) {
        case ':method':
          seen(method);
          method = value;
          break;
        case ':path':
          seen(path);
          path = value;
          break;
        case ':scheme':
          seen(scheme);
          scheme = value;
          break;
        case ':authority':
          seen(authority);
          authority = value;
          break;
        default:
          throw bad(`unknown pseudo-header ${name}`);
      }
      continue;
    }
    regularSeen = true;
    if (name !== name.toLowerCase()) throw bad(`header name ${JSON.stringify(name)} is not lowercase`);
    if (CONNECTION_SPECIFIC.has(name)) throw bad(`connection-specific header ${name}`);
    if (name === 'te' && value !== 'trailers') throw bad('te other than "trailers"');
    const prev = headers[name];
    headers[name] = prev === undefined ? value : prev + (name === 'cookie' ? '; ' : ', ') + value;
  }
  if (method === '') throw bad('missing :method');
  if (method !== 'CONNECT') {
    if (scheme === '') throw bad('missing :scheme');
    if (path === '') throw bad('missing or empty :path');
  }
  return { method, path, authority: authority || headers.host || '', scheme, headers };
}

export { errorName };
