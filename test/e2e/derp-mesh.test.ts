// Our relay meshed with the stock derper (../shared/tailscale/bin/derper), on loopback: derper
// runs with --mesh-psk-file and --mesh-with pointing at our relay (derper's mesh client only
// dials https://, so our relay serves TLS here with a throwaway certificate that derper is
// told to trust through SSL_CERT_FILE), and our mesh client links to derper over plain HTTP.
// A client on derper then reaches a client on our relay and back, and leaving is noticed.

import { afterAll as after, beforeAll as before, describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_LIMITS } from '../../src/derp/server/conn.js';
import { MeshClient } from '../../src/derp/server/mesh-client.js';
import { MeshKey } from '../../src/derp/server/mesh-key.js';
import { DerpTestClient, T } from '../derp/client.js';
import { startRelay, type RelayHarness } from '../derp/harness.js';
import { tailscaleBinDir, waitFor } from './harness.js';

const DERPER = path.join(tailscaleBinDir(), 'derper');

function skipReason(): string | null {
  if (!fs.existsSync(DERPER)) return `no derper in ${tailscaleBinDir()}`;
  if (spawnSync('openssl', ['version']).status !== 0) return 'no openssl to make the test certificate';
  return null;
}

const why = skipReason();
if (why && process.env.SWITCHBOARD_E2E === 'required') throw new Error(`stock-client suite required but cannot run: ${why}`);
if (why) process.stderr.write(`derp-mesh: skipped: ${why}\n`);

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function forwarderFor(h: RelayHarness, key: Buffer): boolean {
  return (h.relay as unknown as { forwarders: Map<string, unknown[]> }).forwarders.has(key.toString('latin1'));
}

describe.skipIf(why !== null)('mesh with the stock derper', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'derp-mesh-'));
  const key = new MeshKey(randomBytes(32).toString('hex'));
  let ours: RelayHarness;
  let link: MeshClient;
  let derper: ChildProcess;
  let derperLog = '';
  let derperUrl = '';
  const logs: string[] = [];

  before(async () => {
    const keyPem = path.join(dir, 'key.pem');
    const certPem = path.join(dir, 'cert.pem');
    const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyPem, '-out', certPem], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    ours = await startRelay({ meshKey: key, tls: { key: fs.readFileSync(keyPem, 'utf8'), cert: fs.readFileSync(certPem, 'utf8') } });
    const oursHost = new URL(ours.url).host;
    fs.writeFileSync(path.join(dir, 'mesh.key'), key.text + '\n', { mode: 0o600 });
    const port = await freePort();
    derperUrl = `http://127.0.0.1:${port}`;
    derper = spawn(DERPER, ['-a', `127.0.0.1:${port}`, '-http-port', '-1', '-stun=false', '-c', path.join(dir, 'derper.json'), '-certdir', path.join(dir, 'certs'),
      '-mesh-psk-file', path.join(dir, 'mesh.key'), '-mesh-with', oursHost], { env: { ...process.env, SSL_CERT_FILE: certPem }, stdio: ['ignore', 'pipe', 'pipe'] });
    derper.stdout!.on('data', (d) => (derperLog += d));
    derper.stderr!.on('data', (d) => (derperLog += d));
    await waitFor('derper listening', async () => (await fetch(`${derperUrl}/derp/probe`).then((x) => x.ok, () => false)) || null, 15_000, 100);
    link = new MeshClient({ url: derperUrl, relay: ours.relay, meshKey: key, stats: ours.stats, limits: DEFAULT_LIMITS, log: { info: (m) => logs.push(m), debug: () => {} }, backoffMs: { min: 100, max: 500 } });
    link.start();
    await waitFor('our link watching derper', async () => link.state === 'watching' || null, 15_000, 50);
    await waitFor('derper watching us', async () => ours.relay.meshWatcherCount === 1 || null, 20_000, 50).catch((e) => {
      throw new Error(`${(e as Error).message}; derper said:\n${derperLog}`);
    });
  });

  after(async () => {
    link?.close();
    derper?.kill('SIGTERM');
    await ours?.close();
  });

  test('a client on derper and one on our relay reach each other; leaving is noticed across', async () => {
    const a = await DerpTestClient.connect(derperUrl);
    // Our test client speaks plain TCP: bb joins our relay over a second, plain listener.
    const plain = await startPlainFront(ours);
    try {
      const bb = await DerpTestClient.connect(plain.url);
      await waitFor('derper learned of a (via our link)', async () => forwarderFor(ours, a.key.pub) || null, 10_000, 20);
      // derper learns of bb from watching us; until then it drops what a sends.
      const p = randomBytes(900);
      await waitFor('a → bb through derper and the mesh', async () => {
        a.send(bb.key.pub, p);
        return (await bb.next(T.RecvPacket, 200).catch(() => null)) ?? null;
      }, 10_000, 0).then((f) => {
        assert.deepEqual(f.body.subarray(0, 32), a.key.pub);
        assert.deepEqual(f.body.subarray(32), p);
      });
      bb.send(a.key.pub, Buffer.from('back from switchboard'));
      const g = await a.next(T.RecvPacket);
      assert.deepEqual(g.body.subarray(0, 32), bb.key.pub);
      assert.equal(g.body.subarray(32).toString(), 'back from switchboard');
      assert.ok((await ours.metric('switchboard_derp_packets_forwarded_total{direction="in"}')) >= 1);
      assert.equal(await ours.metric('switchboard_derp_packets_forwarded_total{direction="out"}'), 1);

      a.close();
      const gone = await bb.next(T.PeerGone, 10_000);
      assert.deepEqual(gone.body, Buffer.concat([a.key.pub, Buffer.from([0])]));
      bb.close();
    } finally {
      await plain.close();
    }
  });
});

/** A plain-HTTP listener in front of the same relay (the relay is transport-agnostic). */
async function startPlainFront(h: RelayHarness): Promise<{ url: string; close(): Promise<void> }> {
  const { createDerpHttp } = await import('../../src/derp/server/http.js');
  const { BootstrapDns } = await import('../../src/derp/server/bootstrap-dns.js');
  const http = await import('node:http');
  const d = createDerpHttp(h.relay, new BootstrapDns(() => ({ Regions: {} })));
  const server = http.createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', (req, socket, head) => {
    if (!d.handleUpgrade(req, socket, head)) socket.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    async close() {
      d.close();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
