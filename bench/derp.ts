// DERP relay throughput, round-trip latency and memory: Switchboard's relay (bench/derp-relay.ts,
// its own process) against the stock derper, same load from this process, loopback only.
//   throughput: `pairs` senders, each with up to 32 1,280-byte packets in flight to its own receiver
//   latency:    one packet at a time, A → relay → B → relay → A, 64 bytes
//   memory:     relay RSS idle, under the throughput load, and with a receiver that reads nothing

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

function rssMB(pid: number): number {
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

async function startSwitchboard(): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [path.join(repoRoot(), 'dist', 'bench', 'derp-relay.js')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', (d) => resolve(JSON.parse(String(d)).port));
    child.once('exit', (c) => reject(new Error(`relay exited with ${c}`)));
  });
  return { child, port };
}

async function startDerper(bin: string): Promise<{ child: ChildProcess; port: number; dir: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'derper-bench-'));
  const port = await freePort();
  const child = spawn(bin, ['-a', `127.0.0.1:${port}`, '-http-port', '-1', '-stun=false', '-c', path.join(dir, 'derper.json'), '-certdir', dir], { stdio: 'ignore' });
  await waitListening(port, child);
  return { child, port, dir };
}

async function measure(name: string, pid: number, port: number, o: Required<Omit<DerpBenchOptions, 'derperPath' | 'log'>>, log: (m: string) => void): Promise<RelayResult> {
  // Latency: one packet in flight.
  const a = new LoadClient();
  const b = new LoadClient();
  await a.connect(port);
  await b.connect(port);
  b.onPacket = (body) => b.write(b.sendFrame(a.pub, body.subarray(32)));
  const ping = a.sendFrame(b.pub, randomBytes(64));
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
  const rssIdleMB = rssMB(pid);
  log(`  ${name}: rtt median ${stats(rtts).median.toFixed(0)} µs`);

  // Throughput: pairs of blasting senders.
  const senders: LoadClient[] = [];
  const receivers: LoadClient[] = [];
  for (let i = 0; i < o.pairs; i++) {
    const s = new LoadClient();
    const r = new LoadClient();
    await s.connect(port);
    await r.connect(port);
    senders.push(s);
    receivers.push(r);
  }
  let stop = false;
  // derper's per-client queue holds 32 packets; a window of 32 in flight never needs to drop.
  const blasts = senders.map((s, i) => s.windowed(s.sendFrame(receivers[i]!.pub, randomBytes(o.packetBytes)), receivers[i]!, 32, () => stop));
  let rssLoadMaxMB = 0;
  const sampler = setInterval(() => (rssLoadMaxMB = Math.max(rssLoadMaxMB, rssMB(pid))), 100);
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
  await s.connect(port);
  await r.connect(port);
  r.pause();
  let rssSlowReceiverMaxMB = 0;
  const sampler2 = setInterval(() => (rssSlowReceiverMaxMB = Math.max(rssSlowReceiverMaxMB, rssMB(pid))), 100);
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
    out.push(await measure('switchboard', sb.child.pid!, sb.port, o, log));
  } finally {
    sb.child.kill('SIGTERM');
  }
  const derper = opts.derperPath;
  if (derper && fs.existsSync(derper)) {
    const d = await startDerper(derper);
    try {
      await sleep(500);
      out.push(await measure('derper', d.child.pid!, d.port, o, log));
    } finally {
      d.child.kill('SIGTERM');
      fs.rmSync(d.dir, { recursive: true, force: true });
    }
  } else log(`  derper not found (${derper}); only Switchboard measured`);
  return out;
}
