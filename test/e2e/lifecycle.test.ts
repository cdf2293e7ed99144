// Stock tailscaled through server restarts (clean and kill -9), a daemon that stops, logout,
// expiry from the CLI, re-login with a new key, and hostile traffic beside it: cases 5-8.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll as after, beforeAll as before, describe, test } from 'vitest';
import { SERVER_PORT, skipOrFail, Tailnet, waitFor, type Daemon } from './harness.js';

const skip = skipOrFail();
const CLIENT = fileURLToPath(new URL('../../src/client/client.js', import.meta.url));

async function reachable(from: Daemon, to: string): Promise<void> {
  await waitFor(`${to} online at ${from.name}`, async () => (await from.peer(to))?.Online, 60_000, 500);
  const out = await from.tsOk(['ping', '--until-direct=false', '-c', '3', to], 40_000);
  assert.match(out, new RegExp(`pong from ${to}`), out);
}

describe('stock client: restarts, offline, logout, expiry, hostile clients', { skip }, () => {
  const tn = new Tailnet();
  let a: Daemon;
  let b: Daemon;
  let ipA = '';
  let ipB = '';

  before(async () => {
    await tn.start();
    a = await tn.node('alpha');
    b = await tn.node('bravo');
    ipA = await a.ip4();
    ipB = await b.ip4();
    await reachable(a, 'bravo');
  });
  after(async () => {
    await tn.stop();
  });

  /** Stops the server with `signal`, starts it again, and waits for both clients to come back on their own addresses. */
  async function restartServer(signal: NodeJS.Signals, timeoutMs: number): Promise<void> {
    await tn.stopServer(signal);
    await tn.startServer();
    await waitFor('both nodes online at the server', async () => (await tn.nodes()).every((n: { online: boolean }) => n.online), timeoutMs, 500);
    assert.equal(await a.ip4(), ipA);
    assert.equal(await b.ip4(), ipB);
  }

  test('server restart: clients reconnect by themselves, keep their addresses, reach each other', async () => {
    await restartServer('SIGTERM', 60_000);
    await reachable(a, 'bravo');
    await reachable(b, 'alpha');
  });

  test('kill -9 of the server: the same', async () => {
    await restartServer('SIGKILL', 90_000);
    assert.equal((await tn.nodes()).length, 2, 'no duplicate node after the crash');
    await reachable(a, 'bravo');
  });

  test('garbage on /ts2021 and a client below the minimum capability version leave the server serving the others', async () => {
    const script = `
      import net from 'node:net';
      const { TailscaleClient } = await import(${JSON.stringify(CLIENT)});
      const garbage = () => new Promise((resolve) => {
        const s = net.connect(${SERVER_PORT}, '127.0.0.1', () => {
          s.write('POST /ts2021 HTTP/1.1\\r\\nHost: x\\r\\nUpgrade: tailscale-control-protocol\\r\\nConnection: upgrade\\r\\nX-Tailscale-Handshake: !!!notbase64\\r\\n\\r\\n');
          s.write(Buffer.alloc(4096, 0xff));
        });
        s.on('data', () => {}); s.on('error', () => resolve()); s.on('close', () => resolve());
        setTimeout(() => { s.destroy(); resolve(); }, 3000);
      });
      for (let i = 0; i < 20; i++) await garbage();
      const old = new TailscaleClient({ serverUrl: 'http://127.0.0.1:${SERVER_PORT}', hostname: 'old', capabilityVersion: 40 });
      let refused = false;
      try { await old.register({ authKey: 'hskey-auth-nothing' }); } catch (e) { refused = true; console.log('old client: ' + e.message); }
      old.close();
      if (!refused) { console.log('old client was accepted'); process.exit(1); }
    `;
    const child = spawn('ip', ['netns', 'exec', tn.ns, process.execPath, '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    assert.equal(code, 0, out);
    assert.match(out, /capability version|too old|Version/i, out);
    assert.ok(tn.server?.running, 'the server is still running');
    await reachable(a, 'bravo');
    assert.equal((await tn.nodes()).length, 2);
  });

  test('a stopped daemon is offline at its peer within a minute', async () => {
    const c = await tn.node('charlie');
    await waitFor('charlie online at alpha', async () => (await a.peer('charlie'))?.Online);
    await c.stop('SIGKILL');
    await waitFor('charlie offline at alpha', async () => (await a.peer('charlie'))?.Online === false, 65_000, 1_000);
  });

  test('re-login with a new key (--force-reauth) keeps the node: same address, no duplicate', async () => {
    const before = await tn.nodes();
    const key = await tn.authKey({ user: 'e2e' });
    await b.tsOk(['up', `--login-server=${tn.url}`, `--authkey=${key}`, '--hostname=bravo', '--accept-dns=false', '--force-reauth', '--timeout=40s'], 50_000);
    assert.equal(await b.ip4(), ipB);
    const now = await tn.nodes();
    assert.equal(now.length, before.length, JSON.stringify(now.map((n: { name: string }) => n.name)));
    await reachable(a, 'bravo');
  });

  test('nodes expire from the CLI: the client shows it needs to log in', async () => {
    const id = (await tn.nodes()).find((n: { name: string }) => n.name === 'bravo').id;
    await tn.cliOk(['nodes', 'expire', '-i', String(id)]);
    await waitFor('bravo NeedsLogin', async () => (await b.status()).BackendState === 'NeedsLogin', 60_000, 500);
    // Its peer no longer reaches it.
    await waitFor('bravo gone or expired at alpha', async () => {
      const p = await a.peer('bravo');
      return !p || p.Expired === true || p.Online === false;
    }, 30_000);
  });

  test('tailscale logout: the node expires at the server', async () => {
    const d = await tn.node('delta');
    await d.tsOk(['logout']);
    await waitFor('delta expired', async () => {
      const n = (await tn.nodes()).find((x: { name: string }) => x.name === 'delta');
      return n?.expiry && Date.parse(n.expiry) <= Date.now();
    }, 20_000);
    assert.equal((await d.status()).BackendState, 'NeedsLogin');
  });
});
