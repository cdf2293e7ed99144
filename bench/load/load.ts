// The load benchmark's coordinator: starts `switchboard serve` as a child process, spreads
// the simulated nodes over worker threads, runs the profiles and turns the workers'
// observation logs into latencies.
//
// The tailnet looks like a real one of its size: nodes belong to users ("teams") of
// --group-size nodes each and the policy lets a team reach itself, so each node streams a
// netmap of its team (a full mesh of 10,000 would be 10,000 maps of 10,000 peers, 13 MB
// each, which no tailnet of that size runs). `--group-size N` with N ≥ --nodes is a full mesh.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { fixtureHostinfo, percentile, repoRoot } from '../common.js';
import { now } from './node.js';
import { LoadServer, procSample, type ProcSample, type ServerLimits } from './server.js';
import type { StepResult, WorkerCommand } from './worker.js';

export const PROFILES = ['join-storm', 'steady', 'rolling', 'policy', 'slow-readers', 'server-restart', 'server-restart-term'] as const;
export type Profile = (typeof PROFILES)[number];

export interface LoadOptions {
  nodes: number;
  groupSize?: number;
  workers?: number;
  profiles?: readonly Profile[];
  /** Length of the steady phase. */
  steadySeconds?: number;
  /** Endpoint changes per second over the whole tailnet in the steady phase. */
  churnPerSecond?: number;
  /** Nodes that join at once in the join storm. */
  storm?: number;
  /** Nodes that stop reading in the slow-readers profile. */
  slowReaders?: number;
  /** The server's global admission limits (default 'fleet': above the fleet; 'default': as shipped). */
  serverLimits?: ServerLimits;
  /** A checkout (with dist/) whose server to run instead of this one's (--server-root), to compare builds. */
  serverRoot?: string;
  /** Extra node flags for the server process (e.g. --cpu-prof). */
  serverNodeArgs?: string[];
  log?: (m: string) => void;
}

export interface Latency {
  n: number;
  p50: number;
  p99: number;
  max: number;
  /** Expected observations that never came. */
  missed: number;
}

export interface PhaseServer {
  seconds: number;
  cpuPercent: number;
  /** The load generator's process (all its threads) over the same time, for comparison. */
  generatorCpuPercent: number;
  rssStartMB: number;
  rssPeakMB: number;
  rssEndMB: number;
}

export interface LoadResult {
  nodes: number;
  groupSize: number;
  groups: number;
  workers: number;
  serverLimits: ServerLimits;
  loadAverage: { start: number[]; end: number[] };
  setup: { registerSeconds: number; streamSeconds: number; steadySeconds: number; firstMapMs: Latency; steadyNodes: number; server: PhaseServer };
  /** visibleAtAllPeersMs is timed from the register request; dialMs is the Noise/HTTP/2 dial before it. */
  /** registerMs: the register request answered; afterRegisterMs: from that answer to visible at all peers. */
  /** fromDialMs: from the joiner's first dial attempt to visible at all peers (what `tailscale up` waits for). */
  joinStorm?: { joiners: number; seconds: number; visibleAtAllPeersMs: Latency; dialMs: Latency; registerMs: Latency; afterRegisterMs: Latency; fromDialMs: Latency; firstMapMs: Latency; failed: number; server: PhaseServer };
  steady?: {
    seconds: number;
    endpointChanges: number;
    endpointToAllPeersMs: Latency;
    perNodePerMinute: { frames: number; bytes: number; keepalives: number; deltas: number };
    server: PhaseServer;
  };
  rolling?: { restarted: number; firstMapMs: Latency; backToSteadySeconds: number; server: PhaseServer };
  /** probeMs: a GET /key answered by the server meanwhile (every 10 ms, one at a time): how long the event loop was held. */
  /** Times from the PUT request; putMs until its answer (checked off-thread, compiled, stored). */
  policy?: { reloadToAllNodesMs: Latency; putMs: number; firstNodeMs: number; probeMs: Latency; server: PhaseServer };
  slowReaders?: { stopped: number; seconds: number; rssBeforeMB: number; rssPeakMB: number; rssEndMB: number; server: PhaseServer };
  /** SIGKILL (a crash). */
  serverRestart?: ServerRestart;
  /** SIGTERM (a graceful stop: `systemctl restart`). */
  serverRestartTerm?: ServerRestart;
  final: { serverRssMB: number; serverRssPerNodeKB: number; serverFds: number; generatorRssMB: number; digestEntries: number };
}

export interface ServerRestart {
  signal: 'SIGKILL' | 'SIGTERM';
  /** From the signal until the old process was gone. */
  stopSeconds: number;
  /** From the new process' spawn until its control port took a TCP connection. */
  listenSeconds: number;
  /** From the new process' spawn until it answered /health. */
  startSeconds: number;
  killToSteadySeconds: number;
  upToSteadySeconds: number;
  steadyNodes: number;
  reconnectFirstMapMs: Latency;
  /** When each node had its first map again, seconds after the new server answered (negative: before). */
  streamUpAfterUpSeconds: Latency;
  /** The nodes' dials from the signal until steady, by outcome. */
  dials: { connected: number; refused: number; timedOut: number; failed: number };
  /** The generator threads' worst event-loop delay meanwhile (p99, max): how far its own timers ran late. */
  generatorLoopDelayMs: { p99Ms: number; maxMs: number };
  /** What the nodes were doing when the wait ended (streaming, waiting-first-map, reconnect-scheduled, idle). */
  nodePhases: Record<string, number>;
  server: PhaseServer;
}

function latency(samples: number[], missed = 0): Latency {
  return { n: samples.length, p50: percentile(samples, 50), p99: percentile(samples, 99), max: samples.length ? Math.max(...samples) : NaN, missed };
}

/** Request/reply over one worker; replies carry the request's id. */
class FleetWorker {
  private readonly w: Worker;
  private next = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  constructor() {
    this.w = new Worker(new URL('./worker.js', import.meta.url), {
      workerData: { switchboardLoad: true },
      resourceLimits: { maxOldGenerationSizeMb: 4096, maxYoungGenerationSizeMb: 128 },
    });
    this.w.on('message', (msg: { id: number; ok: boolean; value?: unknown; error?: string }) => {
      const p = this.waiting.get(msg.id);
      if (!p) return;
      this.waiting.delete(msg.id);
      if (msg.ok) p.resolve(msg.value);
      else p.reject(new Error(`load worker: ${msg.error}`));
    });
    this.w.on('error', (err) => {
      for (const p of this.waiting.values()) p.reject(err);
      this.waiting.clear();
    });
  }

  call<T>(m: WorkerCommand): Promise<T> {
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.w.postMessage({ id, m });
    });
  }

  terminate(): Promise<number> {
    return this.w.terminate();
  }
}

interface Logs {
  peerSeen: number[];
  endpointSeen: number[];
  endpointSent: number[];
  filterSeen: number[];
}

/** Samples the server process once a second; `phase()` summarises since the last call. */
class Sampler {
  private timer: NodeJS.Timeout;
  private startAt = performance.now();
  private start: ProcSample;
  private genStart = procSample(process.pid).cpuSeconds;
  private peak = 0;
  constructor(private readonly srv: LoadServer) {
    this.start = procSample(srv.pid);
    this.timer = setInterval(() => this.sample(), 1000);
  }

  private sample(): ProcSample | null {
    try {
      const s = procSample(this.srv.pid);
      this.peak = Math.max(this.peak, s.rssMB);
      return s;
    } catch {
      return null; // between a stop and a start
    }
  }

  /** Starts a new phase (after a server restart, from the new process). */
  reset(): void {
    this.start = procSample(this.srv.pid);
    this.startAt = performance.now();
    this.peak = this.start.rssMB;
  }

  phase(): PhaseServer {
    const end = this.sample() ?? this.start;
    const seconds = (performance.now() - this.startAt) / 1000;
    const gen = procSample(process.pid).cpuSeconds;
    const r: PhaseServer = {
      seconds,
      cpuPercent: ((end.cpuSeconds - this.start.cpuSeconds) / Math.max(seconds, 1e-3)) * 100,
      generatorCpuPercent: ((gen - this.genStart) / Math.max(seconds, 1e-3)) * 100,
      rssStartMB: this.start.rssMB,
      rssPeakMB: Math.max(this.peak, end.rssMB),
      rssEndMB: end.rssMB,
    };
    this.start = end;
    this.genStart = gen;
    this.startAt = performance.now();
    this.peak = end.rssMB;
    return r;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function benchLoad(o: LoadOptions): Promise<LoadResult> {
  const log = o.log ?? (() => {});
  const n = o.nodes;
  const groupSize = Math.min(o.groupSize ?? 100, n);
  const groups = Math.ceil(n / groupSize);
  const workerCount = Math.max(1, o.workers ?? 2);
  const profiles = new Set(o.profiles ?? PROFILES);
  const storm = profiles.has('join-storm') ? Math.min(o.storm ?? Math.max(1, Math.round(n / 10)), n - 1) : 0;
  const group = (idx: number) => Math.floor(idx / groupSize);
  const loadStart = os.loadavg();

  const fdLimit = /^Max open files\s+(\d+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'))?.[1];
  if (fdLimit && Number(fdLimit) < n + 512) {
    throw new Error(`open-file limit ${fdLimit} is below ${n} connections plus room: raise it (ulimit -n ${n + 1024}) first`);
  }

  const serverLimits = o.serverLimits ?? 'fleet';
  const srv = new LoadServer(o.serverRoot ?? repoRoot(), { maxConnections: n + 1024, nodeArgs: o.serverNodeArgs, limits: serverLimits });
  const workers: FleetWorker[] = [];
  let sampler: Sampler | null = null;
  const all = <T>(m: WorkerCommand | ((w: number) => WorkerCommand)) => Promise.all(workers.map((w, i) => w.call<T>(typeof m === 'function' ? m(i) : m)));
  const byWorker = (idxs: number[]) => workers.map((_, w) => idxs.filter((i) => i % workerCount === w));
  const merge = (rs: StepResult[]) => ({
    ok: rs.reduce((a, r) => a + r.ok, 0),
    failed: rs.reduce((a, r) => a + r.failed, 0),
    firstError: rs.find((r) => r.firstError)?.firstError ?? null,
    firstMapMs: rs.flatMap((r) => r.firstMapMs),
    joinedAt: rs.flatMap((r) => r.joinedAt),
    seconds: Math.max(...rs.map((r) => r.seconds)),
  });
  const run = async (cmd: 'register' | 'stream' | 'join' | 'restart', idxs: number[], concurrency: number) => {
    const parts = byWorker(idxs);
    const r = merge(await all<StepResult>((w) => ({ cmd, idxs: parts[w]!, concurrency })));
    if (r.failed) log(`  ${cmd}: ${r.failed} of ${idxs.length} failed, first: ${r.firstError}`);
    return r;
  };
  const takeLogs = async (): Promise<Logs> => {
    const ls = await all<Logs>({ cmd: 'take' });
    return {
      peerSeen: ls.flatMap((l) => l.peerSeen),
      endpointSeen: ls.flatMap((l) => l.endpointSeen),
      endpointSent: ls.flatMap((l) => l.endpointSent),
      filterSeen: ls.flatMap((l) => l.filterSeen),
    };
  };

  try {
    await srv.start();
    const serverKey = await srv.serverKey();
    log(`  server pid ${srv.pid} on ${srv.url}; ${n} nodes in ${groups} teams of ${groupSize}, ${workerCount} generator threads`);
    const keys: string[] = [];
    for (let g = 0; g < groups; g++) {
      await srv.api('POST', '/api/v1/user', { name: `team${g}` });
      const r = await srv.api<{ preAuthKey: { key: string } }>('POST', '/api/v1/preauthkey', { user: `team${g}`, reusable: true });
      keys.push(r.preAuthKey.key);
    }
    const policy = (ports: string) =>
      JSON.stringify({ acls: Array.from({ length: groups }, (_, g) => ({ action: 'accept', src: [`team${g}@`], dst: [`team${g}@:${ports}`] })) });
    await srv.api('PUT', '/api/v1/policy', { policy: policy('*') });

    for (let w = 0; w < workerCount; w++) workers.push(new FleetWorker());
    const hostinfo = fixtureHostinfo();
    await all((w) => ({
      cmd: 'init',
      url: srv.url,
      serverKey,
      hostinfo,
      nodes: Array.from({ length: n }, (_, i) => i)
        .filter((i) => i % workerCount === w)
        .map((idx) => ({ idx, authKey: keys[group(idx)]! })),
    }));
    sampler = new Sampler(srv);

    // Setup: the nodes that are there before the profiles, registered then streaming.
    // The storm's joiners are the last `storm` indices, spread over all teams.
    const stormIdx = new Set<number>();
    for (let k = 0; k < storm; k++) stormIdx.add(Math.floor(((k + 0.5) * n) / storm));
    const base = Array.from({ length: n }, (_, i) => i).filter((i) => !stormIdx.has(i));
    /** Nodes that stream and read; `registered` also holds the slow readers. */
    const live = new Set(base);
    const registered = new Set(base);
    const expected = (w: number) => {
      const count = (set: Set<number>) => {
        const m = new Map<number, number>();
        for (const i of set) m.set(group(i), (m.get(group(i)) ?? 0) + 1);
        return m;
      };
      const peers = count(registered);
      const online = count(live);
      const e: Record<number, [number, number]> = {};
      for (const i of live) if (i % workerCount === w) e[i] = [peers.get(group(i))! - 1, online.get(group(i))! - 1];
      return e;
    };
    const steady = (timeoutMs: number) =>
      all<{ steady: number; of: number; at: number; reconnectMapMs: number[]; phases: Record<string, number>; upAt: number[] }>((w) => ({ cmd: 'steady', expected: expected(w), timeoutMs }));
    const perWorker = 16;
    const reg = await run('register', base, perWorker);
    log(`  registered ${reg.ok} in ${reg.seconds.toFixed(1)} s`);
    const str = await run('stream', base, perWorker);
    log(`  ${str.ok} streams in ${str.seconds.toFixed(1)} s, first map p50 ${percentile(str.firstMapMs, 50).toFixed(1)} ms`);
    const t0 = now();
    const st = await steady(300_000);
    const steadyNodes = st.reduce((a, s) => a + s.steady, 0);
    const setupSteady = (Math.max(...st.map((s) => s.at)) - t0) / 1000;
    log(`  steady: ${steadyNodes} of ${base.length} nodes see their whole team online (${setupSteady.toFixed(1)} s after the last stream)`);
    const result: LoadResult = {
      nodes: n,
      groupSize,
      groups,
      workers: workerCount,
      serverLimits,
      loadAverage: { start: loadStart, end: [] },
      setup: { registerSeconds: reg.seconds, streamSeconds: str.seconds, steadySeconds: setupSteady, firstMapMs: latency(str.firstMapMs), steadyNodes, server: sampler.phase() },
      final: { serverRssMB: 0, serverRssPerNodeKB: 0, serverFds: 0, generatorRssMB: 0, digestEntries: 0 },
    };
    await takeLogs(); // the setup's observations are not measured
    const idToIdx = new Map<number, number>();
    const idxToId = new Map<number, number>();
    const refreshIds = async () => {
      for (const pairs of await all<number[]>({ cmd: 'ids' })) {
        for (let k = 0; k < pairs.length; k += 2) {
          if (!pairs[k + 1]) continue;
          idToIdx.set(pairs[k + 1]!, pairs[k]!);
          idxToId.set(pairs[k]!, pairs[k + 1]!);
        }
      }
    };
    await refreshIds();
    const members = (g: number) => [...live].filter((i) => group(i) === g);

    if (storm > 0) {
      log(`  join storm: ${storm} nodes register at once …`);
      const before = new Set(live);
      const r = await run('join', [...stormIdx], Math.ceil(storm / workerCount));
      await sleep(2000);
      const logs = await takeLogs();
      await refreshIds();
      // First sight of each joiner at each node that streamed before the storm.
      const first = new Map<string, number>();
      for (let k = 0; k < logs.peerSeen.length; k += 3) {
        const key = `${logs.peerSeen[k]}:${logs.peerSeen[k + 1]}`;
        if (!first.has(key)) first.set(key, logs.peerSeen[k + 2]!);
      }
      const samples: number[] = [];
      let missed = 0;
      const dialMs: number[] = [];
      const registerMs: number[] = [];
      const afterRegisterMs: number[] = [];
      const fromDialMs: number[] = [];
      for (let k = 0; k < r.joinedAt.length; k += 4) {
        dialMs.push(r.joinedAt[k + 2]!);
        const reg = r.joinedAt[k + 3]!;
        if (!Number.isNaN(reg)) registerMs.push(reg);
        const idx = r.joinedAt[k]!;
        const id = idxToId.get(idx);
        if (!id) {
          missed++;
          continue;
        }
        let worst = 0;
        let miss = false;
        for (const obs of members(group(idx))) {
          if (!before.has(obs)) continue;
          const seen = first.get(`${idxToId.get(obs)}:${id}`);
          if (seen === undefined) miss = true;
          else worst = Math.max(worst, seen - r.joinedAt[k + 1]!);
        }
        if (miss) missed++;
        else {
          samples.push(worst);
          fromDialMs.push(worst + r.joinedAt[k + 2]!);
          if (!Number.isNaN(reg)) afterRegisterMs.push(Math.max(0, worst - reg));
        }
      }
      // Only joiners that made it count from now on (one that failed to dial is not in the tailnet).
      for (const i of stormIdx) {
        if (!idxToId.has(i)) continue;
        live.add(i);
        registered.add(i);
      }
      missed += storm - r.joinedAt.length / 4; // joiners whose dial failed never registered
      result.joinStorm = { joiners: storm, seconds: r.seconds, visibleAtAllPeersMs: latency(samples, missed), dialMs: latency(dialMs), registerMs: latency(registerMs), afterRegisterMs: latency(afterRegisterMs), fromDialMs: latency(fromDialMs, missed), firstMapMs: latency(r.firstMapMs), failed: r.failed, server: sampler.phase() };
      log(`  join storm: visible at all team peers p50 ${result.joinStorm.visibleAtAllPeersMs.p50.toFixed(0)} / p99 ${result.joinStorm.visibleAtAllPeersMs.p99.toFixed(0)} ms, ${missed} missed`);
      await steady(60_000);
      await takeLogs();
      sampler.phase();
    }

    if (profiles.has('steady')) {
      const seconds = o.steadySeconds ?? 60;
      // A tailscaled's endpoints move every few minutes on average (roaming, NAT rebinding).
      const rate = o.churnPerSecond ?? Math.max(1, n / 300);
      log(`  steady: ${seconds} s, ${rate.toFixed(1)} endpoint changes/s …`);
      const c0 = await all<{ frames: { full: number; delta: number; keepalive: number }; bytes: number }>({ cmd: 'counters' });
      const ch = await all<{ sent: number; failed: number }>({ cmd: 'churn', perSecond: rate / workerCount, durationMs: seconds * 1000 });
      await sleep(2000);
      const c1 = await all<{ frames: { full: number; delta: number; keepalive: number }; bytes: number }>({ cmd: 'counters' });
      const logs = await takeLogs();
      const seen = new Map<string, number[]>(); // "peer:observer" → [seq, t, …] in arrival order
      for (let k = 0; k < logs.endpointSeen.length; k += 4) {
        const key = `${logs.endpointSeen[k + 1]}:${logs.endpointSeen[k]}`;
        let a = seen.get(key);
        if (!a) seen.set(key, (a = []));
        a.push(logs.endpointSeen[k + 2]!, logs.endpointSeen[k + 3]!);
      }
      const samples: number[] = [];
      let missed = 0;
      for (let k = 0; k < logs.endpointSent.length; k += 3) {
        const [peer, seq, t0c] = [logs.endpointSent[k]!, logs.endpointSent[k + 1]!, logs.endpointSent[k + 2]!];
        const idx = idToIdx.get(peer);
        if (idx === undefined) continue;
        let worst = 0;
        let miss = false;
        for (const obs of members(group(idx))) {
          if (obs === idx) continue;
          const a = seen.get(`${peer}:${idxToId.get(obs)}`) ?? [];
          let t: number | undefined;
          for (let j = 0; j < a.length; j += 2) if (a[j]! >= seq) {
            t = a[j + 1]!;
            break;
          }
          if (t === undefined) miss = true;
          else worst = Math.max(worst, t - t0c);
        }
        if (miss) missed++;
        else samples.push(worst);
      }
      const sum = (cs: typeof c0, f: (c: (typeof c0)[number]) => number) => cs.reduce((a, c) => a + f(c), 0);
      const minutes = (seconds + 2) / 60;
      const per = (f: (c: (typeof c0)[number]) => number) => (sum(c1, f) - sum(c0, f)) / live.size / minutes;
      result.steady = {
        seconds,
        endpointChanges: ch.reduce((a, c) => a + c.sent, 0),
        endpointToAllPeersMs: latency(samples, missed),
        perNodePerMinute: {
          frames: per((c) => c.frames.full + c.frames.delta + c.frames.keepalive),
          bytes: per((c) => c.bytes),
          keepalives: per((c) => c.frames.keepalive),
          deltas: per((c) => c.frames.delta),
        },
        server: sampler.phase(),
      };
      log(`  steady: endpoint change → all team peers p50 ${result.steady.endpointToAllPeersMs.p50.toFixed(0)} / p99 ${result.steady.endpointToAllPeersMs.p99.toFixed(0)} ms`);
    }

    if (profiles.has('rolling')) {
      // A fleet upgrade: a tenth of the clients restart, a hundredth at a time.
      const count = Math.max(1, Math.round(n / 10));
      const wave = Math.max(1, Math.round(n / 100));
      const pick = [...live].sort(() => Math.random() - 0.5).slice(0, count);
      log(`  rolling restarts: ${count} clients, ${wave} at a time …`);
      const maps: number[] = [];
      for (let k = 0; k < pick.length; k += wave) {
        const r = await run('restart', pick.slice(k, k + wave), wave);
        maps.push(...r.firstMapMs);
        await sleep(500);
      }
      const t0r = now();
      const st = await steady(120_000);
      result.rolling = { restarted: count, firstMapMs: latency(maps), backToSteadySeconds: (Math.max(...st.map((s) => s.at)) - t0r) / 1000, server: sampler.phase() };
      await takeLogs();
    }

    if (profiles.has('policy')) {
      log('  policy reload …');
      await takeLogs();
      const t0p = now();
      const probe = srv.probe(Math.min(30_000, 3000 + n), 10);
      await srv.api('PUT', '/api/v1/policy', { policy: policy('22,80,443') });
      const putMs = now() - t0p;
      const probeMs = await probe;
      const logs = await takeLogs();
      const first = new Map<number, number>();
      for (let k = 0; k < logs.filterSeen.length; k += 2) if (!first.has(logs.filterSeen[k]!)) first.set(logs.filterSeen[k]!, logs.filterSeen[k + 1]! - t0p);
      const seen = [...first.values()];
      result.policy = {
        reloadToAllNodesMs: latency(seen, live.size - first.size),
        putMs,
        firstNodeMs: seen.length ? Math.min(...seen) : NaN,
        probeMs: latency(probeMs),
        server: sampler.phase(),
      };
      log(`  policy: all nodes have the new filter p99 ${result.policy.reloadToAllNodesMs.p99.toFixed(0)} ms, ${live.size - first.size} missed`);
    }

    if (profiles.has('slow-readers')) {
      const count = Math.min(o.slowReaders ?? Math.max(1, Math.round(n / 100)), live.size);
      const stopped = [...live].slice(0, count);
      log(`  slow readers: ${count} nodes stop reading while the rest churn …`);
      const rssBefore = procSample(srv.pid).rssMB;
      await all((w) => ({ cmd: 'stopReading', idxs: stopped.filter((i) => i % workerCount === w) }));
      for (const i of stopped) live.delete(i);
      const seconds = 30;
      let peak = rssBefore;
      const watch = setInterval(() => (peak = Math.max(peak, procSample(srv.pid).rssMB)), 500);
      // Changes that every slow reader's team must be told about: endpoint churn.
      await all({ cmd: 'churn', perSecond: Math.max(20, n / 50) / workerCount, durationMs: seconds * 1000 });
      clearInterval(watch);
      await takeLogs();
      result.slowReaders = { stopped: count, seconds, rssBeforeMB: rssBefore, rssPeakMB: peak, rssEndMB: procSample(srv.pid).rssMB, server: sampler.phase() };
      log(`  slow readers: server RSS ${rssBefore.toFixed(0)} → peak ${peak.toFixed(0)} MiB`);
    }

    // The stop, the start on the same database, and the time until every node has a fresh
    // full map and sees its whole team online. SIGKILL is a crash (or `kill -9`); SIGTERM a
    // graceful stop, which closes the listener first and writes last-seen in one batch.
    type Dials = ServerRestart['dials'];
    const dialCounts = async (): Promise<{ d: Dials; loop: { p99Ms: number; maxMs: number } }> => {
      const cs = await all<{ dials: Dials; loop: { p99Ms: number; maxMs: number } }>({ cmd: 'counters' });
      const d: Dials = { connected: 0, refused: 0, timedOut: 0, failed: 0 };
      for (const c of cs) for (const k of Object.keys(d) as (keyof Dials)[]) d[k] += c.dials[k];
      return { d, loop: { p99Ms: Math.max(...cs.map((c) => c.loop.p99Ms)), maxMs: Math.max(...cs.map((c) => c.loop.maxMs)) } };
    };
    const restartServer = async (signal: 'SIGKILL' | 'SIGTERM'): Promise<ServerRestart> => {
      log(`  server restart (${signal}) …`);
      const { d: d0 } = await dialCounts();
      const tKill = now();
      await srv.stop(signal);
      const tStart = now();
      const up = await srv.start();
      const tUp = now();
      sampler!.reset();
      const st = await steady(300_000);
      const at = Math.max(...st.map((s) => s.at));
      const phases: Record<string, number> = {};
      for (const s of st) for (const [k, v] of Object.entries(s.phases)) phases[k] = (phases[k] ?? 0) + v;
      const { d: d1, loop } = await dialCounts();
      const dials = { ...d1 };
      for (const k of Object.keys(dials) as (keyof Dials)[]) dials[k] -= d0[k];
      const r: ServerRestart = {
        dials,
        generatorLoopDelayMs: loop,
        signal,
        stopSeconds: (tStart - tKill) / 1000,
        listenSeconds: (up.listeningAt - tStart) / 1000,
        startSeconds: (tUp - tStart) / 1000,
        killToSteadySeconds: (at - tKill) / 1000,
        upToSteadySeconds: (at - tUp) / 1000,
        steadyNodes: st.reduce((a, s) => a + s.steady, 0),
        reconnectFirstMapMs: latency(st.flatMap((s) => s.reconnectMapMs)),
        streamUpAfterUpSeconds: latency(st.flatMap((s) => s.upAt.map((t) => (t - tUp) / 1000))),
        nodePhases: phases,
        server: sampler!.phase(),
      };
      log(
        `  server restart (${signal}): stopped in ${r.stopSeconds.toFixed(1)} s, listening ${r.listenSeconds.toFixed(1)} s / answering ${r.startSeconds.toFixed(1)} s after the spawn, ` +
          `steady ${r.killToSteadySeconds.toFixed(1)} s after the signal (${r.steadyNodes} nodes; ${JSON.stringify(phases)}); dials ${JSON.stringify(dials)}; generator loop delay p99 ${loop.p99Ms.toFixed(0)} / max ${loop.maxMs.toFixed(0)} ms`,
      );
      await takeLogs();
      return r;
    };
    if (profiles.has('server-restart')) result.serverRestart = await restartServer('SIGKILL');
    if (profiles.has('server-restart-term')) result.serverRestartTerm = await restartServer('SIGTERM');

    const counters = await all<{ digestEntries: number; memory: { rssMB: number } }>({ cmd: 'counters' });
    const s = procSample(srv.pid);
    result.final = {
      serverRssMB: s.rssMB,
      serverRssPerNodeKB: (s.rssMB * 1024) / n,
      serverFds: s.fds,
      generatorRssMB: counters[0]!.memory.rssMB,
      digestEntries: counters.reduce((a, c) => a + c.digestEntries, 0),
    };
    result.loadAverage.end = os.loadavg();
    return result;
  } catch (err) {
    const tail = srv.log.trim();
    if (tail) log(`  server stderr (last lines):\n${tail.split('\n').slice(-20).join('\n')}`);
    throw err;
  } finally {
    sampler?.stop();
    await Promise.all(workers.map((w) => w.call({ cmd: 'close' }).catch(() => {})));
    await Promise.all(workers.map((w) => w.terminate()));
    await srv.dispose().catch(() => {});
  }
}

/** The JSON beside the table: dist/load-<nodes>.json. */
export function writeLoadJson(r: LoadResult): string {
  const file = path.join(repoRoot(), 'dist', `load-${r.nodes}.json`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(r, null, 2) + '\n');
  return file;
}
