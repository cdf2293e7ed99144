// The client side of the fan-out benchmark: a fleet of real TailscaleClients (Noise,
// HTTP/2, zstd) that register, stream, and report when each one's netmap shows a change.
// Runs either in the caller's thread or as a worker thread (its own event loop and heap).

import inspector from 'node:inspector';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { TailscaleClient } from '../src/client/client.js';
import type { NetMap } from '../src/client/netmap.js';
import type { Hostinfo } from '../src/tailcfg/types.js';
import { endpointsFor, memory, pool, withTimeout, type MemorySnapshot } from './common.js';

export interface FleetSetup {
  url: string;
  authKey: string;
  count: number;
  concurrency: number;
  hostinfo: Hostinfo;
  /** Peers every client must see before the fleet counts as settled (its own count excluded). */
  expectPeers: number;
  timeoutMs: number;
}

export interface FleetReady {
  registerSeconds: number;
  streamSeconds: number;
  settleSeconds: number;
  memory: MemorySnapshot;
}

export interface WatchResult {
  /** process.hrtime.bigint() at which each client's netmap showed the change; null if it did not in time. */
  seenAt: (bigint | null)[];
}

export class Fleet {
  readonly clients: TailscaleClient[] = [];

  async setup(s: FleetSetup): Promise<FleetReady> {
    const t0 = performance.now();
    for (let i = 0; i < s.count; i++) {
      const c = new TailscaleClient({ serverUrl: s.url, hostname: `bench${i}` });
      c.hostinfo = { ...s.hostinfo, Hostname: `bench${i}`, BackendLogID: c.hostinfo.BackendLogID };
      c.endpoints = endpointsFor(i);
      this.clients.push(c);
    }
    await withTimeout(
      pool(s.count, s.concurrency, async (i) => {
        const r = await this.clients[i]!.register({ authKey: s.authKey });
        if (!r.MachineAuthorized) throw new Error(`client ${i} not authorized: ${r.Error}`);
      }),
      s.timeoutMs,
      'registering clients',
    );
    const t1 = performance.now();
    await withTimeout(
      pool(s.count, s.concurrency, async (i) => {
        await this.clients[i]!.startStream();
      }),
      s.timeoutMs,
      'starting streams',
    );
    const t2 = performance.now();
    // Settled: every client has the full peer list with every other client online, so
    // the online patches of the stream starts are no longer in flight.
    const settled = (nm: NetMap) => {
      if (nm.peers.size < s.expectPeers) return false;
      let online = 0;
      for (const p of nm.peers.values()) if (p.Online) online++;
      return online >= s.count - 1;
    };
    await withTimeout(
      Promise.all(this.clients.map((c) => c.waitFor(settled, s.timeoutMs, 'all peers online'))),
      s.timeoutMs,
      'settling',
    );
    const t3 = performance.now();
    return { registerSeconds: (t1 - t0) / 1000, streamSeconds: (t2 - t1) / 1000, settleSeconds: (t3 - t2) / 1000, memory: memory() };
  }

  /**
   * Arms every client to note when peer `targetId` shows `marker` among its endpoints.
   * Returns a promise for the result, settled when all saw it or after timeoutMs.
   */
  watch(targetId: number, marker: string, timeoutMs: number): Promise<WatchResult> {
    const seenAt: (bigint | null)[] = this.clients.map(() => null);
    let left = this.clients.length;
    return new Promise((resolve) => {
      const offs: (() => void)[] = [];
      const finish = () => {
        clearTimeout(timer);
        for (const off of offs) off();
        resolve({ seenAt });
      };
      const timer = setTimeout(finish, timeoutMs);
      this.clients.forEach((c, i) => {
        const onMap = () => {
          if (seenAt[i] !== null) return;
          if (!c.netmap.peers.get(targetId)?.Endpoints?.includes(marker)) return;
          seenAt[i] = process.hrtime.bigint();
          c.off('map', onMap);
          if (--left === 0) finish();
        };
        c.on('map', onMap);
        offs.push(() => c.off('map', onMap));
      });
    });
  }

  close(): void {
    for (const c of this.clients) c.close();
  }
}

// Worker mode: the main thread drives the fleet with messages.
type Command =
  | { cmd: 'setup'; setup: FleetSetup }
  | { cmd: 'watch'; targetId: number; marker: string; timeoutMs: number }
  | { cmd: 'memory' }
  | { cmd: 'profileStart' }
  | { cmd: 'profileStop' }
  | { cmd: 'close' };

/** The fleet's own CPU profile (this isolate only), to see what the clients cost. */
function profiler(): { start(): Promise<unknown>; stop(): Promise<unknown> } {
  const session = new inspector.Session();
  const post = (method: string, params?: object) =>
    new Promise<unknown>((resolve, reject) => session.post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res))));
  return {
    start: async () => {
      session.connect();
      await post('Profiler.enable');
      return post('Profiler.start');
    },
    stop: async () => {
      const { profile } = (await post('Profiler.stop')) as { profile: unknown };
      session.disconnect();
      return profile;
    },
  };
}

if (!isMainThread && (workerData as { switchboardFleet?: boolean } | null)?.switchboardFleet) {
  const fleet = new Fleet();
  const prof = profiler();
  const port = parentPort!;
  port.on('message', (m: Command) => {
    const reply = (p: Promise<unknown>) =>
      p.then(
        (value) => port.postMessage({ ok: true, value }),
        (err: Error) => port.postMessage({ ok: false, error: err.stack ?? String(err) }),
      );
    switch (m.cmd) {
      case 'setup':
        reply(fleet.setup(m.setup));
        break;
      case 'watch': {
        const done = fleet.watch(m.targetId, m.marker, m.timeoutMs);
        port.postMessage({ ok: true, value: 'armed' }); // the main thread changes the node only after this
        reply(done);
        break;
      }
      case 'memory':
        reply(Promise.resolve(memory()));
        break;
      case 'profileStart':
        reply(prof.start());
        break;
      case 'profileStop':
        reply(prof.stop());
        break;
      case 'close':
        fleet.close();
        reply(Promise.resolve(null));
        break;
    }
  });
}
