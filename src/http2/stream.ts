// One request/response exchange on a server connection. The request (headers and the
// whole body) has arrived before the handler sees the stream; the response is sent
// through the connection, which owns framing and flow control.

import type { ErrorCode } from './frames.js';

/** What a stream needs from its connection. */
export interface StreamHost {
  sendHeaders(stream: H2Stream, status: number, headers: Readonly<Record<string, string>>, endStream: boolean): void;
  sendData(stream: H2Stream, data: Buffer, endStream: boolean): boolean;
  resetStream(stream: H2Stream, code: ErrorCode): void;
  /** Bytes waiting in the connection's transport (shared by all streams). */
  transportBuffered(): number;
}

export interface H2Request {
  method: string;
  /** The :path pseudo-header, query included. */
  path: string;
  authority: string;
  scheme: string;
  /** Regular header fields; repeated names joined with ", " (cookies with "; "). */
  headers: Record<string, string>;
}

export type StreamCloseListener = (code: ErrorCode | null) => void;

export class H2Stream {
  /** DATA payloads waiting for flow-control window, oldest first. */
  readonly pending: Buffer[] = [];
  pendingBytes = 0;
  /** Offset into pending[0] already sent. */
  pendingOffset = 0;
  /** END_STREAM goes out once `pending` drains. */
  endQueued = false;
  /** Bytes we may still send (RFC 9113 §6.9); can go negative after a SETTINGS change. */
  sendWindow: number;
  /** Request body bytes received but not yet given back to the peer as window. */
  recvUnacked = 0;
  recvWindow: number;
  body: Buffer = EMPTY;
  /** Body chunks while the request is still arriving. */
  bodyChunks: Buffer[] | null = [];
  bodyBytes = 0;
  /** Body bytes counted against the connection's and server's buffer budgets. */
  bodyCounted = 0;
  /** When the last body DATA arrived (for the idle timeout). */
  lastDataAt = 0;
  declaredLength: number | null = null;
  remoteClosed = false;
  localClosed = false;
  headersSent = false;
  #closed = false;
  #listeners: StreamCloseListener[] = [];

  constructor(
    readonly id: number,
    readonly request: H2Request,
    private readonly host: StreamHost,
    sendWindow: number,
    recvWindow: number,
  ) {
    this.sendWindow = sendWindow;
    this.recvWindow = recvWindow;
    const cl = request.headers['content-length'];
    if (cl !== undefined && /^\d{1,15}$/.test(cl)) this.declaredLength = Number(cl);
  }

  get method(): string {
    return this.request.method;
  }

  get path(): string {
    return this.request.path;
  }

  /** True once the stream is gone (both halves done, reset, or the connection closed). */
  get closed(): boolean {
    return this.#closed;
  }

  respond(status: number, headers: Readonly<Record<string, string>> = {}, endStream = false): void {
    if (this.#closed || this.headersSent) return;
    this.headersSent = true;
    this.host.sendHeaders(this, status, headers, endStream);
  }

  /** Queues response bytes; false when they could not all leave at once (window or transport full). */
  write(data: Buffer): boolean {
    if (this.#closed || this.localClosed || this.endQueued) return false;
    if (!this.headersSent) this.respond(200);
    return this.host.sendData(this, data, false);
  }

  /** Finishes the response, after any queued data. */
  end(data?: Buffer): void {
    if (this.#closed || this.localClosed || this.endQueued) return;
    if (!this.headersSent) {
      if (!data || data.length === 0) {
        this.respond(200, {}, true);
        return;
      }
      this.respond(200);
    }
    this.host.sendData(this, data ?? EMPTY, true);
  }

  /** Abandons the stream with RST_STREAM. */
  reset(code: ErrorCode): void {
    if (this.#closed) return;
    this.host.resetStream(this, code);
  }

  /** Response bytes not yet handed to the kernel: this stream's queue plus the shared transport's. */
  buffered(): number {
    return this.pendingBytes + this.host.transportBuffered();
  }

  onClose(fn: StreamCloseListener): void {
    if (this.#closed) queueMicrotask(() => fn(null));
    else this.#listeners.push(fn);
  }

  /** Called by the connection exactly once. */
  markClosed(code: ErrorCode | null): void {
    if (this.#closed) return;
    this.#closed = true;
    this.pending.length = 0;
    this.pendingBytes = 0;
    this.bodyChunks = null;
    const ls = this.#listeners;
    this.#listeners = [];
    for (const fn of ls) fn(code);
  }
}

const EMPTY = Buffer.alloc(0);
