// A client whose machine vanishes (power loss, network gone) never closes its TCP
// connection; without probing, its node would look online for many minutes. HTTP/2
// PINGs, which Go's client answers by itself, find such sessions within a minute.

import type { ServerHttp2Session } from 'node:http2';

export interface LivenessOptions {
  intervalMs: number;
  timeoutMs: number;
}

export const DEFAULT_LIVENESS: LivenessOptions = { intervalMs: 30_000, timeoutMs: 15_000 };

export function watchLiveness(session: ServerHttp2Session, opts: LivenessOptions = DEFAULT_LIVENESS): void {
  let waiting: NodeJS.Timeout | null = null;
  const probe = () => {
    if (session.destroyed || session.closed || waiting) return;
    waiting = setTimeout(() => session.destroy(new Error(`no answer to a ping within ${opts.timeoutMs} ms`)), opts.timeoutMs);
    const sent = session.ping((err) => {
      if (waiting) clearTimeout(waiting);
      waiting = null;
      if (err && !session.destroyed) session.destroy(err);
    });
    if (!sent && waiting) {
      clearTimeout(waiting);
      waiting = null;
    }
  };
  const timer = setInterval(probe, opts.intervalMs);
  timer.unref();
  session.once('close', () => {
    clearInterval(timer);
    if (waiting) clearTimeout(waiting);
  });
}
