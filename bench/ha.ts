// Propagation across instances: two `switchboard serve` processes on one PostgreSQL
// database, streaming clients split between them. Measures how long a join and an
// endpoint change on one instance take to reach the clients of the other, beside the
// clients of the same instance (the local path) for comparison.
//   npm run build && node dist/bench/ha.js [--clients N] [--rounds R]
// Needs the test PostgreSQL: $SWITCHBOARD_TEST_PG_URL, else scripts/pg-setup.sh starts it.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { TailscaleClient } from '../src/client/client.js';
import type { NetMap } from '../src/client/netmap.js';
import { Instance } from '../test/ha/harness.js';
import { machineInfo, pool, repoRoot, stats, type Stats } from './common.js';

interface Args {
  clients: number;
  rounds: number;
}

function parseArgs(argv: string[]): Args {
  const out: Args = { clients: 400, rounds: 10 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--clients') out.clients = Number(argv[++i]);
    else if (a === '--rounds') out.rounds = Number(argv[++i]);
    else throw new Error(`unknown argument ${a} (--clients N, --rounds R)`);
  }
  if (!(out.clients >= 2) || !(out.rounds >= 1)) throw new Error('--clients must be ≥ 2 and --rounds ≥ 1');
  return out;
}

const log = (m: string) => process.stderr.write(m + '\n');

async function admin(url: string, sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/** Resolves, per client, with ms from `t0` to the first netmap for which `seen` holds. */
function watch(clients: TailscaleClient[], seen: (nm: NetMap) => boolean, t0: number, timeoutMs = 30_000): Promise<number[]> {
  return Promise.all(
    clients.map(
      (c) =>
        new Promise<number>((resolve, reject) => {
          if (seen(c.netmap)) return resolve(performance.now() - t0);
          const timer = setTimeout(() => {
            c.off('map', onMap);
            reject(new Error(`${c.opts.hostname} did not see the change within ${timeoutMs} ms`));
          }, timeoutMs);
          const onMap = () => {
            if (!seen(c.netmap)) return;
            clearTimeout(timer);
            c.off('map', onMap);
            resolve(performance.now() - t0);
          };
          c.on('map', onMap);
        }),
    ),
  );
}

export interface HaBenchResult {
  clients: number;
  rounds: number;
  settleSeconds: number;
  /** Per round, the slowest client of each group (the change is visible to all of them). */
  joinAllLocal: Stats;
  joinAllRemote: Stats;
  endpointAllLocal: Stats;
  endpointAllRemote: Stats;
  /** Every client's own latency, all rounds. */
  endpointEachRemote: Stats;
}

export async function benchHa(args: Args): Promise<HaBenchResult> {
  const serverUrl = process.env.SWITCHBOARD_TEST_PG_URL ?? execFileSync('bash', [path.join(repoRoot(), 'scripts', 'pg-setup.sh')], { encoding: 'utf8' }).trim().split('\n').pop()!;
  const dbName = `sbbench_${process.pid}_${randomBytes(4).toString('hex')}`;
  await admin(serverUrl, `CREATE DATABASE "${dbName}"`);
  const u = new URL(serverUrl);
  u.pathname = `/${dbName}`;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-bench-ha-'));
  const [a, b] = ['a', 'b'].map((name) => new Instance({ name, root, pgUrl: u.toString(), heartbeat: '2s', instanceTimeout: '10s' })) as [Instance, Instance];
  const all: TailscaleClient[] = [];
  try {
    await a.start();
    await b.start();
    const key = (await a.cliJson<{ key: string }>(['preauthkeys', 'create', '--user', 'default', '--reusable'])).key;
    const onA: TailscaleClient[] = [];
    const onB: TailscaleClient[] = [];
    for (let i = 0; i < args.clients; i++) {
      const at = i % 2 === 0 ? a : b;
      const c = new TailscaleClient({ serverUrl: at.url, hostname: `n${i}` });
      c.endpoints = [`198.18.${(i >> 8) & 255}.${i & 255}:41641`];
      (at === a ? onA : onB).push(c);
      all.push(c);
    }
    log(`ha: ${args.clients} clients registering and streaming (half on each instance) …`);
    const t0 = performance.now();
    await pool(all.length, 32, async (i) => {
      const c = all[i]!;
      const r = await c.register({ authKey: key });
      if (!r.MachineAuthorized) throw new Error(`${c.opts.hostname}: ${r.Error}`);
      await c.startStream();
    });
    await watch(all, (nm) => nm.peers.size >= args.clients - 1 && [...nm.peers.values()].every((p) => p.Online === true), t0, 120_000);
    const settleSeconds = (performance.now() - t0) / 1000;
    log(`ha: settled in ${settleSeconds.toFixed(1)} s`);

    const joinLocal: number[] = [];
    const joinRemote: number[] = [];
    const epLocal: number[] = [];
    const epRemote: number[] = [];
    const epEach: number[] = [];
    for (let r = 0; r < args.rounds; r++) {
      // A join on A: visible (online) at every other client of A and of B.
      const name = `join${r}`;
      const j = new TailscaleClient({ serverUrl: a.url, hostname: name });
      all.push(j);
      const seen = (nm: NetMap) => nm.peerByName(name)?.Online === true;
      const start = performance.now();
      const local = watch(onA, seen, start);
      const remote = watch(onB, seen, start);
      const reg = await j.register({ authKey: key });
      if (!reg.MachineAuthorized) throw new Error(`${name}: ${reg.Error}`);
      await j.startStream();
      joinLocal.push(Math.max(...(await local)));
      joinRemote.push(Math.max(...(await remote)));

      // An endpoint change by a client of A.
      const mover = onA[r % onA.length]!;
      const ep = `203.0.113.${r % 250}:${40000 + r}`;
      mover.endpoints = [ep];
      const moved = (nm: NetMap) => nm.peerByName(mover.opts.hostname)?.Endpoints?.[0] === ep;
      const s2 = performance.now();
      const l2 = watch(onA.filter((c) => c !== mover), moved, s2);
      const r2 = watch(onB, moved, s2);
      await mover.liteUpdate();
      epLocal.push(Math.max(...(await l2)));
      const each = await r2;
      epEach.push(...each);
      epRemote.push(Math.max(...each));
    }
    return {
      clients: args.clients,
      rounds: args.rounds,
      settleSeconds,
      joinAllLocal: stats(joinLocal),
      joinAllRemote: stats(joinRemote),
      endpointAllLocal: stats(epLocal),
      endpointAllRemote: stats(epRemote),
      endpointEachRemote: stats(epEach),
    };
  } finally {
    for (const c of all) c.close();
    await a.stop().catch(() => {});
    await b.stop().catch(() => {});
    await admin(serverUrl, `DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`).catch(() => {});
    fs.rmSync(root, { recursive: true, force: true });
  }
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname);
if (isMain) {
  const args = parseArgs(process.argv.slice(2));
  const r = await benchHa(args);
  const f = (s: Stats) => `${s.median.toFixed(1)} / ${s.p99.toFixed(1)} / ${s.max.toFixed(1)}`;
  const rows = [
    ['join on A, visible online at all clients of A (p50 / p99 / max of per-round slowest), ms', f(r.joinAllLocal)],
    ['join on A, visible online at all clients of B, ms', f(r.joinAllRemote)],
    ['endpoint change on A, at all other clients of A, ms', f(r.endpointAllLocal)],
    ['endpoint change on A, at all clients of B, ms', f(r.endpointAllRemote)],
    ['endpoint change on A, each client of B (all rounds), ms', f(r.endpointEachRemote)],
    ['settle: all registered, streaming, all peers online, s', r.settleSeconds.toFixed(1)],
  ];
  process.stdout.write(`ha: ${r.clients} clients on two instances, ${r.rounds} rounds\n`);
  for (const [k, v] of rows) process.stdout.write(`  ${k.padEnd(92)} ${v}\n`);
  const out = path.join(repoRoot(), 'dist', 'bench-ha-results.json');
  fs.writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), machine: machineInfo(), result: r }, null, 2));
  process.stdout.write(`written to ${out}\n`);
}
