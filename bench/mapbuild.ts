// First map for one node in a large tailnet: MapBuilder.full() + zstd framing, cold
// (a fresh builder, so no cached peer JSON) and warm (the server's steady state).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createStore, type Store } from '../src/db/index.js';
import { buildDNSConfig } from '../src/dns/config.js';
import { loadDerpMap } from '../src/derp/map.js';
import { compilePolicy } from '../src/acl/index.js';
import { tailnetInput } from '../src/policy/input.js';
import { CompiledPolicyView } from '../src/policy/view.js';
import { MapBuilder } from '../src/mapresponse/builder.js';
import { encodeFrame } from '../src/mapresponse/encode.js';
import { Tailnet } from '../src/state/tailnet.js';
import { loadConfig } from '../src/config/load.js';
import { endpointsFor, hostinfoFor, memory, pool, randomKey, stats, type MemorySnapshot, type Stats } from './common.js';

export interface MapBuildResult {
  nodes: number;
  populateSeconds: number;
  /** The very first build in the process for this tailnet (JIT and caches cold). */
  firstBuildMs: number;
  cold: Stats;
  warm: Stats;
  /** Time of MapBuilder.full alone and of the zstd framing alone, warm medians. */
  warmBuildOnlyMedianMs: number;
  warmEncodeOnlyMedianMs: number;
  jsonBytes: number;
  zstdBytes: number;
  /** Process memory with the populated tailnet and a warm builder, after GC. */
  memory: MemorySnapshot;
  /** Same, before the tailnet was loaded: the difference is the tailnet's cost. */
  memoryBefore: MemorySnapshot;
}

export interface Populated {
  dir: string;
  store: Store;
  tailnet: Tailnet;
  nodeIds: number[];
  close(): Promise<void>;
}

/** A tailnet of `count` nodes on a real SQLite store in a temp folder, through Tailnet.addNode. */
export async function populateTailnet(count: number): Promise<Populated> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-bench-'));
  const store = await createStore({ type: 'sqlite', path: path.join(dir, 'db.sqlite') });
  await store.migrate();
  const tailnet = await Tailnet.load(store, { prefixV4: '100.64.0.0/10', prefixV6: 'fd7a:115c:a1e0::/48', allocation: 'sequential' });
  const users = await Promise.all([0, 1, 2, 3].map((u) => tailnet.createUser({ name: `user${u}` })));
  const nodeIds: number[] = new Array(count);
  // A few writes in flight: the adapter has one connection, but this hides Prisma's per-call latency.
  await pool(count, 8, async (i) => {
    const n = await tailnet.addNode({
      machineKey: randomKey('mkey'),
      nodeKey: randomKey('nodekey'),
      discoKey: randomKey('discokey'),
      endpoints: endpointsFor(i),
      hostinfo: hostinfoFor(i),
      hostname: `node${i}`,
      userId: users[i % users.length]!.id,
      registerMethod: 'authkey',
      tags: [],
      authKeyId: null,
      ephemeral: false,
      expiry: null,
      lastSeen: null,
      approvedRoutes: [],
    });
    nodeIds[i] = n.id;
  });
  return {
    dir,
    store,
    tailnet,
    nodeIds,
    close: async () => {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function builderFactory(tailnet: Tailnet): Promise<() => MapBuilder> {
  // The same DERP map, DNS config and policy path the server uses with the default config
  // (no policy file: the compiled allow-all policy).
  const { config } = loadConfig({ cwd: os.tmpdir(), env: {}, defaults: 'dev' });
  const derpMap = await loadDerpMap(config.derp, {});
  const dns = buildDNSConfig(config.dns, { v4: config.prefixes.v4, v6: config.prefixes.v6 });
  const compile = () => compilePolicy(null, tailnetInput(tailnet));
  const policy = new CompiledPolicyView(tailnet, compile(), compile);
  return () =>
    new MapBuilder({
      tailnet,
      policy: () => policy,
      derpMap: () => derpMap,
      dnsConfig: () => dns,
      baseDomain: config.dns.base_domain,
      disableLogTail: !config.logtail.enabled,
    });
}

function timeOne(builder: MapBuilder, id: number): { total: number; build: number; encode: number; json: number; zstd: number } {
  const t0 = performance.now();
  const { json } = builder.full(id);
  const t1 = performance.now();
  const frame = encodeFrame(json, 'zstd');
  const t2 = performance.now();
  return { total: t2 - t0, build: t1 - t0, encode: t2 - t1, json: Buffer.byteLength(json), zstd: frame.length };
}

export async function benchMapBuild(opts: { nodes: number; runs?: number; log?: (m: string) => void }): Promise<MapBuildResult> {
  const runs = Math.max(20, opts.runs ?? 30);
  const log = opts.log ?? (() => {});
  const memoryBefore = memory();
  const t0 = performance.now();
  const pop = await populateTailnet(opts.nodes);
  const populateSeconds = (performance.now() - t0) / 1000;
  log(`  populated ${opts.nodes} nodes in ${populateSeconds.toFixed(1)} s`);
  try {
    const newBuilder = await builderFactory(pop.tailnet);
    const pick = (r: number) => pop.nodeIds[(r * 7919) % pop.nodeIds.length]!; // spread over the tailnet
    const first = timeOne(newBuilder(), pick(0));

    const cold: number[] = [];
    for (let r = 1; r <= runs; r++) cold.push(timeOne(newBuilder(), pick(r)).total);

    const warmBuilder = newBuilder();
    timeOne(warmBuilder, pick(0)); // fills the peer cache
    const warm: number[] = [];
    const build: number[] = [];
    const encode: number[] = [];
    let sizes = { json: 0, zstd: 0 };
    for (let r = 1; r <= runs; r++) {
      const t = timeOne(warmBuilder, pick(r));
      warm.push(t.total);
      build.push(t.build);
      encode.push(t.encode);
      sizes = { json: t.json, zstd: t.zstd };
    }
    return {
      nodes: opts.nodes,
      populateSeconds,
      firstBuildMs: first.total,
      cold: stats(cold),
      warm: stats(warm),
      warmBuildOnlyMedianMs: stats(build).median,
      warmEncodeOnlyMedianMs: stats(encode).median,
      jsonBytes: sizes.json,
      zstdBytes: sizes.zstd,
      memory: memory(),
      memoryBefore,
    };
  } finally {
    await pop.close();
  }
}
