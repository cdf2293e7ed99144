// What a client without credentials can do to a running server: each attack runs for a
// fixed time from its own loopback source address (127.0.0.x; Linux routes all of
// 127/8 to lo) while a probe from 127.0.0.1 times GET /health, and the server process's
// RSS, descriptors and CPU are read from /proc. The server is a child process, so the
// figures are its own; `--server-root DIR` runs another checkout's build (before/after).
//   npm run bench -- --only abuse [--server-root /path/to/other/checkout]

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { dialControl } from '../src/client/transport.js';
import { Flag, FrameType, frame } from '../src/http2/frames.js';
import { HpackEncoder } from '../src/http2/hpack.js';
import { createInitiation } from '../src/noise/control-handshake.js';
import { generateKeyPair } from '../src/noise/keys.js';
import { benchServerConfig, percentile, repoRoot } from './common.js';

export interface AttackResult {
  attack: string;
  /** What the attacker got: connections held, handshakes answered, … */
  outcome: string;
  rssBaseMB: number;
  rssPeakMB: number;
  /** RSS a few seconds after the attack stopped. */
  rssAfterMB: number;
  fdsPeak: number;
  cpuPercent: number;
  healthP50Ms: number;
  healthP95Ms: number;
  healthMaxMs: number;
  healthFailures: number;
  healthProbes: number;
}

export interface AbuseResult {
  serverRoot: string;
  seconds: number;
  attacks: AttackResult[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function procStats(pid: number): { rssMB: number; fds: number; cpuTicks: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  let fds = 0;
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    /* racing the exit */
  }
  // Fields 14 and 15 of /proc/pid/stat (utime, stime), counted after the command name.
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { rssMB: rssKB / 1024, fds, cpuTicks: Number(rest[11]) + Number(rest[12]) };
}

/** GET /health on a fresh connection; the time in ms, or null when it failed or took over 2 s. */
function probeHealth(port: number): Promise<number | null> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/health', agent: false, timeout: 2000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200 ? performance.now() - t0 : null));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
  });
}

/** GET /health every 100 ms on a fresh connection; posts each time in ms (null: failed or over 2 s). */
const PROBE_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const http = require('node:http');
let stopped = false;
parentPort.on('message', () => { stopped = true; });
function probe() {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port: workerData.port, path: '/health', agent: false, timeout: 2000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200 ? performance.now() - t0 : null));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
  });
}
(async () => {
  while (!stopped) {
    parentPort.postMessage({ ms: await probe() });
    await new Promise((r) => setTimeout(r, 100));
  }
  process.exit(0);
})();
`;

class Server {
  proc!: ChildProcess;
  port = 0;
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-abuse-'));
  constructor(private readonly root: string) {}

  async start(): Promise<void> {
    const probe = net.createServer().listen(0, '127.0.0.1');
    await new Promise((r) => probe.once('listening', r));
    this.port = (probe.address() as net.AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const cfg = path.join(this.dir, 'config.yaml');
    fs.writeFileSync(cfg, benchServerConfig(this.dir, this.port, 'abuse.test'));
    this.proc = spawn(process.execPath, [path.join(this.root, 'bin', 'switchboard.js'), 'serve', '-c', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    this.proc.stderr!.on('data', (d) => (err += d));
    for (let i = 0; i < 200; i++) {
      if ((await probeHealth(this.port)) !== null) return;
      if (this.proc.exitCode !== null) throw new Error(`server exited: ${err}`);
      await sleep(100);
    }
    throw new Error(`server did not answer /health: ${err}`);
  }

  get pid(): number {
    return this.proc.pid!;
  }

  async stop(): Promise<void> {
    this.proc.kill('SIGTERM');
    await new Promise((r) => (this.proc.exitCode !== null ? r(null) : this.proc.once('exit', r)));
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** One API request over the unix socket (trusted, no key). */
  api(method: string, urlPath: string, body?: unknown): Promise<{ status: number; ms: number }> {
    const t0 = performance.now();
    return new Promise((resolve, reject) => {
      const req = http.request({ socketPath: path.join(this.dir, 'sb.sock'), method, path: urlPath, headers: { 'content-type': 'application/json' } }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0 }));
      });
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  }
}

/** Runs `attack` for `seconds` while probing; `attack` returns its own summary when told to stop. */
async function measure(srv: Server, name: string, seconds: number, attack: (stop: () => boolean) => Promise<string>): Promise<AttackResult> {
  await sleep(500);
  const base = procStats(srv.pid);
  const latencies: number[] = [];
  let failures = 0;
  let stopped = false;
  let rssPeak = base.rssMB;
  let fdsPeak = base.fds;
  const sampler = setInterval(() => {
    try {
      const s = procStats(srv.pid);
      rssPeak = Math.max(rssPeak, s.rssMB);
      fdsPeak = Math.max(fdsPeak, s.fds);
    } catch {
      /* exited */
    }
  }, 200);
  // The probe runs on its own thread: the attack's loops would otherwise delay its timers
  // and its reads, and the figures would be the attacker's, not the server's.
  const prober = new Worker(PROBE_SOURCE, { eval: true, workerData: { port: srv.port } });
  prober.on('message', (m: { ms: number | null }) => {
    if (m.ms === null) failures++;
    else latencies.push(m.ms);
  });
  const t0 = performance.now();
  const attackDone = attack(() => stopped);
  await sleep(seconds * 1000);
  stopped = true;
  const outcome = await attackDone;
  prober.postMessage('stop');
  await new Promise((r) => prober.once('exit', r));
  const elapsed = (performance.now() - t0) / 1000;
  const end = procStats(srv.pid);
  clearInterval(sampler);
  await sleep(3000);
  const after = procStats(srv.pid);
  const all = [...latencies, ...Array(failures).fill(2000)];
  return {
    attack: name,
    outcome,
    rssBaseMB: base.rssMB,
    rssPeakMB: rssPeak,
    rssAfterMB: after.rssMB,
    fdsPeak,
    cpuPercent: ((end.cpuTicks - base.cpuTicks) / 100 / elapsed) * 100,
    healthP50Ms: percentile(all, 50),
    healthP95Ms: percentile(all, 95),
    healthMaxMs: all.length ? Math.max(...all) : NaN,
    healthFailures: failures,
    healthProbes: all.length,
  };
}

function dialFrom(port: number, from: string): net.Socket {
  const s = net.connect({ port, host: '127.0.0.1', localAddress: from });
  s.on('error', () => {});
  return s;
}

/** 4,000 connections from four addresses that never send a byte. */
async function idleFlood(srv: Server, stop: () => boolean): Promise<string> {
  const socks: net.Socket[] = [];
  for (let i = 0; i < 4000 && !stop(); i++) {
    socks.push(dialFrom(srv.port, `127.0.0.${2 + (i % 4)}`));
    if (i % 200 === 199) await sleep(10);
  }
  while (!stop()) await sleep(100);
  const open = socks.filter((s) => !s.destroyed && !s.readableEnded).length;
  socks.forEach((s) => s.destroy());
  return `${open} of ${socks.length} still open at the end`;
}

/** The same initiation, replayed as fast as 64 connections at a time allow. */
async function replayFlood(srv: Server, stop: () => boolean): Promise<string> {
  const key = generateKeyPair();
  const serverKey = await fetch(`http://127.0.0.1:${srv.port}/key?v=113`).then((r) => r.json() as Promise<{ publicKey: string }>);
  const pub = Buffer.from(serverKey.publicKey.slice(5), 'hex');
  const init = createInitiation(key.privateKey, pub, 113).initiationBytes.toString('base64');
  const req = `POST /ts2021 HTTP/1.1\r\nHost: x\r\nUpgrade: tailscale-control-protocol\r\nConnection: upgrade\r\nX-Tailscale-Handshake: ${init}\r\n\r\n`;
  const counts = { 101: 0, 429: 0, other: 0 };
  const one = () =>
    new Promise<void>((resolve) => {
      const s = dialFrom(srv.port, '127.0.0.6');
      let head = '';
      s.on('data', (d: Buffer) => {
        head += d.toString('latin1');
        if (head.includes('\r\n')) s.destroy();
      });
      s.on('close', () => {
        const code = /^HTTP\/1\.1 (\d{3})/.exec(head)?.[1];
        if (code === '101') counts[101]++;
        else if (code === '429') counts[429]++;
        else counts.other++;
        resolve();
      });
      s.write(req);
    });
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (!stop()) await one();
    }),
  );
  return `${counts[101]} answered (101), ${counts[429]} refused (429), ${counts.other} other`;
}

/** Ten real control connections that flood PING and never read. */
async function pingFlood(srv: Server, stop: () => boolean): Promise<string> {
  const ping = frame(FrameType.PING, 0, 0, Buffer.alloc(8));
  const burst = Buffer.concat(Array.from({ length: 1000 }, () => ping));
  let sent = 0;
  let closed = 0;
  await Promise.all(
    Array.from({ length: 10 }, async () => {
      const link = await dialControl(`http://127.0.0.1:${srv.port}`, { machinePrivateKey: generateKeyPair().privateKey, http2: 'builtin' });
      link.conn.pause(); // stop reading: every PING answer has to queue at the server
      let gone = false;
      link.conn.on('close', () => (gone = true));
      link.conn.on('error', () => {});
      while (!stop() && !gone) {
        if (!link.conn.write(burst)) await new Promise((r) => setTimeout(r, 5));
        sent += 1000;
        await new Promise((r) => setImmediate(r));
      }
      if (gone) closed++;
      link.conn.destroy();
    }),
  );
  return `${sent.toLocaleString('en-US')} PINGs written; ${closed} of 10 connections closed by the server`;
}

/** Ten control connections, each opening 100 POST streams with 1 MiB bodies never finished. */
async function bodyHoard(srv: Server, stop: () => boolean): Promise<string> {
  let closed = 0;
  let written = 0;
  await Promise.all(
    Array.from({ length: 10 }, async () => {
      const link = await dialControl(`http://127.0.0.1:${srv.port}`, { machinePrivateKey: generateKeyPair().privateKey, http2: 'builtin' });
      let gone = false;
      link.conn.on('close', () => (gone = true));
      link.conn.on('error', () => {});
      // Raw frames beside the real client, which sends no request here: the server's HPACK
      // table then follows this encoder alone.
      const enc = new HpackEncoder();
      const chunk = Buffer.alloc(16 * 1024);
      for (let i = 0; i < 100 && !stop() && !gone; i++) {
        const id = 1001 + 2 * i;
        const block = enc.encode([[':method', 'POST'], [':path', '/machine/map'], [':scheme', 'http'], [':authority', 'x']]);
        link.conn.write(frame(FrameType.HEADERS, Flag.END_HEADERS, id, block));
        for (let k = 0; k < 64 && !gone; k++) {
          if (!link.conn.write(frame(FrameType.DATA, 0, id, chunk))) await new Promise((r) => setTimeout(r, 2));
          written += chunk.length;
        }
      }
      while (!stop() && !gone) await sleep(100);
      if (gone) closed++;
      link.conn.destroy();
    }),
  );
  return `${(written / (1 << 20)).toFixed(0)} MiB of unfinished bodies written; ${closed} of 10 connections closed by the server`;
}

/** Groups nested as a diamond: each level names the one below twice. */
function diamondPolicy(depth: number): string {
  const groups: Record<string, string[]> = { 'group:g0': ['alice@'] };
  for (let i = 1; i <= depth; i++) groups[`group:g${i}`] = [`group:g${i - 1}`, `group:g${i - 1}`];
  return JSON.stringify({ groups, acls: [{ action: 'accept', src: [`group:g${depth}`], dst: ['*:*'] }] });
}

async function policyDiamond(srv: Server, stop: () => boolean): Promise<string> {
  const answers: string[] = [];
  while (!stop()) {
    const r = await srv.api('POST', '/api/v1/policy/check', { policy: diamondPolicy(21) });
    answers.push(`${r.status} in ${r.ms.toFixed(0)} ms`);
    await sleep(500);
  }
  const uniq = [...new Set(answers.map((a) => a.split(' ')[0]))];
  return `${answers.length} checks at depth 21, status ${uniq.join('/')}, slowest ${Math.max(...answers.map((a) => Number(a.split(' ')[2])))} ms`;
}

export async function benchAbuse(opts: { serverRoot?: string; seconds?: number; log?: (m: string) => void } = {}): Promise<AbuseResult> {
  const root = opts.serverRoot ?? repoRoot();
  const seconds = opts.seconds ?? 10;
  const log = opts.log ?? (() => {});
  const attacks: Array<[string, (srv: Server, stop: () => boolean) => Promise<string>]> = [
    ['4,000 idle connections', idleFlood],
    ['replayed initiation, 64 at a time', replayFlood],
    ['PING flood, not reading (10 conns)', pingFlood],
    ['unfinished bodies, 10 × 100 streams', bodyHoard],
    ['diamond policy check, depth 21', policyDiamond],
  ];
  const results: AttackResult[] = [];
  for (const [name, fn] of attacks) {
    // A fresh server per attack: one attack's leftovers must not count against the next.
    const srv = new Server(root);
    await srv.start();
    log(`abuse: ${name} …`);
    try {
      results.push(await measure(srv, name, seconds, (stop) => fn(srv, stop)));
    } finally {
      await srv.stop();
    }
  }
  return { serverRoot: root, seconds, attacks: results };
}
