// Ephemeral nodes disappear once they have been offline longer than
// ephemeral_node_inactivity_timeout (headscale's semantics).

import type { Tailnet } from '../state/tailnet.js';

/** `leads`: false on an instance that is not the elected one (several instances on one database). */
export function startEphemeralCollector(tailnet: Tailnet, timeoutMs: number, log: (msg: string) => void, leads: () => boolean = () => true): () => void {
  if (timeoutMs <= 0) return () => {};
  const sweep = () => {
    if (!leads()) return;
    const now = Date.now();
    for (const n of [...tailnet.allNodes()]) {
      if (!n.ephemeral || tailnet.isOnline(n.id)) continue;
      const since = (n.lastSeen ?? n.updatedAt).getTime();
      if (now - since < timeoutMs) continue;
      tailnet.removeNode(n.id).then(
        () => log(`removed ephemeral node ${n.givenName} after ${Math.round((now - since) / 1000)} s offline`),
        (err: Error) => log(`could not remove ephemeral node ${n.givenName}: ${err.message}`),
      );
    }
  };
  const timer = setInterval(sweep, Math.min(timeoutMs, 60_000));
  timer.unref();
  return () => clearInterval(timer);
}
