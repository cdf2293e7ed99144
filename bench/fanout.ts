// One change, many streaming clients: a real server (SQLite) on loopback, N real clients
// over Noise + HTTP/2, then a node's endpoints change and we time, per client, how long
// until its netmap shows the new endpoints.

import fs from 'node:fs';
import inspector from 'node:inspector';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { startTestServer, type TestServer } from '../test/helpers/server.js';
import { endpointsFor, fixtureHostinfo, hostinfoFor, memory, ms, randomKey, stats, withTimeout, type MemorySnapshot, type Stats } from './common.js';
import { Fleet, type FleetReady, type FleetSetup, type WatchResult } from './fanout-clients.js';

export interface FanoutResult {
  clients: number;
  rounds: number;
  /** 'worker': clients on a worker thread (own event loop and heap); 'same-thread': clients share the server's event loop. */
  clientMode: 'worker' | 'same-thread';
  registerSeconds: number;
  streamSeconds: number;
  settleSeconds: number;
  /** Change → client netmap shows it, over all clients and rounds. */
  latency: Stats & { p50: number };
  /** Per round: the slowest client. */
  roundMaxMs: number[];
  /** Clients that did not see a change within the round's time limit (all rounds). */
  missed: number;
  /** Longest event-loop stall of the server's thread during the rounds. */
  serverLoopDelayMaxMs: number;
  memoryBeforeServer: MemorySnapshot;
  /** Process memory with all streams open; heap figures are the server thread's isolate. */
  memoryWithStreams: MemorySnapshot;
  /** The client fleet's own heap (worker mode only). */
  clientHeap: MemorySnapshot | null;
}

interface Driver {
  setup(s: FleetSetup): Promise<FleetReady>;
  /** Resolves once the clients are listening; `done` resolves with the observations. */
  watch(targetId: number, marker: string, timeoutMs: number): Promise<{ done: Promise<WatchResult> }>;
  clientMemory(): Promise<MemorySnapshot | null>;
  /** CPU profile of the client fleet's own thread (worker mode only). */
  profileStart(): Promise<void>;
  profileStop(): Promise<unknown>;
  close(): Promise<void>;
}

function sameThreadDriver(): Driver {
  const fleet = new Fleet();
  return {
    setup: (s) => fleet.setup(s),
    watch: async (t, m, to) => ({ done: fleet.watch(t, m, to) }),
    clientMemory: async () => null,
    profileStart: async () => {},
    profileStop: async () => null,
    close: async () => fleet.close(),
  };
}

function workerDriver(): Driver {
  const url = new URL('./fanout-clients.js', import.meta.url);
  // A thousand netmaps of a thousand peers each need more than the default old space.
  // 1,000 simulated machines share one heap (~1.7 GiB of netmaps); a larger young
  // generation keeps the per-frame garbage out of that heap's collections, which
  // otherwise take ~40 % of the fleet's time and would be charged to the server.
  const w = new Worker(url, {
    workerData: { switchboardFleet: true },
    resourceLimits: { maxOldGenerationSizeMb: 12_000, maxYoungGenerationSizeMb: 512 },
  });
  // Replies arrive in order of the commands; each waiting call takes the next one.
  const waiting: { resolve: (v: unknown) => void; reject: (e: Error) => void }[] = [];
  w.on('message', (m: { ok: boolean; value?: unknown; error?: string }) => {
    const next = waiting.shift();
    if (!next) return;
    if (m.ok) next.resolve(m.value);
    else next.reject(new Error(`client worker: ${m.error}`));
  });
  w.on('error', (err) => {
    for (const x of waiting.splice(0)) x.reject(err);
  });
  const call = <T>(msg: unknown): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      waiting.push({ resolve: resolve as (v: unknown) => void, reject });
      w.postMessage(msg);
    });
  const later = <T>(): Promise<T> =>
    new Promise<T>((resolve, reject) => waiting.push({ resolve: resolve as (v: unknown) => void, reject }));
  return {
    setup: (setup) => call<FleetReady>({ cmd: 'setup', setup }),
    watch: async (targetId, marker, timeoutMs) => {
      const armed = call<string>({ cmd: 'watch', targetId, marker, timeoutMs });
      const done = later<WatchResult>();
      await armed;
      return { done };
    },
    clientMemory: () => call<MemorySnapshot>({ cmd: 'memory' }),
    profileStart: async () => {
      await call<unknown>({ cmd: 'profileStart' });
    },
    profileStop: () => call<unknown>({ cmd: 'profileStop' }),
    close: async () => {
      await withTimeout(call<null>({ cmd: 'close' }), 10_000, 'closing clients').catch(() => {});
      await w.terminate();
    },
  };
}

/** Profiles this thread through the inspector, so setup (register, stream start) stays out of the profile. */
async function startProfile(): Promise<{ stop(): Promise<unknown> }> {
  const session = new inspector.Session();
  session.connect();
  const post = (method: string, params?: object) =>
    new Promise<unknown>((resolve, reject) => session.post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res))));
  await post('Profiler.enable');
  await post('Profiler.start');
  return {
    stop: async () => {
      const { profile } = (await post('Profiler.stop')) as { profile: unknown };
      session.disconnect();
      return profile;
    },
  };
}

const sleep = (n: number) => new Promise((r) => setTimeout(r, n));

export async function benchFanout(opts: {
  clients: number;
  rounds?: number;
  concurrency?: number;
  sameThread?: boolean;
  /** Writes a CPU profile of the server thread covering only the change rounds. */
  cpuProfileFile?: string;
  log?: (m: string) => void;
}): Promise<FanoutResult> {
  const rounds = Math.max(5, opts.rounds ?? 10);
  const log = opts.log ?? (() => {});
  const count = opts.clients;
  const memoryBeforeServer = memory();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-fanout-'));
  let srv: TestServer | null = null;
  const driver = opts.sameThread ? sameThreadDriver() : workerDriver();
  try {
    // The whole fleet shares one address, as no real tailnet does: per-address limits off.
    srv = await startTestServer({ type: 'sqlite', path: path.join(dir, 'db.sqlite') }, (c) => {
      c.limits.max_connections_per_address = 0;
      c.limits.handshakes_per_second_per_address = 0;
      c.limits.handshakes_per_second = 0;
    }, dir);
    const tailnet = srv.server.tailnet;
    const user = await tailnet.createUser({ name: 'bench' });
    const key = await tailnet.createPreAuthKey({ userId: user.id, reusable: true, ephemeral: false, expiration: null, tags: [] });
    // The node that changes has no client of its own, so all N clients observe it.
    const target = await tailnet.addNode({
      machineKey: randomKey('mkey'),
      nodeKey: randomKey('nodekey'),
      discoKey: randomKey('discokey'),
      endpoints: endpointsFor(999_999),
      hostinfo: hostinfoFor(999_999),
      hostname: 'changing',
      userId: user.id,
      registerMethod: 'authkey',
      tags: [],
      authKeyId: null,
      ephemeral: false,
      expiry: null,
      lastSeen: null,
      approvedRoutes: [],
    });
    // Nodes already in the database (the bootstrap creates none with a user yet) plus the target.
    const expectPeers = tailnet.nodeCount() + count - 1;
    const ready = await driver.setup({
      url: srv.url,
      authKey: key.key,
      count,
      concurrency: opts.concurrency ?? 50,
      hostinfo: fixtureHostinfo(),
      expectPeers,
      timeoutMs: 600_000,
    });
    log(`  ${count} clients: registered in ${ready.registerSeconds.toFixed(1)} s, streams in ${ready.streamSeconds.toFixed(1)} s, settled in ${ready.settleSeconds.toFixed(1)} s`);
    if (srv.server.sessionCount !== count) throw new Error(`expected ${count} map sessions, server has ${srv.server.sessionCount}`);
    await sleep(500);

    const latencies: number[] = [];
    const roundMaxMs: number[] = [];
    let missed = 0;
    // Enabled once for all rounds: re-enabling counts the paused time as one long stall.
    const loop = monitorEventLoopDelay({ resolution: 1 });
    loop.enable();
    const profiler = opts.cpuProfileFile ? await startProfile() : null;
    if (opts.cpuProfileFile) await driver.profileStart();
    for (let r = 0; r < rounds; r++) {
      const eps = endpointsFor(999_999, 50_000 + r);
      const { done } = await driver.watch(target.id, eps[0]!, 10_000);
      const t0 = process.hrtime.bigint();
      await tailnet.updateNode(target.id, { endpoints: eps }, { endpoints: true });
      const { seenAt } = await done;
      let worst = 0;
      for (const t of seenAt) {
        if (t === null) {
          missed++;
          continue;
        }
        const l = ms(BigInt(t) - t0);
        latencies.push(l);
        worst = Math.max(worst, l);
      }
      roundMaxMs.push(worst);
      log(`  round ${r + 1}: slowest client ${worst.toFixed(1)} ms`);
      await sleep(300); // lets keep-alive timers and GC settle between changes
    }
    loop.disable();
    if (profiler && opts.cpuProfileFile) {
      fs.writeFileSync(opts.cpuProfileFile, JSON.stringify(await profiler.stop()));
      log(`  CPU profile of the rounds: ${opts.cpuProfileFile}`);
      const fleetProfile = await driver.profileStop();
      if (fleetProfile) {
        const f = opts.cpuProfileFile.replace(/\.cpuprofile$/, '') + '-clients.cpuprofile';
        fs.writeFileSync(f, JSON.stringify(fleetProfile));
        log(`  CPU profile of the client fleet's thread: ${f}`);
      }
    }
    const memoryWithStreams = memory();
    const clientHeap = await driver.clientMemory();
    const s = stats(latencies);
    return {
      clients: count,
      rounds,
      clientMode: opts.sameThread ? 'same-thread' : 'worker',
      registerSeconds: ready.registerSeconds,
      streamSeconds: ready.streamSeconds,
      settleSeconds: ready.settleSeconds,
      latency: { ...s, p50: s.median },
      roundMaxMs,
      missed,
      serverLoopDelayMaxMs: loop.max / 1e6,
      memoryBeforeServer,
      memoryWithStreams,
      clientHeap,
    };
  } finally {
    await driver.close().catch(() => {});
    await srv?.stop().catch(() => {});
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
