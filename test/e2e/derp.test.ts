// The embedded relay with the stock client, where it is the only way through: three
// network namespaces, Switchboard in the middle one ("m"), one tailscaled in each of the
// outer ones ("a", "b"), each outer namespace joined to the middle by a veth pair and
// routed to Switchboard's address only. The middle namespace does not forward, so the
// outer two have no path to each other: every packet between the nodes goes through
// Switchboard's DERP relay. A second Switchboard (its own tailnet, in "m" too) hands its
// node a DERP map naming the first one's relay, so that node's key is unknown there and
// verify_clients has to refuse it.
// The mesh variant: the region has two meshed relays, the stock derper (reachable from "b"
// only) listed first and the embedded relay second, so "a" homes on ours and "b" on
// derper, and every packet between them crosses the mesh link.

import { afterAll as after, beforeAll as before, describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { Tailnet, skipOrFail, tailscaleBinDir, waitFor, type Daemon } from './harness.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const SWITCHBOARD = path.join(REPO, 'bin', 'switchboard.js');
const RELAY_IP = '10.99.0.1';
const PORT = 8080;
const PORT2 = 8081;
const STUN_PORT = 3478;
const ECHO_PORT = 7777;
const DERPER_IP = '10.99.0.3';
const DERPER_PORT = 3340;

function sh(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr || r.error?.message}`);
}

/**
 * Runs a command in a namespace. With `until`, stdin stays open until stdout matches (then
 * closes): `tailscale nc` exits as soon as its stdin ends, answer read or not.
 */
function runIn(ns: string, cmd: string, args: string[], o: { input?: string; timeoutMs?: number; until?: RegExp } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const t = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 30_000);
    child.stdout.on('data', (d) => {
      stdout += d;
      if (o.until?.test(stdout)) child.stdin.end();
    });
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
    child.stdin.on('error', () => {});
    if (o.until) child.stdin.write(o.input ?? '');
    else child.stdin.end(o.input ?? '');
  });
}

/** The harness's tailnet, rearranged: Switchboard in "m", each daemon in the namespace it was placed in. */
class RelayOnlyNet extends Tailnet {
  override readonly url = `http://${RELAY_IP}:${PORT}`;
  readonly outer: Record<string, string> = {};
  private readonly placed = new Map<string, string>();
  private made: string[] = [];

  constructor(private readonly variant: { mesh?: boolean } = {}) {
    super({
      config: {
        server_url: `http://${RELAY_IP}:${PORT}`,
        listen_addr: `0.0.0.0:${PORT}`,
        metrics_listen_addr: `127.0.0.1:9090`,
        derp: {
          urls: [],
          paths: [],
          auto_update_enabled: false,
          server: {
            enabled: true,
            region_id: 999,
            region_code: 'sb',
            region_name: 'Switchboard embedded',
            stun_listen_addr: `0.0.0.0:${STUN_PORT}`,
            verify_clients: true,
            ipv4: RELAY_IP,
            ipv6: 'none',
          },
        },
      },
    });
  }

  override async start(): Promise<void> {
    const m = this.ns;
    sh(['netns', 'add', m]);
    this.made.push(m);
    sh(['netns', 'exec', m, 'ip', 'link', 'set', 'lo', 'up']);
    sh(['netns', 'exec', m, 'ip', 'addr', 'add', `${RELAY_IP}/32`, 'dev', 'lo']);
    // The middle namespace must not route between the outer ones.
    sh(['netns', 'exec', m, 'sysctl', '-qw', 'net.ipv4.ip_forward=0']);
    for (const [name, subnet] of [['a', 1], ['b', 2]] as const) {
      const ns = `${m}-${name}`;
      sh(['netns', 'add', ns]);
      this.made.push(ns);
      this.outer[name] = ns;
      sh(['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
      sh(['link', 'add', `sbr${name}0`, 'netns', ns, 'type', 'veth', 'peer', 'name', `sbr${name}1`, 'netns', m]);
      sh(['netns', 'exec', ns, 'ip', 'addr', 'add', `10.98.${subnet}.2/24`, 'dev', `sbr${name}0`]);
      sh(['netns', 'exec', ns, 'ip', 'link', 'set', `sbr${name}0`, 'up']);
      sh(['netns', 'exec', m, 'ip', 'addr', 'add', `10.98.${subnet}.1/24`, 'dev', `sbr${name}1`]);
      sh(['netns', 'exec', m, 'ip', 'link', 'set', `sbr${name}1`, 'up']);
      sh(['netns', 'exec', ns, 'ip', 'route', 'add', `${RELAY_IP}/32`, 'via', `10.98.${subnet}.1`]);
    }
    this.writeConfig();
    const cfg = YAML.parse(fs.readFileSync(this.configPath, 'utf8'));
    cfg.derp.server.private_key_path = path.join(this.dir, 'derp_server_private.key');
    if (this.variant.mesh) this.startMeshedDerper(cfg);
    fs.writeFileSync(this.configPath, YAML.stringify(cfg));
    await this.startServer();
  }

  /** derper in "m" on its own address, routed from "b" only, meshed with the embedded relay; both in region 999. */
  private startMeshedDerper(cfg: any): void {
    sh(['netns', 'exec', this.ns, 'ip', 'addr', 'add', `${DERPER_IP}/32`, 'dev', 'lo']);
    sh(['netns', 'exec', this.outer.b!, 'ip', 'route', 'add', `${DERPER_IP}/32`, 'via', '10.98.2.1']);
    const keyFile = path.join(this.dir, 'derp_mesh.key');
    fs.writeFileSync(keyFile, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
    const region = path.join(this.dir, 'region.yaml');
    fs.writeFileSync(region, YAML.stringify({
      regions: {
        999: {
          regionid: 999,
          regioncode: 'sb',
          regionname: 'Switchboard and derper, meshed',
          nodes: [
            { name: '999d', regionid: 999, hostname: DERPER_IP, ipv4: DERPER_IP, ipv6: 'none', stunport: -1, derpport: DERPER_PORT },
            { name: '999s', regionid: 999, hostname: RELAY_IP, ipv4: RELAY_IP, ipv6: 'none', stunport: STUN_PORT, derpport: PORT },
          ],
        },
      },
    }));
    cfg.derp.paths = [region];
    cfg.derp.server.automatically_add_embedded_derp_region = false;
    cfg.derp.server.mesh_key_path = keyFile;
    cfg.derp.server.mesh_with = [`http://${DERPER_IP}:${DERPER_PORT}`];
    // derper's mesh client dials https:// unless told to use plain HTTP, as tailscaled is here.
    this.derper = this.spawnInNs('derper', path.join(tailscaleBinDir(), 'derper'), [
      '-a', `${DERPER_IP}:${DERPER_PORT}`, '-http-port', '-1', '-stun=false', '-c', path.join(this.dir, 'derper.json'), '-certdir', path.join(this.dir, 'derper-certs'),
      '-mesh-psk-file', keyFile, '-mesh-with', `${RELAY_IP}:${PORT}`,
    ], { TS_DEBUG_USE_DERP_HTTP: '1' });
  }

  /** Where the daemon `name` runs: an outer namespace, "a" or "b". */
  place(name: string, where: 'a' | 'b'): void {
    this.placed.set(`tailscaled-${name}`, this.outer[where]!);
  }

  override spawnInNs(name: string, cmd: string, args: string[], env: Record<string, string> = {}, ns?: string) {
    return super.spawnInNs(name, cmd, args, env, ns ?? this.placed.get(name) ?? this.ns);
  }

  override async stop(): Promise<void> {
    await super.stop();
    for (const ns of this.made.reverse()) spawnSync('ip', ['netns', 'del', ns]);
  }
}

const skip = skipOrFail();

describe('embedded DERP relay with the stock client, no direct path', { skip }, () => {
  let tn: RelayOnlyNet;
  let a: Daemon;
  let b: Daemon;
  before(async () => {
    tn = new RelayOnlyNet();
    await tn.start();
  });
  after(async () => {
    await tn?.stop();
  });

  test('the outer namespaces reach Switchboard and not each other', async () => {
    const toRelay = await runIn(tn.outer.a!, 'ip', ['route', 'get', RELAY_IP]);
    assert.equal(toRelay.code, 0, toRelay.stderr);
    const across = await runIn(tn.outer.a!, 'ip', ['route', 'get', '10.98.2.2']);
    assert.notEqual(across.code, 0, `a has a route to b: ${across.stdout}`);
    assert.match(across.stderr, /unreachable/i);
  });

  test('two nodes join; each sees the other; ping goes via the embedded DERP region', async () => {
    tn.place('a', 'a');
    tn.place('b', 'b');
    a = await tn.node('a');
    b = await tn.node('b');
    await waitFor('b online at a', async () => (await a.peer('b'))?.Online, 30_000);
    const ipB = await b.ip4();
    const out = await waitFor('a pong via DERP', async () => {
      const r = await a.ts(['ping', '--until-direct=false', '-c', '3', '--timeout=5s', ipB], 30_000);
      return r.code === 0 && /via DERP\(sb\)/.test(r.stdout) ? r.stdout : null;
    }, 60_000, 1000);
    assert.match(out, /pong from b \(100\.64\.\d+\.\d+\) via DERP\(sb\)/, out);
    const back = await b.tsOk(['ping', '--until-direct=false', '-c', '3', await a.ip4()], 40_000);
    assert.match(back, /via DERP\(sb\)/, back);
  });

  test('a TCP exchange between the nodes goes through the relay', async () => {
    // b's tailscaled (userspace networking) hands inbound connections to 127.0.0.1 in b's namespace.
    const echo = spawn('ip', ['netns', 'exec', tn.outer.b!, process.execPath, '-e', `
      require('net').createServer((s) => { s.on('error', () => {}); s.once('data', (d) => s.end('echo:' + d)); }).listen(${ECHO_PORT}, '127.0.0.1', () => console.log('up'));
    `], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((r) => echo.stdout.once('data', () => r()));
      const ipB = await b.ip4();
      let last = '';
      const r = await waitFor('tcp echo', async () => {
        const res = await runIn(tn.outer.a!, path.join(tailscaleBinDir(), 'tailscale'), [`--socket=${a.socket}`, 'nc', ipB, String(ECHO_PORT)], { input: 'hello over derp\n', timeoutMs: 20_000, until: /echo:hello over derp/ });
        last = `exit ${res.code}; stdout ${res.stdout}; stderr ${res.stderr}`;
        return res.stdout.includes('echo:hello over derp') ? res : null;
      }, 60_000, 1000).catch((e: Error) => {
        throw new Error(`${e.message}; last try: ${last}`);
      });
      assert.match(r.stdout, /echo:hello over derp/);
      const metrics = await (await fetchInNs(tn.ns, 'http://127.0.0.1:9090/metrics'));
      const relayed = Number(/^switchboard_derp_packets_relayed_total (\d+)/m.exec(metrics)?.[1]);
      assert.ok(relayed > 10, `relayed ${relayed} packets`);
    } finally {
      echo.kill();
    }
  });

  test('netcheck (run in a\'s namespace) finds the embedded region and a STUN answer', async () => {
    const r = await runIn(tn.outer.a!, path.join(tailscaleBinDir(), 'tailscale'), [`--socket=${a.socket}`, 'netcheck', '--format=json'], { timeoutMs: 40_000 });
    assert.equal(r.code, 0, r.stderr);
    const rep = JSON.parse(r.stdout);
    assert.equal(rep.UDP, true, r.stdout);
    assert.match(String(rep.GlobalV4), /^10\.98\.1\.2:\d+$/, 'STUN told a its address as the relay sees it');
    assert.equal(rep.PreferredDERP, 999);
    assert.ok(rep.RegionLatency?.['999'] > 0, r.stdout);
  });

  test('verify_clients: a node of another tailnet is refused by the relay', async () => {
    // A second Switchboard (its own tailnet) whose DERP map names the first one's relay.
    const dir2 = path.join(tn.dir, 'other');
    fs.mkdirSync(dir2, { recursive: true });
    fs.writeFileSync(path.join(dir2, 'derp.yaml'), YAML.stringify({
      regions: { 999: { regionid: 999, regioncode: 'sb', regionname: 'borrowed', nodes: [{ name: '999', regionid: 999, hostname: RELAY_IP, ipv4: RELAY_IP, ipv6: 'none', stunport: STUN_PORT, derpport: PORT }] } },
    }));
    const cfg2 = path.join(dir2, 'config.yaml');
    fs.writeFileSync(cfg2, YAML.stringify({
      server_url: `http://${RELAY_IP}:${PORT2}`,
      listen_addr: `0.0.0.0:${PORT2}`,
      metrics_listen_addr: '',
      noise: { private_key_path: path.join(dir2, 'noise.key') },
      prefixes: { v4: '100.64.0.0/10', v6: 'fd7a:115c:a1e0::/48', allocation: 'sequential' },
      database: { type: 'sqlite', sqlite: { path: path.join(dir2, 'db.sqlite') } },
      unix_socket: path.join(dir2, 'sb.sock'),
      derp: { urls: [], paths: [path.join(dir2, 'derp.yaml')], auto_update_enabled: false },
      dns: { magic_dns: false, base_domain: 'other.test', override_local_dns: false, nameservers: { global: [] } },
      log: { level: 'info' },
    }));
    const s2 = spawn('ip', ['netns', 'exec', tn.ns, process.execPath, SWITCHBOARD, 'serve', '-c', cfg2], { stdio: 'ignore' });
    try {
      const cli2 = (args: string[]) => spawnSync(process.execPath, [SWITCHBOARD, '-c', cfg2, ...args], { encoding: 'utf8', timeout: 20_000 });
      await waitFor('second switchboard', async () => cli2(['users', 'list', '-o', 'json']).status === 0, 30_000);
      assert.equal(cli2(['users', 'create', 'other']).status, 0);
      const k = JSON.parse(cli2(['preauthkeys', 'create', '--user', 'other', '--expiration', '1h', '-o', 'json']).stdout).key as string;
      tn.place('c', 'a');
      const c = await tn.daemon('c');
      await c.tsOk(['up', `--login-server=http://${RELAY_IP}:${PORT2}`, `--authkey=${k}`, '--hostname=c', '--accept-dns=false', '--timeout=40s'], 50_000);
      const nodeKey = String((await c.status()).Self.PublicKey);
      const short = nodeKey.slice(0, 'nodekey:'.length + 8);
      const line = await waitFor('the relay to refuse c', async () => tn.server!.log().split('\n').find((l) => l.includes(`refused client ${short}`)), 40_000, 500);
      assert.match(line, /not a node of this tailnet/);
      // a and b, of the relay's own tailnet, were never refused.
      for (const d of [a, b]) {
        const own = String((await d.status()).Self.PublicKey).slice(0, short.length);
        assert.ok(!tn.server!.log().includes(`refused client ${own}`), `${d.name} was refused`);
      }
    } finally {
      s2.kill();
    }
  });
});

async function fetchInNs(ns: string, url: string): Promise<string> {
  const r = await runIn(ns, process.execPath, ['-e', `fetch(${JSON.stringify(url)}).then((r) => r.text()).then((t) => process.stdout.write(t))`]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

describe('two meshed relays in one region with the stock client: derper and the embedded relay', { skip }, () => {
  let tn: RelayOnlyNet;
  const metric = async (name: string) => Number(new RegExp(`^${name.replace(/[{}]/g, '\\$&')} (\\d+)`, 'm').exec(await fetchInNs(tn.ns, 'http://127.0.0.1:9090/metrics'))?.[1] ?? 0);
  before(async () => {
    tn = new RelayOnlyNet({ mesh: true });
    await tn.start();
  });
  after(async () => {
    await tn?.stop();
  });

  test('the relays link both ways', async () => {
    await waitFor('our link to derper', async () => (await metric('switchboard_derp_mesh_peers')) === 1, 30_000, 500);
    await waitFor('derper watching us', async () => (await metric('switchboard_derp_mesh_watchers')) === 1, 30_000, 500).catch((e: Error) => {
      throw new Error(`${e.message}; derper said:\n${tn.derper?.log()}`);
    });
  });

  test('a (homed on ours) and b (homed on derper) ping each other; every packet crosses the mesh', async () => {
    tn.place('a', 'a');
    tn.place('b', 'b');
    const a = await tn.node('a');
    const b = await tn.node('b');
    await waitFor('b online at a', async () => (await a.peer('b'))?.Online, 30_000);
    const ipB = await b.ip4();
    const out = await waitFor('a pong via DERP', async () => {
      const r = await a.ts(['ping', '--until-direct=false', '-c', '3', '--timeout=5s', ipB], 30_000);
      return r.code === 0 && /via DERP\(sb\)/.test(r.stdout) ? r.stdout : null;
    }, 90_000, 1000);
    assert.match(out, /pong from b \(100\.64\.\d+\.\d+\) via DERP\(sb\)/, out);
    const back = await b.tsOk(['ping', '--until-direct=false', '-c', '3', await a.ip4()], 40_000);
    assert.match(back, /via DERP\(sb\)/, back);
    const fwdOut = await metric('switchboard_derp_packets_forwarded_total{direction="out"}');
    const fwdIn = await metric('switchboard_derp_packets_forwarded_total{direction="in"}');
    assert.ok(fwdOut > 0 && fwdIn > 0, `forwarded out ${fwdOut}, in ${fwdIn}: a and b must sit on different relays`);
  });
});
