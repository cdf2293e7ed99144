// What the control protocol counts for Prometheus. The composition root creates the
// counters in its registry; the control code only increments them.

import type { Counter } from '../metrics/registry.js';

export interface ControlMetrics {
  /** result: ok | refused */
  registrations: Counter;
  /** kind: lite | stream | oneshot */
  mapRequests: Counter;
  /** Frames and bytes written to map streams (keep-alives included). */
  mapFrames: Counter;
  mapBytes: Counter;
}
