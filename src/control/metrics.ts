// What the control protocol counts for Prometheus. The composition root creates the
// metrics in its registry; the control code only increments them.

import type { Counter } from '../metrics/registry.js';
import type { StreamMetrics } from './sessions.js';

export interface ControlMetrics {
  /** result: ok | refused */
  registrations: Counter;
  /** method: authkey | none (re-registration, logout, web login); result: ok | refused */
  registrationsByMethod: Counter;
  /** kind: lite | stream | oneshot */
  mapRequests: Counter;
  /** Frames and bytes written to map streams (keep-alives included). */
  mapFrames: Counter;
  mapBytes: Counter;
  /** Per frame written to a map stream: its type, and how long after the change it went out. */
  stream?: StreamMetrics;
}
