// The map frame encoder's thread (encode-pool.ts): each frame in a block of its own, moved back.

import { serveBatches } from '../util/batch-worker.js';
import { encodeJob, type EncodeJob } from './encode-pool.js';

serveBatches(
  (j: EncodeJob) => encodeJob(j, true),
  (f) => [f.buffer as ArrayBuffer],
);
