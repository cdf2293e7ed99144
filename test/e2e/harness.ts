// End-to-end harness for the stock Tailscale client: one network namespace per tailnet
// (loopback plus a veth pair, so tailscaled sees a network that is up), Switchboard started
// from the built tree as a subprocess, the stock derper as the DERP map's relay, and N
// tailscaled in userspace-networking mode. Every process and the namespace go away in
// stop(), which the tests call from after() whatever happened.
//
// The test process stays in the host namespace: it reaches Switchboard's CLI and each
// tailscaled through unix sockets (path sockets are not namespaced); anything that needs
// the namespace's network runs under `ip netns exec`.

import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { socketRequest } from '../helpers/socket.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const SWITCHBOARD = path.join(REPO, 'bin', 'switchboard.js');
export const SERVER_PORT = 8080;
const DERP_PORT = 3340;
const STUN_PORT = 3478;

/** The stock client's folder: $SWITCHBOARD_TAILSCALE_BIN, else ../shared/tailscale/bin beside the clone. */
export function tailscaleBinDir(): string {
  return process.env.SWITCHBOARD_TAILSCALE_BIN ?? path.resolve(REPO, '..', 'shared', 'tailscale', 'bin');
}

/** Why the suite cannot run here, or null when it can. CI sets SWITCHBOARD_E2E=required to turn a skip into a failure. */
export function e2eSkipReason(): string | null {
  const dir = tailscaleBinDir();
  for (const b of ['tailscaled', 'tailscale', 'derper']) {
    if (!fs.existsSync(path.join(dir, b))) return `no ${b} in ${dir} (set SWITCHBOARD_TAILSCALE_BIN to a folder with tailscaled, tailscale and derper)`;
  }
  if (process.getuid?.() !== 0) return 'needs root to make network namespaces';
  const probe = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  if (probe.status !== 0) return `ip netns does not work here: ${probe.stderr || probe.error?.message}`;
  return null;
}

/** Whether to skip the suite (the reason is printed); throws instead when CI requires it. */
export function skipOrFail(): boolean {
  const why = e2eSkipReason();
  if (why && process.env.SWITCHBOARD_E2E === 'required') throw new Error(`stock-client suite required but cannot run: ${why}`);
  if (why) process.stderr.write(`e2e: skipped: ${why}\n`);
  return why !== null;
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    // A child that exits before reading its input makes this write fail with EPIPE;
    // its exit code says what happened, so the write error is not the test's concern.
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

function must(r: Run, what: string): string {
  assert.equal(r.code, 0, `${what} failed (exit ${r.code})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 30_000, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A long-running process in the namespace, its output kept in a log file for failures. */
class Proc {
  readonly exited: Promise<number | null>;
  private done = false;
  constructor(
    readonly name: string,
    readonly child: ChildProcess,
    readonly logPath: string,
  ) {
    const log = fs.createWriteStream(logPath, { flags: 'a' });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    this.exited = new Promise((resolve) => child.on('exit', (code) => {
      this.done = true;
      resolve(code);
    }));
  }
  get running(): boolean {
    return !this.done;
  }
  log(): string {
    try {
      return fs.readFileSync(this.logPath, 'utf8');
    } catch {
      return '';
    }
  }
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 5_000): Promise<void> {
    if (this.done) return;
    this.child.kill(signal);
    const t = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(t);
  }
}

let nsCounter = 0;

export interface TailnetOptions {
  /** HuJSON policy written to policy.hujson (file mode); none means allow-all. */
  policy?: string;
  /** Extra config keys merged over the harness's. */
  config?: Record<string, unknown>;
}

export interface UpOptions {
  authKey: string;
  hostname: string;
  extra?: string[];
}

/** One tailscaled and its CLI. */
export class Daemon {
  proc: Proc | null = null;
  private engineWatch: http.ClientRequest | null = null;
  constructor(
    readonly tn: Tailnet,
    readonly name: string,
    readonly dir: string,
    private readonly env: Record<string, string>,
  ) {}

  get socket(): string {
    return path.join(this.dir, 'tailscaled.sock');
  }

  async start(): Promise<void> {
    fs.mkdirSync(this.dir, { recursive: true });
    this.proc = this.tn.spawnInNs(`tailscaled-${this.name}`, path.join(tailscaleBinDir(), 'tailscaled'), [
      '--tun=userspace-networking',
      `--statedir=${this.dir}`,
      `--socket=${this.socket}`,
      '--port=0',
    ], {
      TS_NO_LOGS_NO_SUPPORT: 'true',
      TS_DISABLE_PORTMAPPER: '1',
      TS_DEBUG_USE_DERP_HTTP: '1',
      ...this.env,
    });
    await waitFor(`tailscaled ${this.name} socket`, async () => fs.existsSync(this.socket) && (await this.ts(['status', '--json'], 5_000)).stdout.length > 0, 20_000);
    this.watchEngine();
  }

  /**
   * Holds an IPN-bus watch with engine updates, as the GUI clients do. tailscaled leaves
   * Starting only on an engine status that counts a live DERP connection, and it asks for
   * one on a few events only (a new DERP connection, changed endpoints). Its getStatus
   * reads the DERP count before it waits for a Reconfig in progress and stamps the status
   * after, so a status counting no DERP can win over the fresh ones; with no later event,
   * `tailscale up` then waits in Starting until its timeout (seen once in six runs, on a
   * node with peers). While a watcher asks for engine updates, tailscaled re-reads the
   * engine status every 2 s, which ends that wait. Mask: engine updates, initial state,
   * no private keys (ipn.NotifyWatchOpt).
   */
  private watchEngine(): void {
    this.engineWatch?.destroy();
    const req = http.get({ socketPath: this.socket, path: '/localapi/v0/watch-ipn-bus?mask=19', headers: { Host: 'local-tailscaled.sock' } }, (res) => {
      res.on('error', () => {});
      res.resume();
    });
    req.on('error', () => {});
    this.engineWatch = req;
  }

  ts(args: string[], timeoutMs = 30_000): Promise<Run> {
    return run(path.join(tailscaleBinDir(), 'tailscale'), [`--socket=${this.socket}`, ...args], { timeoutMs });
  }

  async tsOk(args: string[], timeoutMs = 30_000): Promise<string> {
    return must(await this.ts(args, timeoutMs), `tailscale ${args.join(' ')} on ${this.name}\n--- tailscaled log tail:\n${this.proc?.log().slice(-3000)}`);
  }

  async up(o: UpOptions): Promise<void> {
    await this.tsOk(['up', `--login-server=${this.tn.url}`, `--authkey=${o.authKey}`, `--hostname=${o.hostname}`, '--accept-dns=false', '--timeout=40s', ...(o.extra ?? [])], 50_000);
  }

  async status(): Promise<any> {
    return JSON.parse(await this.tsOk(['status', '--json'], 10_000));
  }

  async ip4(): Promise<string> {
    return (await this.tsOk(['ip', '-4'])).trim();
  }

  /** The peer entry whose HostName or DNSName starts with `host`, or undefined. */
  async peer(host: string): Promise<any | undefined> {
    const st = await this.status();
    return Object.values(st.Peer ?? {}).find((p: any) => p.HostName === host || String(p.DNSName).split('.')[0] === host);
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    this.engineWatch?.destroy();
    this.engineWatch = null;
    await this.proc?.stop(signal);
  }
}

export class Tailnet {
  readonly ns = `sbe2e-${process.pid}-${++nsCounter}`;
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-e2e-'));
  readonly url: string = `http://127.0.0.1:${SERVER_PORT}`;
  readonly configPath = path.join(this.dir, 'config.yaml');
  readonly policyPath = path.join(this.dir, 'policy.hujson');
  server: Proc | null = null;
  derper: Proc | null = null;
  readonly daemons: Daemon[] = [];
  private nsMade = false;

  constructor(private readonly opts: TailnetOptions = {}) {}

  async start(): Promise<void> {
    mustSync('ip', ['netns', 'add', this.ns]);
    this.nsMade = true;
    // A veth pair with an address: tailscaled pauses its control client while no
    // non-loopback interface is up. Traffic to that address stays in the namespace.
    this.inNs('ip', ['link', 'set', 'lo', 'up']);
    this.inNs('ip', ['link', 'add', 'sbv0', 'type', 'veth', 'peer', 'name', 'sbv1']);
    this.inNs('ip', ['addr', 'add', '198.18.0.1/24', 'dev', 'sbv0']);
    this.inNs('ip', ['link', 'set', 'sbv0', 'up']);
    this.inNs('ip', ['link', 'set', 'sbv1', 'up']);
    this.writeConfig();
    if (this.opts.policy !== undefined) fs.writeFileSync(this.policyPath, this.opts.policy);
    fs.mkdirSync(path.join(this.dir, 'derp'), { recursive: true });
    this.derper = this.spawnInNs('derper', path.join(tailscaleBinDir(), 'derper'), [
      '-a', `127.0.0.1:${DERP_PORT}`, '-http-port', '-1', '-stun-port', String(STUN_PORT), '-certdir', path.join(this.dir, 'derp'),
    ]);
    await this.startServer();
  }

  protected writeConfig(): void {
    fs.writeFileSync(path.join(this.dir, 'derp.yaml'), YAML.stringify({
      regions: {
        900: {
          regionid: 900,
          regioncode: 'e2e',
          regionname: 'e2e relay',
          nodes: [{ name: '900a', regionid: 900, hostname: '127.0.0.1', ipv4: '127.0.0.1', ipv6: 'none', stunport: STUN_PORT, derpport: DERP_PORT }],
        },
      },
    }));
    const cfg: Record<string, unknown> = {
      server_url: this.url,
      listen_addr: `127.0.0.1:${SERVER_PORT}`,
      metrics_listen_addr: '',
      noise: { private_key_path: path.join(this.dir, 'noise_private.key') },
      prefixes: { v4: '100.64.0.0/10', v6: 'fd7a:115c:a1e0::/48', allocation: 'sequential' },
      database: { type: 'sqlite', sqlite: { path: path.join(this.dir, 'db.sqlite') } },
      unix_socket: path.join(this.dir, 'switchboard.sock'),
      derp: { urls: [], paths: [path.join(this.dir, 'derp.yaml')], auto_update_enabled: false },
      dns: { magic_dns: true, base_domain: 'e2e.test', override_local_dns: false, nameservers: { global: [] } },
      log: { level: 'debug' },
      ephemeral_node_inactivity_timeout: '66s',
      ...(this.opts.policy !== undefined ? { policy: { mode: 'file', path: this.policyPath } } : {}),
      ...this.opts.config,
    };
    fs.writeFileSync(this.configPath, YAML.stringify(cfg));
  }

  inNs(cmd: string, args: string[]): void {
    mustSync('ip', ['netns', 'exec', this.ns, cmd, ...args]);
  }

  spawnInNs(name: string, cmd: string, args: string[], env: Record<string, string> = {}, ns: string = this.ns): Proc {
    // `ip netns exec` execs the command after setns, so the PID is the command's own.
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], {
      env: { ...hostEnv(), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new Proc(name, child, path.join(this.dir, `${name}.log`));
  }

  async startServer(): Promise<void> {
    this.server = this.spawnInNs('switchboard', process.execPath, [SWITCHBOARD, 'serve', '-c', this.configPath]);
    const srv = this.server;
    await waitFor('Switchboard to answer on its unix socket', async () => {
      if (!srv.running) throw new Error(`switchboard exited:\n${srv.log().slice(-3000)}`);
      return (await this.cli(['users', 'list', '-o', 'json'])).code === 0;
    }, 30_000);
  }

  async stopServer(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await this.server?.stop(signal);
  }

  cli(args: string[], timeoutMs = 20_000): Promise<Run> {
    return run(process.execPath, [SWITCHBOARD, '-c', this.configPath, ...args], { timeoutMs, env: hostEnv() });
  }

  async cliOk(args: string[]): Promise<string> {
    return must(await this.cli(args), `switchboard ${args.join(' ')}`);
  }

  async cliJson(args: string[]): Promise<any> {
    return JSON.parse(await this.cliOk([...args, '-o', 'json']));
  }

  async user(name: string): Promise<void> {
    // headscale's CLI form: a nil list prints as null.
    const users = (await this.cliJson(['users', 'list'])) ?? [];
    if (!users.some((u: { name: string }) => u.name === name)) await this.cliOk(['users', 'create', name]);
  }

  async authKey(o: { user?: string; reusable?: boolean; ephemeral?: boolean; tags?: string[] } = {}): Promise<string> {
    const args = ['preauthkeys', 'create', '--expiration', '1h'];
    if (o.user) {
      await this.user(o.user);
      args.push('--user', o.user);
    }
    if (o.reusable) args.push('--reusable');
    if (o.ephemeral) args.push('--ephemeral');
    if (o.tags?.length) args.push('--tags', o.tags.join(','));
    const k = await this.cliJson(args);
    return k.key as string;
  }

  /** A started tailscaled; `env` adds TS_* knobs. */
  async daemon(name: string, env: Record<string, string> = {}): Promise<Daemon> {
    const d = new Daemon(this, name, path.join(this.dir, `ts-${name}`), env);
    this.daemons.push(d);
    await d.start();
    return d;
  }

  /** A daemon logged in with a fresh key of `user` (default "e2e"). */
  async node(name: string, o: { user?: string; env?: Record<string, string>; key?: string; extra?: string[] } = {}): Promise<Daemon> {
    const d = await this.daemon(name, o.env);
    await d.up({ authKey: o.key ?? (await this.authKey({ user: o.user ?? 'e2e' })), hostname: name, extra: o.extra });
    return d;
  }

  /**
   * The nodes as the API has them (protojson: camelCase, every field). Not through the CLI,
   * whose `-o json` is headscale's Go form (snake_case, zero values left out): tests read
   * fields such as `online: false` that that form omits.
   */
  async nodes(): Promise<any[]> {
    const r = await socketRequest(path.join(this.dir, 'switchboard.sock'), 'GET', '/api/v1/node');
    if (r.status !== 200) throw new Error(`GET /api/v1/node: ${r.status} ${r.body}`);
    return (JSON.parse(r.body) as { nodes: any[] }).nodes;
  }

  async stop(): Promise<void> {
    await Promise.all(this.daemons.map((d) => d.stop().catch(() => {})));
    await this.server?.stop().catch(() => {});
    await this.derper?.stop().catch(() => {});
    if (this.nsMade) spawnSync('ip', ['netns', 'del', this.ns]);
    if (process.env.SWITCHBOARD_E2E_KEEP) process.stderr.write(`e2e: kept ${this.dir}\n`);
    else fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface Background {
  output(): string;
  done: Promise<number | null>;
}

/** `tailscale up ...` left running (it waits for the login), its output collected. */
export function upInBackground(d: Daemon, url: string, args: string[]): Background {
  const child = spawn(path.join(tailscaleBinDir(), 'tailscale'), [`--socket=${d.socket}`, 'up', `--login-server=${url}`, '--accept-dns=false', '--timeout=90s', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (b) => (out += b));
  child.stderr.on('data', (b) => (out += b));
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  return {
    output: () => out,
    done: new Promise((resolve) => child.on('close', (code) => (clearTimeout(timer), resolve(code)))),
  };
}

/** The test's environment without Switchboard's or headscale's own variables, which would override the config file. */
function hostEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SWITCHBOARD_') && !k.startsWith('HEADSCALE_')) env[k] = v;
  return env;
}

function mustSync(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.error?.message}`);
}
