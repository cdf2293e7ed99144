import { Duplex } from 'node:stream';
import type { CipherState } from './cipher-state.js';
import { NoiseError } from './errors.js';
import { HEADER_LEN, MAX_MESSAGE_SIZE, MAX_PLAINTEXT_SIZE, MSG_TYPE_RECORD } from './messages.js';
import { AEAD_TAG_LEN } from './primitives.js';

/** Takes decrypted records directly, instead of the Readable side (see setReceiver). */
export interface PlaintextReceiver {
  data(plaintext: Buffer): void;
  /** The peer finished sending (FIN, or the transport closed). */
  end(): void;
}

export interface NoiseConnOptions {
  send: CipherState;
  recv: CipherState;
  protocolVersion?: number;
  /** The peer's static public key (raw). */
  peerPublicKey?: Buffer;
  handshakeHash?: Buffer;
  /** Bytes already read from `inner` past the handshake (they belong to the record stream). */
  initialData?: Buffer;
}

const EMPTY_AD = Buffer.alloc(0);

/**
 * A secured control connection: a Duplex whose writes are split into
 * records of at most 4077 plaintext bytes, encrypted and framed, and whose
 * reads are the decrypted records of `inner`. Any framing or authentication
 * failure destroys the stream with a NoiseError; nothing is thrown out.
 */
export class NoiseConn extends Duplex {
  readonly inner: Duplex;
  readonly protocolVersion: number;
  readonly peerPublicKey: Buffer | undefined;
  readonly handshakeHash: Buffer | undefined;
  readonly #send: CipherState;
  readonly #recv: CipherState;
  #rx: Buffer = Buffer.alloc(0);
  #innerEnded = false;
  #receiver: PlaintextReceiver | null = null;
  readonly #onData = (chunk: Buffer) => this.#ingest(chunk);
  readonly #onEnd = () => this.#handleInnerEnd();
  readonly #onError = (err: Error) => this.destroy(err);
  readonly #onClose = () => this.#handleInnerClose();

  constructor(inner: Duplex, opts: NoiseConnOptions) {
    // Half-open allowed so a peer's FIN doesn't cut off our pending replies.
    super({ allowHalfOpen: true });
    this.inner = inner;
    this.#send = opts.send;
    this.#recv = opts.recv;
    this.protocolVersion = opts.protocolVersion ?? 0;
    this.peerPublicKey = opts.peerPublicKey;
    this.handshakeHash = opts.handshakeHash;
    inner.on('error', this.#onError);
    inner.on('end', this.#onEnd);
    inner.on('close', this.#onClose);
    // Our own writes bypass the Writable side (writeRecords), so pass the socket's drain on.
    // A separate event, so that Writable's own 'drain' contract is left alone.
    inner.on('drain', () => this.emit('outputDrained'));
    if (opts.initialData && opts.initialData.length > 0) this.#ingest(opts.initialData);
    if (!this.destroyed) inner.on('data', this.#onData);
  }

  /** Address of the underlying socket, when there is one (for logs). */
  get remoteAddress(): string | undefined {
    return (this.inner as { remoteAddress?: string }).remoteAddress;
  }

  /** Encrypts and frames plaintext into one buffer of records. */
  #seal(plaintext: Buffer): Buffer {
    const frames: Buffer[] = [];
    let off = 0;
    do {
      const piece = plaintext.subarray(off, off + MAX_PLAINTEXT_SIZE);
      off += piece.length;
      const sealed = this.#send.encryptWithAd(EMPTY_AD, piece);
      const hdr = Buffer.allocUnsafe(HEADER_LEN);
      hdr[0] = MSG_TYPE_RECORD;
      hdr.writeUInt16BE(sealed.length, 1);
      frames.push(hdr, sealed);
    } while (off < plaintext.length);
    return Buffer.concat(frames);
  }

  #ingest(chunk: Buffer): void {
    if (this.destroyed) return;
    this.#rx = this.#rx.length === 0 ? chunk : Buffer.concat([this.#rx, chunk]);
    let buf = this.#rx;
    let off = 0;
    let wantMore = true;
    while (buf.length - off >= HEADER_LEN) {
      const type = buf[off];
      const len = buf.readUInt16BE(off + 1);
      if (type !== MSG_TYPE_RECORD) {
        this.destroy(new NoiseError('BAD_TYPE', `received message with unexpected type ${type}, want ${MSG_TYPE_RECORD} (record)`));
        return;
      }
      if (HEADER_LEN + len > MAX_MESSAGE_SIZE) {
        this.destroy(new NoiseError('RECORD_TOO_LARGE', `record of ${HEADER_LEN + len} bytes exceeds the maximum Noise frame size ${MAX_MESSAGE_SIZE}`));
        return;
      }
      if (len < AEAD_TAG_LEN) {
        this.destroy(new NoiseError('BAD_LENGTH', `record length ${len} is shorter than the ${AEAD_TAG_LEN}-byte authentication tag`));
        return;
      }
      if (buf.length - off < HEADER_LEN + len) break;
      let plaintext: Buffer;
      try {
        plaintext = this.#recv.decryptWithAd(EMPTY_AD, buf.subarray(off + HEADER_LEN, off + HEADER_LEN + len));
      } catch (err) {
        this.destroy(err as Error);
        return;
      }
      off += HEADER_LEN + len;
      // Zero-length records are legal keep-alives; nothing to deliver.
      if (plaintext.length > 0) {
        if (this.#receiver) this.#receiver.data(plaintext);
        else wantMore = this.push(plaintext) && wantMore;
      }
      if (this.destroyed) return;
    }
    this.#rx = off === 0 ? buf : buf.subarray(off);
    if (this.#rx.length > 0 && off > 0) this.#rx = Buffer.from(this.#rx); // don't pin the big chunk
    if (!wantMore) this.inner.pause();
  }

  #handleInnerEnd(): void {
    this.#innerEnded = true;
    if (this.destroyed) return;
    if (this.#rx.length > 0) {
      this.destroy(new NoiseError('TRUNCATED', `connection ended in the middle of a record (${this.#rx.length} bytes pending)`));
      return;
    }
    if (this.#receiver) this.#receiver.end();
    else this.push(null);
  }

  #handleInnerClose(): void {
    if (this.destroyed) return;
    if (!this.#innerEnded) {
      // Closed without a FIN (e.g. the peer reset): treat like end.
      this.#handleInnerEnd();
    }
    // Nothing more can be written once the transport is gone.
    if (!this.destroyed && !this.writableFinished) this.destroy();
  }

  /**
   * Hands every later record to `r` directly, skipping the Readable machinery (the
   * HTTP/2 server reads this way). Records already buffered are handed over first.
   */
  setReceiver(r: PlaintextReceiver): void {
    this.#receiver = r;
    let chunk: Buffer | null;
    while ((chunk = this.read() as Buffer | null) !== null) r.data(chunk);
    if (this.inner.isPaused()) this.inner.resume();
  }

  /**
   * Seals and sends plaintext at once, skipping the Writable machinery. Returns false when
   * the transport is buffering. Falls back to write() while earlier writes are queued, so
   * bytes never overtake each other.
   */
  writeRecords(plaintext: Buffer): boolean {
    if (this.destroyed || this.writableEnded) return false;
    if (this.writableLength > 0) {
      this.write(plaintext);
      return false;
    }
    if (this.inner.destroyed || this.inner.writableEnded) return false;
    let records: Buffer;
    try {
      records = this.#seal(plaintext);
    } catch (err) {
      this.destroy(err as Error);
      return false;
    }
    return this.inner.write(records);
  }

  /** Stops reading records from the socket (backpressure for a peer that doesn't read ours). */
  pauseInput(): void {
    this.inner.pause();
  }

  resumeInput(): void {
    this.inner.resume();
  }

  /** Bytes written but not yet handed to the kernel. */
  buffered(): number {
    return this.writableLength + this.inner.writableLength;
  }

  override _read(): void {
    if (this.inner.isPaused()) this.inner.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.#sendFrames(chunk, cb);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, cb: (err?: Error | null) => void): void {
    this.#sendFrames(chunks.length === 1 ? chunks[0].chunk : Buffer.concat(chunks.map((c) => c.chunk)), cb);
  }

  #sendFrames(plaintext: Buffer, cb: (err?: Error | null) => void): void {
    let frames: Buffer;
    try {
      frames = this.#seal(plaintext);
    } catch (err) {
      cb(err as Error);
      return;
    }
    if (this.inner.destroyed || this.inner.writableEnded) {
      cb(new NoiseError('TRUNCATED', 'write after the underlying connection closed'));
      return;
    }
    // Respect the inner stream's backpressure: complete only once it drains.
    if (this.inner.write(frames)) cb();
    else this.inner.once('drain', () => cb());
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.inner.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    this.inner.off('data', this.#onData);
    this.#send.wipe();
    this.#recv.wipe();
    this.#rx = Buffer.alloc(0);
    if (!this.inner.destroyed) this.inner.destroy();
    cb(err);
  }
}
