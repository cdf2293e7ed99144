// DERP relay throughput, round-trip latency and memory: Switchboard's relay (bench/derp-relay.ts,
// its own process) against the stock derper, same load from this process, loopback only.
//   throughput: `pairs` senders, each with up to 32 1,280-byte packets in flight to its own receiver
//   latency:    one packet at a time, A → relay → B → relay → A, 64 bytes
//   memory:     relay RSS idle, under the throughput load, and with a receiver that reads nothing
// benchDerpMesh: the same with two meshed relays (Switchboard's pair, then two derpers),
// senders on the first and receivers on the second, so every packet crosses the mesh.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { repoRoot, stats, type Stats } from './common.js';
import { LoadClient } from './derp-client.js';

export interface RelayResult {
  relay: string;
  pairs: number;
  packetBytes: number;
  mbitPerSecond: number;
  packetsPerSecond: number;
  rttMicros: Stats;
  rssIdleMB: number;
  rssLoadMaxMB: number;
  rssSlowReceiverMaxMB: number;
}

export interface DerpBenchOptions {
  durationMs?: number;
  pairs?: number;
  packetBytes?: number;
  roundTrips?: number;
  derperPath?: string | null;
  log?: (m: string) => void;
}

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return p;
}

async function waitListening(port: number, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`relay exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(port, '127.0.0.1', () => (s.destroy(), r(true)));
      s.on('error', () => r(false));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`nothing listens on ${port}`);
}

async function startSwitchboard(env: Record<string, string> = {}): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [path.join(repoRoot(), 'dist', 'bench', 'derp-relay.js')], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', (d) => resolve(JSON.parse(String(d)).port));
    child.once('exit', (c) => reject(new Error(`relay exited with ${c}`)));
  });
  return { child, port };
}

async function startDerper(bin: string, mesh?: { port: number; keyFile: string; with: number }): Promise<{ child: ChildProcess; port: number; dir: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'derper-bench-'));
  const port = mesh?.port ?? (await freePort());
  const meshArgs = mesh ? ['-mesh-psk-file', mesh.keyFile, '-mesh-with', `127.0.0.1:${mesh.with}`] : [];
  // derper's mesh client dials https:// unless TS_DEBUG_USE_DERP_HTTP says plain HTTP.
  const child = spawn(bin, ['-a', `127.0.0.1:${port}`, '-http-port', '-1', '-stun=false', '-c', path.join(dir, 'derper.json'), '-certdir', dir, ...meshArgs], {
    stdio: 'ignore',
    env: { ...process.env, TS_DEBUG_USE_DERP_HTTP: '1' },
  });
  await waitListening(port, child);
  return { child, port, dir };
}

/** Senders connect to `send`, receivers to `recv` (the same relay, or two meshed ones); RSS is the sum over `pids`. */
async function measure(name: string, pids: number[], ports: { send: number; recv: number }, o: Required<Omit<DerpBenchOptions, 'derperPath' | 'log'>>, log: (m: string) => void): Promise<RelayResult> {
  const rss = () => pids.reduce((n, p) => n + rssOf(p), 0);
  // Latency: one packet in flight.
  const a = new LoadClient();
  const b = new LoadClient();
  await a.connect(ports.send);
  await b.connect(ports.recv);
  b.onPacket = (body) => b.write(b.sendFrame(a.pub, body.subarray(32)));
  const ping = a.sendFrame(b.pub, randomBytes(64));
  // Meshed relays learn of a and b a moment after they log in; until then packets drop.
  for (let i = 0; ; i++) {
    if (i === 100) throw new Error(`${name}: no round trip within 10 s`);
    const got = new Promise<boolean>((r) => {
      const t = setTimeout(() => r(false), 100);
      a.onPacket = () => (clearTimeout(t), r(true));
    });
    a.write(ping);
    if (await got) break;
  }
  const rtts: number[] = [];
  for (let i = 0; i < o.roundTrips + 200; i++) {
    const got = new Promise<void>((r) => (a.onPacket = () => r()));
    const t0 = process.hrtime.bigint();
    a.write(ping);
    await got;
    if (i >= 200) rtts.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  a.close();
  b.close();
  const rssIdleMB = rss();
  log(`  ${name}: rtt median ${stats(rtts).median.toFixed(0)} µs`);

  // Throughput: pairs of blasting senders.
  const senders: LoadClient[] = [];
  const receivers: LoadClient[] = [];
  for (let i = 0; i < o.pairs; i++) {
    const s = new LoadClient();
    const r = new LoadClient();
    await s.connect(ports.send);
    await r.connect(ports.recv);
    senders.push(s);
    receivers.push(r);
  }
  let stop = false;
  // derper's per-client queue holds 32 packets; a window of 32 in flight never needs to drop.
  const blasts = senders.map((s, i) => s.windowed(s.sendFrame(receivers[i]!.pub, randomBytes(o.packetBytes)), receivers[i]!, 32, () => stop));
  let rssLoadMaxMB = 0;
  const sampler = setInterval(() => (rssLoadMaxMB = Math.max(rssLoadMaxMB, rss())), 100);
  await sleep(1000); // warm-up
  const count = () => receivers.reduce((n, r) => n + r.packets, 0);
  const p0 = count();
  const t0 = Date.now();
  await sleep(o.durationMs);
  const packets = count() - p0;
  const secs = (Date.now() - t0) / 1000;
  stop = true;
  await Promise.all(blasts);
  clearInterval(sampler);
  for (const c of [...senders, ...receivers]) c.close();
  const packetsPerSecond = packets / secs;
  log(`  ${name}: ${(packetsPerSecond / 1000).toFixed(1)} kpackets/s`);

  // A receiver that reads nothing: the relay must drop, not buffer.
  const s = new LoadClient();
  const r = new LoadClient();
  await s.connect(ports.send);
  await r.connect(ports.recv);
  await sleep(200); // meshed: r becomes known on the sender's relay
  r.pause();
  let rssSlowReceiverMaxMB = 0;
  const sampler2 = setInterval(() => (rssSlowReceiverMaxMB = Math.max(rssSlowReceiverMaxMB, rss())), 100);
  stop = false;
  const blast = s.blast(s.sendFrame(r.pub, randomBytes(o.packetBytes)), () => stop);
  await sleep(3000);
  stop = true;
  await blast;
  clearInterval(sampler2);
  s.close();
  r.close();

  return {
    relay: name,
    pairs: o.pairs,
    packetBytes: o.packetBytes,
    mbitPerSecond: (packetsPerSecond * o.packetBytes * 8) / 1e6,
    packetsPerSecond,
    rttMicros: stats(rtts),
    rssIdleMB,
    rssLoadMaxMB,
    rssSlowReceiverMaxMB,
  };
}

export async function benchDerp(opts: DerpBenchOptions = {}): Promise<RelayResult[]> {
  const log = opts.log ?? (() => {});
  const o = { durationMs: opts.durationMs ?? 5000, pairs: opts.pairs ?? 2, packetBytes: opts.packetBytes ?? 1280, roundTrips: opts.roundTrips ?? 2000 };
  const out: RelayResult[] = [];
  const sb = await startSwitchboard();
  try {
    await sleep(500);
    out.push(await measure('switchboard', [sb.child.pid!], { send: sb.port, recv: sb.port }, o, log));
  } finally {
    sb.child.kill('SIGTERM');
  }
  const derper = opts.derperPath;
  if (derper && fs.existsSync(derper)) {
    const d = await startDerper(derper);
    try {
      await sleep(500);
      out.push(await measure('derper', [d.child.pid!], { send: d.port, recv: d.port }, o, log));
    } finally {
      d.child.kill('SIGTERM');
      fs.rmSync(d.dir, { recursive: true, force: true });
    }
  } else log(`  derper not found (${derper}); only Switchboard measured`);
  return out;
}

/** Two meshed relays of each kind; RSS figures are the sum of both processes. */
export async function benchDerpMesh(opts: DerpBenchOptions = {}): Promise<RelayResult[]> {
  const log = opts.log ?? (() => {});
  const o = { durationMs: opts.durationMs ?? 5000, pairs: opts.pairs ?? 2, packetBytes: opts.packetBytes ?? 1280, roundTrips: opts.roundTrips ?? 2000 };
  const out: RelayResult[] = [];
  const key = randomBytes(32).toString('hex');
  const [p1, p2] = [await freePort(), await freePort()];
  const env = (port: number, other: number) => ({ SWITCHBOARD_BENCH_PORT: String(port), SWITCHBOARD_BENCH_MESH_KEY: key, SWITCHBOARD_BENCH_MESH_WITH: `http://127.0.0.1:${other}` });
  const sb1 = await startSwitchboard(env(p1, p2));
  const sb2 = await startSwitchboard(env(p2, p1));
  try {
    await sleep(500);
    out.push(await measure('switchboard mesh', [sb1.child.pid!, sb2.child.pid!], { send: p1, recv: p2 }, o, log));
  } finally {
    sb1.child.kill('SIGTERM');
    sb2.child.kill('SIGTERM');
  }
  const derper = opts.derperPath;
  if (derper && fs.existsSync(derper)) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'derper-mesh-bench-'));
    const keyFile = path.join(dir, 'mesh.key');
    fs.writeFileSync(keyFile, key + '\n', { mode: 0o600 });
    const [q1, q2] = [await freePort(), await freePort()];
    const d1 = await startDerper(derper, { port: q1, keyFile, with: q2 });
    const d2 = await startDerper(derper, { port: q2, keyFile, with: q1 });
    try {
      await sleep(500);
      out.push(await measure('derper mesh', [d1.child.pid!, d2.child.pid!], { send: q1, recv: q2 }, o, log));
    } finally {
      for (const d of [d1, d2]) {
        d.child.kill('SIGTERM');
        fs.rmSync(d.dir, { recursive: true, force: true });
      }
      fs.rmSync(dir, { recursive: true, force: true });
    }
  } else log(`  derper not found (${derper}); only Switchboard measured`);
  return out;
}
