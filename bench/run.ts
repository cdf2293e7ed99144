// Runs the benchmarks in sequence, prints a table and writes dist/bench-results.json.
//   npm run bench                      all, full sizes
//   npm run bench -- --quick           smaller sizes (minutes → seconds)
//   npm run bench -- --only fanout     one benchmark (handshake, policy, mapbuild, fanout, derp, derp-mesh, abuse; comma-separated for several)
//   npm run bench -- --only fanout --same-thread   clients on the server's event loop instead of a worker thread
//   npm run bench -- --only abuse [--server-root DIR]   hostile clients against a server child process (DIR: another checkout's build, for before/after)
//   npm run bench -- --only fanout --cpu-prof-fanout   also writes dist/fanout-rounds.cpuprofile (server thread) and dist/fanout-rounds-clients.cpuprofile (client fleet), rounds only
//   npm run bench -- --only load [--nodes N] [--profile P,…] [--group-size G] [--workers W] [--duration S] [--storm N] [--server-cpu-prof] [--server-limits fleet|default]
//                                      simulated nodes against `switchboard serve` (not part of the default run)

import fs from 'node:fs';
import path from 'node:path';
import { benchHandshakes } from './handshake.js';
import { benchMapBuild } from './mapbuild.js';
import { benchFanout } from './fanout.js';
import { benchAbuse } from './abuse.js';
import { benchDerp, benchDerpMesh } from './derp.js';
import { benchLoad, PROFILES, writeLoadJson, type LoadOptions, type Profile } from './load/load.js';
import { machineInfo, repoRoot } from './common.js';

interface Row {
  bench: string;
  metric: string;
  value: string;
  target?: string;
  pass?: boolean;
}

const NAMES = ['handshake', 'policy', 'mapbuild', 'fanout', 'derp', 'derp-mesh', 'abuse', 'load'] as const;
type Name = (typeof NAMES)[number];
/** Run by `npm run bench` without --only; the load bench takes minutes and the whole machine. */
const DEFAULT_NAMES: readonly Name[] = NAMES.filter((n) => n !== 'load');

function positive(flag: string, v: string | undefined): number {
  const x = Number(v);
  if (!v || !Number.isFinite(x) || x <= 0) throw new Error(`${flag}: expected a positive number, got ${v ?? '(missing)'}`);
  return x;
}

function parseArgs(argv: string[]): { only: Set<Name>; quick: boolean; sameThread: boolean; cpuProf: boolean; serverRoot?: string; load: Omit<LoadOptions, 'nodes'> & { nodes?: number } } {
  const only = new Set<Name>();
  const load: Omit<LoadOptions, 'nodes'> & { nodes?: number } = {};
  let serverRoot: string | undefined;
  let quick = false;
  let sameThread = false;
  let cpuProf = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') quick = true;
    else if (a === '--same-thread') sameThread = true;
    else if (a === '--cpu-prof-fanout') cpuProf = true;
    else if (a === '--nodes') load.nodes = Math.round(positive(a, argv[++i]));
    else if (a === '--group-size') load.groupSize = Math.round(positive(a, argv[++i]));
    else if (a === '--workers') load.workers = Math.round(positive(a, argv[++i]));
    else if (a === '--duration') load.steadySeconds = positive(a, argv[++i]);
    else if (a === '--storm') load.storm = Math.round(positive(a, argv[++i]));
    else if (a === '--server-limits') {
      const v = argv[++i];
      if (v !== 'fleet' && v !== 'default') throw new Error(`--server-limits: "${v}" is not fleet or default`);
      load.serverLimits = v;
    } else if (a === '--server-cpu-prof') load.serverNodeArgs = ['--cpu-prof', `--cpu-prof-dir=${path.join(repoRoot(), 'dist')}`];
    else if (a === '--profile') {
      const ps = (argv[++i] ?? '').split(',').filter(Boolean);
      for (const p of ps) if (!(PROFILES as readonly string[]).includes(p)) throw new Error(`--profile: unknown profile "${p}" (one of ${PROFILES.join(', ')})`);
      load.profiles = ps as Profile[];
    }
    else if (a === '--server-root') {
      serverRoot = argv[++i];
      if (!serverRoot || !fs.existsSync(path.join(serverRoot, 'bin', 'switchboard.js'))) throw new Error(`--server-root: ${serverRoot ?? '(missing)'} has no bin/switchboard.js`);
    }
    else if (a === '--only' || a.startsWith('--only=')) {
      const v = a.startsWith('--only=') ? a.slice(7) : argv[++i];
      for (const n of (v ?? '').split(',').filter(Boolean)) {
        if (!(NAMES as readonly string[]).includes(n)) throw new Error(`--only: unknown benchmark "${n}" (one of ${NAMES.join(', ')})`);
        only.add(n as Name);
      }
    } else throw new Error(`unknown argument ${a} (--quick, --only <name>, --same-thread, --cpu-prof-fanout, --server-root <dir>, --nodes, --profile, --group-size, --workers, --duration, --storm, --server-cpu-prof, --server-limits)`);
  }
  if (only.size === 0) for (const n of DEFAULT_NAMES) only.add(n);
  return { only, quick, sameThread, cpuProf, serverRoot, load };
}

const f1 = (x: number) => x.toFixed(1);
const f0 = (x: number) => Math.round(x).toLocaleString('en-US');
const log = (m: string) => process.stderr.write(m + '\n');

/** The policy benchmark belongs to another engineer and may not exist yet; a missing module is skipped. */
async function loadPolicyBench(): Promise<((nodeCount?: number) => Promise<unknown>) | null> {
  const spec = './policy.js'; // a variable, so the build does not need the file
  try {
    const mod = (await import(spec)) as Record<string, unknown>;
    const fn = mod.benchPolicy ?? Object.values(mod).find((v) => typeof v === 'function');
    return typeof fn === 'function' ? (fn as (nodeCount?: number) => Promise<unknown>) : null;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') return null;
    throw err;
  }
}

/** Numeric leaves of an unknown result, as table rows. */
function flatten(bench: string, value: unknown, prefix = ''): Row[] {
  if (typeof value === 'number') return [{ bench, metric: prefix || 'value', value: Number.isInteger(value) ? f0(value) : value.toFixed(2) }];
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => flatten(bench, v, prefix ? `${prefix}.${k}` : k));
  return [];
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const rows: Row[] = [];
  const results: Record<string, unknown> = {};
  const started = new Date();

  if (args.only.has('handshake')) {
    log('handshake …');
    const r = await benchHandshakes(args.quick ? { durationMs: 500 } : {});
    results.handshake = r;
    rows.push(
      { bench: 'handshake', metric: 'loopback handshakes/s, control listener (Fastify; worker thread)', value: f0(r.handshakesPerSecond), target: '≥ 1,000/s', pass: r.handshakesPerSecond >= 1000 },
      { bench: 'handshake', metric: 'loopback handshakes/s, bare node:http (worker thread)', value: f0(r.handshakesPerSecondNodeHttp) },
      { bench: 'handshake', metric: 'loopback handshakes/s (same thread)', value: f0(r.loopbackSameThreadPerSecond) },
      { bench: 'handshake', metric: 'crypto only, initiator+responder/s', value: f0(r.inProcessPerSecond) },
    );
  }

  if (args.only.has('policy')) {
    const fn = await loadPolicyBench();
    if (!fn) {
      log('policy: bench/policy.ts not present, skipped');
      rows.push({ bench: 'policy', metric: 'skipped (bench/policy.ts not present)', value: '-' });
    } else {
      log('policy …');
      const r = await fn(args.quick ? 1000 : undefined); // benchPolicy(nodeCount = 10_000)
      results.policy = r;
      rows.push(...flatten('policy', r));
    }
  }

  if (args.only.has('mapbuild')) {
    const sizes = args.quick ? [1000, 2000] : [1000, 10_000];
    const out = [];
    for (const nodes of sizes) {
      log(`mapbuild ${nodes} nodes …`);
      const r = await benchMapBuild({ nodes, runs: args.quick ? 20 : 30, log });
      out.push(r);
      const b = `mapbuild ${f0(nodes)}`;
      const target = nodes >= 10_000 ? '< 100 ms' : undefined;
      rows.push(
        { bench: b, metric: 'first build in process, ms', value: f1(r.firstBuildMs) },
        { bench: b, metric: `cold (fresh builder) median / p99, ms (n=${r.cold.n})`, value: `${f1(r.cold.median)} / ${f1(r.cold.p99)}`, target, pass: target ? r.cold.p99 < 100 : undefined },
        { bench: b, metric: `warm median / p99, ms (n=${r.warm.n})`, value: `${f1(r.warm.median)} / ${f1(r.warm.p99)}`, target, pass: target ? r.warm.p99 < 100 : undefined },
        { bench: b, metric: 'warm median: build / zstd, ms', value: `${f1(r.warmBuildOnlyMedianMs)} / ${f1(r.warmEncodeOnlyMedianMs)}` },
        { bench: b, metric: 'map size JSON / zstd, KiB', value: `${f0(r.jsonBytes / 1024)} / ${f0(r.zstdBytes / 1024)}` },
        { bench: b, metric: 'process RSS / heap used after GC, MiB', value: `${f0(r.memory.rssMB)} / ${f0(r.memory.heapUsedMB)}` },
        { bench: b, metric: 'populate through Tailnet.addNode, s', value: f1(r.populateSeconds) },
      );
    }
    results.mapbuild = out;
  }

  if (args.only.has('fanout')) {
    const clients = args.quick ? 100 : 1000;
    log(`fanout ${clients} clients …`);
    const r = await benchFanout({ clients, rounds: args.quick ? 5 : 10, sameThread: args.sameThread,
      cpuProfileFile: args.cpuProf ? path.join(repoRoot(), 'dist', 'fanout-rounds.cpuprofile') : undefined,
      log,
    });
    results.fanout = r;
    const b = `fanout ${f0(clients)}${args.sameThread ? ' same-thread' : ''}`;
    const target = clients >= 1000 ? 'p99 < 100 ms' : undefined;
    rows.push(
      { bench: b, metric: `change → netmap p50 / p99 / max, ms (n=${r.latency.n}, ${r.rounds} changes)`, value: `${f1(r.latency.p50)} / ${f1(r.latency.p99)} / ${f1(r.latency.max)}`, target, pass: target ? r.latency.p99 < 100 && r.missed === 0 : undefined },
      { bench: b, metric: 'clients that missed a change (10 s limit)', value: f0(r.missed) },
      { bench: b, metric: 'server thread longest event-loop stall, ms', value: f1(r.serverLoopDelayMaxMs) },
      { bench: b, metric: 'register / start streams, s', value: `${f1(r.registerSeconds)} / ${f1(r.streamSeconds)}` },
      { bench: b, metric: 'process RSS (server + clients), MiB', value: f0(r.memoryWithStreams.rssMB) },
      { bench: b, metric: 'server heap used after GC, MiB', value: f0(r.memoryWithStreams.heapUsedMB) + (r.clientMode === 'same-thread' ? ' (incl. clients)' : '') },
    );
    if (r.clientHeap) rows.push({ bench: b, metric: 'client worker heap used after GC, MiB', value: f0(r.clientHeap.heapUsedMB) });
  }

  if (args.only.has('abuse')) {
    const r = await benchAbuse({ serverRoot: args.serverRoot, seconds: args.quick ? 4 : 10, log });
    results.abuse = r;
    for (const a of r.attacks) {
      const b = `abuse: ${a.attack}`;
      rows.push(
        { bench: b, metric: 'attacker got', value: a.outcome },
        { bench: b, metric: 'server RSS before / peak / 3 s after, MiB', value: `${f0(a.rssBaseMB)} / ${f0(a.rssPeakMB)} / ${f0(a.rssAfterMB)}` },
        { bench: b, metric: 'server descriptors peak; CPU %', value: `${f0(a.fdsPeak)}; ${f0(a.cpuPercent)}` },
        {
          bench: b,
          metric: `/health p50 / p95 / max ms; failed (of ${a.healthProbes})`,
          value: `${f1(a.healthP50Ms)} / ${f1(a.healthP95Ms)} / ${f1(a.healthMaxMs)}; ${a.healthFailures}`,
          target: 'p95 < 100 ms, none failed',
          pass: a.healthP95Ms < 100 && a.healthFailures === 0,
        },
      );
    }
  }

  if (args.only.has('load')) {
    const nodes = args.load.nodes ?? (args.quick ? 500 : 10_000);
    log(`load ${nodes} nodes …`);
    const r = await benchLoad({ ...args.load, serverRoot: args.serverRoot, nodes, steadySeconds: args.load.steadySeconds ?? (args.quick ? 15 : 60), log });
    results.load = r;
    log(`  JSON: ${path.relative(process.cwd(), writeLoadJson(r))}`);
    rows.push(...loadRows(r));
  }

  if (args.only.has('derp')) {
    log('derp relay (Switchboard, then the stock derper) …');
    const derperPath = path.join(process.env.SWITCHBOARD_TAILSCALE_BIN ?? path.resolve(repoRoot(), '..', 'shared', 'tailscale', 'bin'), 'derper');
    const r = await benchDerp({ durationMs: args.quick ? 2000 : 5000, roundTrips: args.quick ? 500 : 2000, derperPath, log });
    results.derp = r;
    const sb = r.find((x) => x.relay === 'switchboard')!;
    const ref = r.find((x) => x.relay === 'derper');
    for (const x of r) {
      const b = `derp ${x.relay}`;
      const vs = x === sb && ref ? { target: '≥ 0.5 × derper', pass: sb.packetsPerSecond >= 0.5 * ref.packetsPerSecond } : {};
      rows.push(
        { bench: b, metric: `throughput, ${x.pairs} pairs × ${x.packetBytes} B packets: Mbit/s (packets/s)`, value: `${f0(x.mbitPerSecond)} (${f0(x.packetsPerSecond)})`, ...vs },
        { bench: b, metric: `round trip A→B→A, 64 B, median / p99, µs (n=${x.rttMicros.n})`, value: `${f0(x.rttMicros.median)} / ${f0(x.rttMicros.p99)}` },
        { bench: b, metric: 'relay RSS idle / max under load / max with a stalled receiver, MiB', value: `${f0(x.rssIdleMB)} / ${f0(x.rssLoadMaxMB)} / ${f0(x.rssSlowReceiverMaxMB)}` },
      );
    }
  }

  if (args.only.has('derp-mesh')) {
    log('derp mesh (two meshed Switchboard relays, then two meshed derpers) …');
    const derperPath = path.join(process.env.SWITCHBOARD_TAILSCALE_BIN ?? path.resolve(repoRoot(), '..', 'shared', 'tailscale', 'bin'), 'derper');
    const r = await benchDerpMesh({ durationMs: args.quick ? 2000 : 5000, roundTrips: args.quick ? 500 : 2000, derperPath, log });
    results['derp-mesh'] = r;
    for (const x of r) {
      const b = `derp ${x.relay}`;
      rows.push(
        { bench: b, metric: `throughput across the mesh, ${x.pairs} pairs × ${x.packetBytes} B: Mbit/s (packets/s)`, value: `${f0(x.mbitPerSecond)} (${f0(x.packetsPerSecond)})` },
        { bench: b, metric: `round trip A→relay 1→relay 2→B and back, 64 B, median / p99, µs (n=${x.rttMicros.n})`, value: `${f0(x.rttMicros.median)} / ${f0(x.rttMicros.p99)}` },
        { bench: b, metric: 'both relays\' RSS idle / max under load / max with a stalled receiver, MiB', value: `${f0(x.rssIdleMB)} / ${f0(x.rssLoadMaxMB)} / ${f0(x.rssSlowReceiverMaxMB)}` },
      );
    }
  }

  const machine = machineInfo();
  printTable(rows);
  const file = path.join(repoRoot(), 'dist', 'bench-results.json');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify({ date: started.toISOString(), quick: args.quick, machine, rows, results }, null, 2) + '\n');
  console.log(`\n${machine.cpus} × ${machine.cpuModel}, ${f1(machine.memTotalGB)} GiB, node ${machine.node}; results in ${path.relative(process.cwd(), file)}`);
  const failed = rows.filter((r) => r.pass === false);
  if (failed.length) console.log(`missed targets: ${failed.map((r) => `${r.bench} (${r.metric})`).join('; ')}`);
}

function loadRows(r: Awaited<ReturnType<typeof benchLoad>>): Row[] {
  const b = `load ${f0(r.nodes)} (teams of ${r.groupSize}${r.serverLimits === 'default' ? ', default limits' : ''})`;
  const lat = (l: { p50: number; p99: number; max: number; n: number; missed: number }) => `${f1(l.p50)} / ${f1(l.p99)} / ${f1(l.max)} (n=${l.n}, missed ${l.missed})`;
  const big = r.nodes >= 10_000;
  const rows: Row[] = [
    { bench: b, metric: 'setup: register / streams / to steady, s', value: `${f1(r.setup.registerSeconds)} / ${f1(r.setup.streamSeconds)} / ${f1(r.setup.steadySeconds)}` },
    { bench: b, metric: 'setup: first map p50 / p99 / max, ms', value: lat(r.setup.firstMapMs) },
    { bench: b, metric: 'setup: nodes steady (whole team online)', value: `${f0(r.setup.steadyNodes)}` },
    { bench: b, metric: 'setup: server CPU % (generator CPU %)', value: `${f0(r.setup.server.cpuPercent)} (${f0(r.setup.server.generatorCpuPercent)})` },
  ];
  if (r.joinStorm) {
    const v = r.joinStorm.visibleAtAllPeersMs;
    rows.push(
      { bench: b, metric: `join storm (${f0(r.joinStorm.joiners)} at once): visible at all peers p50 / p99 / max, ms`, value: lat(v), target: big ? 'p99 < 1,000 ms' : undefined, pass: big ? v.p99 < 1000 && v.missed === 0 : undefined },
      { bench: b, metric: 'join storm: dial (Noise + HTTP/2) before register p50 / p99 / max, ms', value: lat(r.joinStorm.dialMs) },
      { bench: b, metric: 'join storm: register request answered p50 / p99 / max, ms', value: lat(r.joinStorm.registerMs) },
      { bench: b, metric: 'join storm: register answered → visible at all peers p50 / p99 / max, ms', value: lat(r.joinStorm.afterRegisterMs) },
      { bench: b, metric: 'join storm: first dial attempt → visible at all peers p50 / p99 / max, ms', value: lat(r.joinStorm.fromDialMs) },
      { bench: b, metric: 'join storm: first map p50 / p99 / max, ms', value: lat(r.joinStorm.firstMapMs) },
      { bench: b, metric: 'join storm: server CPU % (generator CPU %), server RSS peak MiB', value: `${f0(r.joinStorm.server.cpuPercent)} (${f0(r.joinStorm.server.generatorCpuPercent)}), ${f0(r.joinStorm.server.rssPeakMB)}` },
    );
  }
  if (r.steady) {
    const s = r.steady;
    rows.push(
      { bench: b, metric: `steady ${f0(s.seconds)} s: endpoint change → all peers p50 / p99 / max, ms (${f0(s.endpointChanges)} changes)`, value: lat(s.endpointToAllPeersMs) },
      { bench: b, metric: 'steady: per node per minute: frames / bytes (keep-alives, deltas)', value: `${f1(s.perNodePerMinute.frames)} / ${f0(s.perNodePerMinute.bytes)} (${f1(s.perNodePerMinute.keepalives)}, ${f1(s.perNodePerMinute.deltas)})` },
      { bench: b, metric: 'steady: server CPU % (generator CPU %), server RSS MiB', value: `${f0(s.server.cpuPercent)} (${f0(s.server.generatorCpuPercent)}), ${f0(s.server.rssEndMB)}` },
    );
  }
  if (r.rolling) {
    rows.push(
      { bench: b, metric: `rolling restarts (${f0(r.rolling.restarted)}): first map p50 / p99 / max, ms`, value: lat(r.rolling.firstMapMs) },
      { bench: b, metric: 'rolling restarts: last wave → steady, s', value: f1(r.rolling.backToSteadySeconds) },
    );
  }
  if (r.policy) {
    rows.push({ bench: b, metric: 'policy reload → new filter at all nodes p50 / p99 / max, ms', value: lat(r.policy.reloadToAllNodesMs) });
    rows.push({ bench: b, metric: 'policy reload: PUT answered / new filter at the first node, ms', value: `${r.policy.putMs.toFixed(1)} / ${r.policy.firstNodeMs.toFixed(1)}` });
    rows.push({ bench: b, metric: 'policy reload: GET /key meanwhile p50 / p99 / max, ms', value: lat(r.policy.probeMs) });
  }
  if (r.slowReaders) {
    const s = r.slowReaders;
    rows.push({ bench: b, metric: `slow readers (${f0(s.stopped)} stop reading, ${f0(s.seconds)} s churn): server RSS before / peak / end, MiB`, value: `${f0(s.rssBeforeMB)} / ${f0(s.rssPeakMB)} / ${f0(s.rssEndMB)}` });
  }
  for (const s of [r.serverRestart, r.serverRestartTerm]) {
    if (!s) continue;
    const m = `server restart (${s.signal})`;
    rows.push(
      { bench: b, metric: `${m}: signal → steady / new server up → steady, s`, value: `${f1(s.killToSteadySeconds)} / ${f1(s.upToSteadySeconds)} (${f0(s.steadyNodes)} nodes)`, target: big ? '< 60 s' : undefined, pass: big ? s.killToSteadySeconds < 60 : undefined },
      { bench: b, metric: `${m}: old process gone / new one listening / answering, s`, value: `${f1(s.stopSeconds)} / ${f1(s.listenSeconds)} / ${f1(s.startSeconds)}` },
      { bench: b, metric: `${m}: reconnect first map p50 / p99 / max, ms`, value: lat(s.reconnectFirstMapMs) },
      { bench: b, metric: `${m}: streams up again after the new server answered p50 / p99 / max, s`, value: lat(s.streamUpAfterUpSeconds) },
      { bench: b, metric: `${m}: dials connected / refused / timed out (10 s) / failed otherwise`, value: `${f0(s.dials.connected)} / ${f0(s.dials.refused)} / ${f0(s.dials.timedOut)} / ${f0(s.dials.failed)}` },
      { bench: b, metric: `${m}: server CPU % (generator CPU %); generator event-loop delay p99 / max, ms`, value: `${f0(s.server.cpuPercent)} (${f0(s.server.generatorCpuPercent)}); ${f0(s.generatorLoopDelayMs.p99Ms)} / ${f0(s.generatorLoopDelayMs.maxMs)}` },
    );
  }
  rows.push(
    { bench: b, metric: 'server RSS at the end, MiB (KiB per node); descriptors', value: `${f0(r.final.serverRssMB)} (${f1(r.final.serverRssPerNodeKB)}); ${f0(r.final.serverFds)}`, target: big ? '< 2,048 MiB' : undefined, pass: big ? r.final.serverRssMB < 2048 : undefined },
    { bench: b, metric: 'load average at start / end (1 min)', value: `${f1(r.loadAverage.start[0]!)} / ${f1(r.loadAverage.end[0] ?? NaN)}` },
  );
  return rows;
}

function printTable(rows: Row[]): void {
  const cells = rows.map((r) => [r.bench, r.metric, r.value, r.target ?? '', r.pass === undefined ? '' : r.pass ? 'PASS' : 'FAIL']);
  const head = ['benchmark', 'metric', 'value', 'target', ''];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((x, i) => (i === 2 ? x.padStart(widths[i]!) : x.padEnd(widths[i]!))).join('  ').trimEnd();
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const c of cells) console.log(line(c));
}

main().then(
  // Worker threads and sockets are closed; exit explicitly so a stray timer cannot hold the run open.
  () => process.exit(0),
  (err: Error) => {
    console.error(err.stack ?? err);
    process.exit(1);
  },
);
