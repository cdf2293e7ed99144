// `switchboard serve` processes from the built tree on one PostgreSQL database, each in its
// own folder (config, unix socket) but sharing one Noise key file, as the README tells an
// operator to run them. kill() sends SIGKILL: no clean shutdown, no goodbye to the others.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { CLI_BIN, cleanCliEnv, runCli, type CliRun } from '../helpers/cli.js';


export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export interface InstanceOptions {
  name: string;
  /** Folder shared by the instances (holds the Noise key); the instance gets a subfolder. */
  root: string;
  pgUrl: string;
  /** Defaults to this instance's own address; behind a load balancer, the balancer's. */
  serverUrl?: string;
  port?: number;
  heartbeat?: string;
  instanceTimeout?: string;
}

export class Instance {
  private child: ChildProcess | null = null;
  output = '';
  readonly dir: string;
  url = '';
  port = 0;
  metricsPort = 0;

  constructor(readonly opts: InstanceOptions) {
    this.dir = path.join(opts.root, opts.name);
    fs.mkdirSync(this.dir, { recursive: true });
  }

  get config(): string {
    return path.join(this.dir, 'config.yaml');
  }

  get alive(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  async start(): Promise<void> {
    this.port ||= this.opts.port ?? (await freePort());
    this.url = `http://127.0.0.1:${this.port}`;
    this.metricsPort ||= await freePort();
    const u = new URL(this.opts.pgUrl);
    fs.writeFileSync(
      this.config,
      [
        `server_url: ${this.opts.serverUrl ?? this.url}`,
        `listen_addr: 127.0.0.1:${this.port}`,
        `metrics_listen_addr: 127.0.0.1:${this.metricsPort}`,
        `noise: {private_key_path: ${path.join(this.opts.root, 'noise_private.key')}}`,
        `prefixes: {v4: 100.64.0.0/10, v6: fd7a:115c:a1e0::/48, allocation: sequential}`,
        'database:',
        '  type: postgres',
        `  postgres: {host: ${u.hostname}, port: ${u.port || 5432}, name: ${u.pathname.slice(1)}, user: ${decodeURIComponent(u.username)}, pass: ${decodeURIComponent(u.password)}}`,
        `  ha: {heartbeat_interval: ${this.opts.heartbeat ?? '200ms'}, instance_timeout: ${this.opts.instanceTimeout ?? '1500ms'}}`,
        `derp: {server: {enabled: false}, urls: [], paths: []}`,
        `dns: {magic_dns: true, base_domain: tail.example, nameservers: {global: [1.1.1.1]}}`,
        `unix_socket: ${path.join(this.dir, 'sb.sock')}`,
        `policy: {mode: database}`,
        `log: {level: info}`,
      ].join('\n') + '\n',
    );
    this.output = '';
    const child = spawn(process.execPath, [CLI_BIN, 'serve', '--bootstrap', '-c', this.config], { cwd: this.dir, env: cleanCliEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout!.on('data', (d) => (this.output += d));
    child.stderr!.on('data', (d) => (this.output += d));
    const deadline = Date.now() + 30_000;
    while (!this.output.includes('control server listening')) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`${this.opts.name} did not start:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** SIGKILL: the process dies without closing anything. */
  async kill(): Promise<void> {
    await this.signal('SIGKILL');
  }

  async stop(): Promise<void> {
    await this.signal('SIGTERM');
  }

  private async signal(sig: NodeJS.Signals): Promise<void> {
    const c = this.child;
    if (!c || !this.alive) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill(sig);
    await exited;
  }

  /** One sample of /metrics (a metric without labels), or undefined when absent. */
  async metric(name: string): Promise<number | undefined> {
    const text = await (await fetch(`http://127.0.0.1:${this.metricsPort}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return line === undefined ? undefined : Number(line.slice(name.length + 1));
  }

  /** Runs the admin CLI against this instance's unix socket. */
  cli(args: string[]): Promise<CliRun> {
    return runCli(['-c', this.config, ...args], { cwd: this.dir });
  }

  /** Runs the CLI and parses its JSON output; throws with stderr when it fails. */
  async cliJson<T>(args: string[]): Promise<T> {
    const r = await this.cli([...args, '-o', 'json']);
    if (r.code !== 0) throw new Error(`switchboard ${args.join(' ')} on ${this.opts.name}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  }
}

export async function waitUntil(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
