// Incremental DERP frame parser over a byte stream. The payload limit is decided from the
// header alone, before anything is buffered, so an oversized frame is refused without
// reading it; frames the server ignores are skipped without being buffered at all.

import { HEADER_LEN } from './frames.js';

export class FrameError extends Error {}

/** What to do with a frame, given its header: read it, skip its payload, or refuse (a reason). */
export type FrameDecision = 'read' | 'skip' | { refuse: string };

export class FrameReader {
  private chunks: Buffer[] = [];
  /** Read position in chunks[0]. */
  private off = 0;
  private buffered = 0;
  private skipLeft = 0;
  private stopped = false;

  constructor(
    private readonly decide: (type: number, len: number) => FrameDecision,
    /** The payload is only valid during the call: copy what must outlive it. */
    private readonly onFrame: (type: number, payload: Buffer) => void,
  ) {}

  /** Stops parsing: later chunks and frames still buffered are ignored. */
  stop(): void {
    this.stopped = true;
    this.chunks = [];
    this.buffered = 0;
  }

  /** Bytes held for a frame not complete yet. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** Feeds bytes; throws FrameError when a frame is refused. */
  push(chunk: Buffer): void {
    if (this.stopped || chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    while (!this.stopped) {
      if (this.skipLeft > 0) {
        const n = Math.min(this.skipLeft, this.buffered);
        this.consume(n);
        this.skipLeft -= n;
        if (this.skipLeft > 0) return;
      }
      if (this.buffered < HEADER_LEN) return;
      const h = this.peek(HEADER_LEN);
      const type = h[0]!;
      const len = h.readUInt32BE(1);
      const d = this.decide(type, len);
      if (typeof d === 'object') {
        this.stop();
        throw new FrameError(d.refuse);
      }
      if (d === 'skip') {
        this.consume(HEADER_LEN);
        this.skipLeft = len;
        continue;
      }
      if (this.buffered < HEADER_LEN + len) return;
      this.consume(HEADER_LEN);
      const payload = this.take(len);
      this.onFrame(type, payload);
    }
  }

  /** The next n bytes without consuming them (n <= buffered). */
  private peek(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0]!;
    if (first.length - this.off >= n) return first.subarray(this.off, this.off + n);
    const out = Buffer.allocUnsafe(n);
    let got = 0;
    let off = this.off;
    for (const c of this.chunks) {
      const k = Math.min(n - got, c.length - off);
      c.copy(out, got, off, off + k);
      got += k;
      off = 0;
      if (got === n) break;
    }
    return out;
  }

  /** Consumes and returns n bytes: a view when they lie in one chunk, else a copy. */
  private take(n: number): Buffer {
    const out = this.peek(n);
    this.consume(n);
    return out;
  }

  private consume(n: number): void {
    this.buffered -= n;
    while (n > 0) {
      const first = this.chunks[0]!;
      const avail = first.length - this.off;
      if (n < avail) {
        this.off += n;
        return;
      }
      n -= avail;
      this.chunks.shift();
      this.off = 0;
    }
    if (this.chunks.length > 0 && this.off === this.chunks[0]!.length) {
      this.chunks.shift();
      this.off = 0;
    }
  }
}
