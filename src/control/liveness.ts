// A client whose machine vanishes (power loss, network gone) never closes its TCP
// connection; without probing, its node would look online for many minutes. HTTP/2
// PINGs, which Go's client answers by itself, find such sessions within a minute.

import type { H2ServerConnection } from '../http2/connection.js';

export interface LivenessOptions {
  intervalMs: number;
  timeoutMs: number;
}

export const DEFAULT_LIVENESS: LivenessOptions = { intervalMs: 30_000, timeoutMs: 15_000 };

export function watchLiveness(conn: H2ServerConnection, opts: LivenessOptions = DEFAULT_LIVENESS): void {
  let waiting: NodeJS.Timeout | null = null;
  const probe = () => {
    if (conn.closed || waiting) return;
    const timer = setTimeout(() => conn.destroy(new Error(`no answer to a ping within ${opts.timeoutMs} ms`)), opts.timeoutMs);
    const sent = conn.ping((err) => {
      clearTimeout(timer);
      if (waiting === timer) waiting = null;
      if (err && !conn.closed) conn.destroy(err);
    });
    if (sent) waiting = timer;
    else clearTimeout(timer);
  };
  const interval = setInterval(probe, opts.intervalMs);
  interval.unref();
  conn.onClose(() => {
    clearInterval(interval);
    if (waiting) clearTimeout(waiting);
  });
}
