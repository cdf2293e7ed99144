// The server under load: `switchboard serve` from this checkout's dist, as a child process
// on a temp SQLite file, so that its CPU and memory are read from /proc apart from the
// load generator's. Administration goes over its unix socket (users, keys, policy).

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { benchServerConfig } from '../common.js';

export interface ProcSample {
  rssMB: number;
  /** utime + stime, in seconds. */
  cpuSeconds: number;
  fds: number;
}

const TICKS_PER_SECOND = 100; // Linux USER_HZ

export function procSample(pid: number): ProcSample {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  let fds = 0;
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    /* exiting */
  }
  return { rssMB: rssKB / 1024, cpuSeconds: (Number(rest[11]) + Number(rest[12])) / TICKS_PER_SECOND, fds };
}

/** The server's global admission limits: lifted above the fleet, or as shipped. */
export type ServerLimits = 'fleet' | 'default';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class LoadServer {
  proc: ChildProcess | null = null;
  port = 0;
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-load-'));
  private stderr = '';

  constructor(
    private readonly root: string,
    private readonly opts: { maxConnections: number; nodeArgs?: string[]; limits?: ServerLimits },
  ) {}

  get pid(): number {
    if (!this.proc?.pid) throw new Error('server is not running');
    return this.proc.pid;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  private writeConfig(): string {
    const cfg = path.join(this.dir, 'config.yaml');
    const max = this.opts.maxConnections;
    // Every simulated node comes from 127.0.0.1, as no real tailnet does: the per-address
    // limits are off either way. 'fleet' also lifts the global ones above the fleet;
    // 'default' keeps them as shipped (max_pending_handshakes 1024, handshakes_per_second
    // 500, handshake_timeout 10 s), as a deployment with clients on many addresses has them.
    const limits =
      this.opts.limits === 'default'
        ? `limits: {max_connections: ${max}, max_connections_per_address: 0, handshakes_per_second_per_address: 0}`
        : `limits: {max_connections: ${max}, max_connections_per_address: 0, max_pending_handshakes: ${max}, handshakes_per_second: 0, handshakes_per_second_per_address: 0, handshake_timeout: 60s}`;
    fs.writeFileSync(cfg, benchServerConfig(this.dir, this.port, 'load.test', [limits]));
    return cfg;
  }

  /**
   * Spawns the server and resolves once /health answers, with when its control port first
   * took a TCP connection (the kernel accepts once listen() ran, before the event loop is free).
   */
  async start(): Promise<{ listeningAt: number }> {
    if (!this.port) {
      const probe = net.createServer().listen(0, '127.0.0.1');
      await new Promise((r) => probe.once('listening', r));
      this.port = (probe.address() as net.AddressInfo).port;
      await new Promise((r) => probe.close(r));
    }
    const cfg = this.writeConfig();
    this.stderr = '';
    const proc = spawn(process.execPath, [...(this.opts.nodeArgs ?? []), path.join(this.root, 'bin', 'switchboard.js'), 'serve', '-c', cfg], {
      stdio: ['ignore', 'ignore', 'pipe'],
      cwd: this.dir,
    });
    this.proc = proc;
    proc.stderr!.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-8000);
    });
    // A server that dies on its own (not through stop()) says why at once: the bench would
    // otherwise only see its clients fail.
    proc.once('exit', (code, signal) => {
      if (this.proc === proc) process.stderr.write(`load bench: server exited unexpectedly (${signal ?? code}); its last lines:\n${this.stderr.split('\n').slice(-30).join('\n')}\n`);
    });
    let listeningAt = 0;
    let probing = true;
    const probe = (async () => {
      while (probing && !listeningAt) {
        if (await this.accepts()) listeningAt = performance.timeOrigin + performance.now();
        else await sleep(20);
      }
    })();
    try {
      for (let i = 0; i < 600; i++) {
        if (await this.healthy()) {
          await probe;
          return { listeningAt };
        }
        if (proc.exitCode !== null) throw new Error(`server exited (${proc.exitCode}): ${this.stderr}`);
        await sleep(100);
      }
    } finally {
      probing = false;
    }
    throw new Error(`server did not answer /health within 60 s: ${this.stderr}`);
  }

  private accepts(): Promise<boolean> {
    return new Promise((resolve) => {
      const c = net.connect({ host: '127.0.0.1', port: this.port });
      c.once('connect', () => {
        c.destroy();
        resolve(true);
      });
      c.once('error', () => resolve(false));
    });
  }

  /** The last lines the server wrote to stderr (warnings and errors). */
  get log(): string {
    return this.stderr;
  }

  private healthy(): Promise<boolean> {
    return new Promise((resolve) => {
      const req = http.get({ host: '127.0.0.1', port: this.port, path: '/health', agent: false, timeout: 2000 }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200));
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(false));
    });
  }

  /**
   * GET /key one at a time, `gapMs` apart, for `forMs`: each answer's time (ms) is how long
   * the server's event loop kept a plain request waiting.
   */
  async probe(forMs: number, gapMs: number): Promise<number[]> {
    const out: number[] = [];
    const end = performance.now() + forMs;
    while (performance.now() < end) {
      const t = performance.now();
      await new Promise<void>((resolve) => {
        const req = http.get({ host: '127.0.0.1', port: this.port, path: '/key?v=113', timeout: 30_000 }, (res) => {
          res.resume();
          res.on('end', () => resolve());
        });
        req.on('timeout', () => req.destroy());
        req.on('error', () => resolve());
      });
      out.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, gapMs));
    }
    return out;
  }

  async serverKey(): Promise<string> {
    const r = (await (await fetch(`${this.url}/key?v=113`)).json()) as { publicKey: string };
    return r.publicKey;
  }

  /** SIGTERM (graceful) or SIGKILL; resolves when the process is gone. */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    this.proc = null;
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  }

  async dispose(): Promise<void> {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** One admin API request over the unix socket; rejects unless 2xx. */
  api<T>(method: string, urlPath: string, body?: unknown): Promise<T> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        { socketPath: path.join(this.dir, 'sb.sock'), method, path: urlPath, headers: { 'content-type': 'application/json' } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            if ((res.statusCode ?? 0) >= 300) reject(new Error(`${method} ${urlPath}: HTTP ${res.statusCode}: ${text}`));
            else resolve(JSON.parse(text || '{}') as T);
          });
        },
      );
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  }
}
