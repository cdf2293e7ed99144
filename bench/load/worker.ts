// A worker thread of the load generator: a few thousand SimNodes on one event loop,
// driven by the coordinator (bench/load/load.ts) with request/reply messages.

import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import type { Hostinfo } from '../../src/tailcfg/types.js';
import { memory, pool } from '../common.js';
import { now, ObservationLog, SimNode } from './node.js';

export interface WorkerNode {
  idx: number;
  authKey: string;
}

export type WorkerCommand =
  | { cmd: 'init'; url: string; serverKey: string; hostinfo: Hostinfo; nodes: WorkerNode[] }
  | { cmd: 'register'; idxs: number[]; concurrency: number }
  | { cmd: 'stream'; idxs: number[]; concurrency: number }
  | { cmd: 'join'; idxs: number[]; concurrency: number }
  | { cmd: 'churn'; perSecond: number; durationMs: number }
  | { cmd: 'restart'; idxs: number[]; concurrency: number }
  | { cmd: 'stopReading'; idxs: number[] }
  /** expected: per node to check, [peers in its netmap, of them online]. */
  | { cmd: 'steady'; expected: Record<number, [number, number]>; timeoutMs: number }
  | { cmd: 'ids' }
  | { cmd: 'take' }
  | { cmd: 'counters' }
  | { cmd: 'close' };

/** What 'register', 'stream', 'join' and 'restart' answer. */
export interface StepResult {
  ok: number;
  failed: number;
  firstError: string | null;
  /** First-map latencies, ms. */
  firstMapMs: number[];
  /** For 'join': [idx, t register sent, dial ms, register answered after ms (NaN if it failed)] quadruples. */
  joinedAt: number[];
  seconds: number;
}

const port = parentPort!;
/** This thread's event-loop delay: a starved generator times its own dials out, not the server's. */
const loopDelay = monitorEventLoopDelay({ resolution: 20 });
loopDelay.enable();
/** A joiner that cannot dial for this long counts as failed. */
const JOIN_GIVE_UP_MS = 120_000;
const log = new ObservationLog();
const nodes = new Map<number, SimNode>();
let firstMaps: number[] = [];
let reconnectMaps: number[] = [];

async function step(idxs: number[], concurrency: number, fn: (n: SimNode, joined: number[]) => Promise<void>): Promise<StepResult> {
  const t0 = performance.now();
  firstMaps = [];
  reconnectMaps = [];
  const joinedAt: number[] = [];
  let ok = 0;
  let failed = 0;
  let firstError: string | null = null;
  await pool(idxs.length, concurrency, async (i) => {
    try {
      await fn(nodes.get(idxs[i]!)!, joinedAt);
      ok++;
    } catch (err) {
      failed++;
      firstError ??= (err as Error).message;
    }
  });
  // A restart's streams are reconnects; either way these are the step's first maps.
  const firstMapMs = [...firstMaps, ...reconnectMaps.splice(0)];
  return { ok, failed, firstError, firstMapMs, joinedAt, seconds: (performance.now() - t0) / 1000 };
}

/** Every node of ours is streaming and sees the expected number of peers, all online. */
function steadyCount(expected: Record<number, [number, number]>): number {
  let n = 0;
  for (const [idx, [peers, online]] of Object.entries(expected)) {
    const node = nodes.get(Number(idx))!;
    if (node.streamUpAt && node.digest.size === peers && node.onlinePeers() >= online) n++;
  }
  return n;
}

async function handle(m: WorkerCommand): Promise<unknown> {
  switch (m.cmd) {
    case 'init':
      for (const n of m.nodes) {
        const node = new SimNode({ idx: n.idx, url: m.url, serverKey: m.serverKey, hostinfo: m.hostinfo, log });
        node.onFirstMap = (ms, reconnect) => (reconnect ? reconnectMaps : firstMaps).push(ms);
        nodes.set(n.idx, node);
        authKeys.set(n.idx, n.authKey);
      }
      return nodes.size;
    case 'register':
      return step(m.idxs, m.concurrency, (n) => n.register(authKeys.get(n.idx)!));
    case 'stream':
      return step(m.idxs, m.concurrency, async (n) => {
        await n.startStream();
        n.autoReconnect = true;
      });
    case 'join':
      // A new machine: dial, register, then open its map stream, as `tailscale up` does.
      // The join is timed from the register request: the dial is the handshake's cost, reported apart.
      // A dial that times out is retried after tailscaled's backoff; the dial figure is from
      // the first attempt to the end of the one that worked.
      return step(m.idxs, m.concurrency, async (n, joined) => {
        const t0 = now();
        await n.connectRetrying(JOIN_GIVE_UP_MS);
        const t1 = now();
        const k = joined.length;
        joined.push(n.idx, t1, t1 - t0, NaN);
        await n.register(authKeys.get(n.idx)!);
        joined[k + 3] = now() - t1;
        await n.startStream();
        n.autoReconnect = true;
      });
    case 'restart':
      return step(m.idxs, m.concurrency, (n) => n.restart());
    case 'churn': {
      // Endpoint changes spread evenly over the period, each from a random streaming node.
      const all = [...nodes.values()];
      const total = Math.round((m.perSecond * m.durationMs) / 1000);
      const t0 = performance.now();
      let failed = 0;
      const pending: Promise<void>[] = [];
      for (let i = 0; i < total; i++) {
        const due = t0 + (i * 1000) / m.perSecond;
        const wait = due - performance.now();
        if (wait > 1) await new Promise((r) => setTimeout(r, wait));
        const n = all[Math.floor(Math.random() * all.length)]!;
        if (!n.streamUpAt || n.stopped) continue;
        pending.push(n.changeEndpoints().catch(() => void failed++));
      }
      const left = t0 + m.durationMs - performance.now();
      if (left > 0) await new Promise((r) => setTimeout(r, left));
      await Promise.all(pending);
      return { sent: pending.length, failed };
    }
    case 'stopReading':
      for (const i of m.idxs) {
        const n = nodes.get(i)!;
        n.stopReading();
      }
      return m.idxs.length;
    case 'steady': {
      // Polled, not checked per frame: during a reconnect storm a per-frame walk of every
      // digest would cost more than the frames.
      const deadline = performance.now() + m.timeoutMs;
      for (;;) {
        const n = steadyCount(m.expected);
        const of = Object.keys(m.expected).length;
        if (n === of || performance.now() > deadline) {
          const phases: Record<string, number> = {};
          for (const idx of Object.keys(m.expected)) {
            const p = nodes.get(Number(idx))!.phase;
            phases[p] = (phases[p] ?? 0) + 1;
          }
          // When each checked node's current stream got its first map: the connection side of the wait.
          const upAt: number[] = [];
          for (const idx of Object.keys(m.expected)) {
            const t = nodes.get(Number(idx))!.streamUpAt;
            if (t) upAt.push(t);
          }
          return { steady: n, of, at: now(), reconnectMapMs: reconnectMaps.splice(0), phases, upAt };
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    case 'ids':
      return [...nodes.values()].flatMap((n) => [n.idx, n.nodeId]);
    case 'take':
      return log.take();
    case 'counters': {
      let digestEntries = 0;
      for (const n of nodes.values()) digestEntries += n.digest.size;
      // The loop delay is since the previous 'counters'.
      const loop = { p99Ms: loopDelay.percentile(99) / 1e6, maxMs: loopDelay.max / 1e6 };
      loopDelay.reset();
      return { frames: { ...log.frames }, dials: { ...log.dials }, loop, bytes: log.bytes, digestEntries, memory: memory(false), cpu: process.cpuUsage() };
    }
    case 'close':
      for (const n of nodes.values()) n.close();
      return null;
  }
}

const authKeys = new Map<number, string>();

if ((workerData as { switchboardLoad?: boolean } | null)?.switchboardLoad) {
  // Replies carry the command's id: 'steady' and 'churn' run while other commands are answered.
  port.on('message', (msg: { id: number; m: WorkerCommand }) => {
    handle(msg.m).then(
      (value) => port.postMessage({ id: msg.id, ok: true, value }),
      (err: Error) => port.postMessage({ id: msg.id, ok: false, error: err.stack ?? String(err) }),
    );
  });
}
