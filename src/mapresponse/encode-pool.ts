// Map frames encoded (zstd) on worker threads. In a join storm every team peer of a new
// node gets its own delta (its packet filter lists its own addresses, so no two are alike),
// and after a restart every node a first map of all its peers: compressing them was a tenth
// of the server's thread; here it runs on another core. A frame comes back later than it was
// asked for: MapSession keeps each stream's frames in order.

import { BatchWorkerPool } from '../util/batch-worker.js';
import { encodeFrame, type Compression } from './encode.js';

export interface EncodeJob {
  json: string | Uint8Array;
  compression: Compression;
}

export interface FrameEncoderOptions {
  /** Worker threads; 0 encodes every frame on the calling thread, synchronously. */
  workers: number;
  /** A worker failed; its frames and all later ones are encoded on the calling thread. */
  onWorkerError?(err: Error): void;
}

/** Encodes one frame; the same code on either thread. */
export const encodeJob = (j: EncodeJob, unpooled = false): Uint8Array => encodeFrame(j.json, j.compression, unpooled);

const asBuffer = (u: Uint8Array): Buffer => (Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength));

/** What a map session needs of an encoder: the frame, now or later, always on this thread. */
export interface FrameEncoding {
  encode(json: string | Uint8Array, compression: Compression, done: (frame: Buffer) => void): void;
}

export class FrameEncoder implements FrameEncoding {
  private readonly pool: BatchWorkerPool<EncodeJob, Uint8Array>;

  constructor(opts: FrameEncoderOptions) {
    this.pool = new BatchWorkerPool({
      name: 'map frame encoder',
      workers: opts.workers,
      workerURL: new URL('./encode-worker.js', import.meta.url),
      local: (j) => encodeJob(j),
      onWorkerError: opts.onWorkerError,
    });
  }

  /** Frames asked for and not encoded yet. */
  get inFlight(): number {
    return this.pool.inFlight;
  }

  /** Encodes `json`; `done` gets the frame on this thread (at once when no worker serves the encoder). */
  encode(json: string | Uint8Array, compression: Compression, done: (frame: Buffer) => void): void {
    this.pool.run({ json, compression }, (f) => done(asBuffer(f)));
  }

  close(): void {
    this.pool.close();
  }
}
