// Handshake throughput: crypto only in-process, and full HTTP upgrade over loopback TCP.
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { createTs2021Handler } from '../src/control/ts2021.js';
import { createApp } from '../src/web/app.js';
import { mountTs2021 } from '../src/web/ts2021.js';
import { attachUpgrades, type UpgradeHandler } from '../src/web/upgrade.js';
import { createInitiation, respondToInitiation } from '../src/noise/control-handshake.js';
import { generateKeyPair, preparePublicKey, prepareStaticKey, type PublicKeyHandle, type StaticKey } from '../src/noise/keys.js';
import { RESPONSE_LEN } from '../src/noise/messages.js';

export interface HandshakeBench {
  /**
   * Full HTTP-upgrade handshakes per second over loopback TCP, steady state; clients run in a
   * worker thread (second core). Served as the server serves them: the control listener's
   * Fastify instance with its upgrade dispatch (src/web).
   */
  handshakesPerSecond: number;
  /** The same, served by a bare node:http server calling the ts2021 handler (the path before Fastify). */
  handshakesPerSecondNodeHttp: number;
  /**
   * The same run's warm-up phase: from creating the client worker (its start-up and the
   * JIT warming both threads included) to the end of the warm-up. Not a throughput figure.
   */
  loopbackWarmupPerSecond: number;
  /** Same, with clients and server sharing this thread (after the same warm-up). */
  loopbackSameThreadPerSecond: number;
  /** Initiator + responder crypto only, per second. */
  inProcessPerSecond: number;
  loopbackConcurrency: number;
}

function inProcess(durationMs: number): number {
  const server = generateKeyPair();
  const machine = generateKeyPair();
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < durationMs) {
    const ci = createInitiation(machine.privateKey, server.publicKey, 113);
    const r = respondToInitiation(server.privateKey, ci.initiationBytes);
    ci.complete(r.responseBytes);
    n++;
  }
  return n / ((performance.now() - start) / 1000);
}

const HEADER_END = Buffer.from('\r\n\r\n');
const STATUS_101 = Buffer.from('HTTP/1.1 101 ');

/**
 * One client handshake over a fresh TCP connection: upgrade, 101, Noise response,
 * which complete() authenticates. The request is written without waiting for
 * 'connect' (the socket queues it), as any client may.
 */
function oneLoopback(port: number, machinePriv: StaticKey, serverPub: PublicKeyHandle): Promise<void> {
  const ci = createInitiation(machinePriv, serverPub, 113);
  const sock = net.connect(port, '127.0.0.1');
  sock.setNoDelay(true);
  sock.write(
    `POST /ts2021 HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: upgrade\r\nUpgrade: tailscale-control-protocol\r\n` +
      `X-Tailscale-Handshake: ${ci.initiationBytes.toString('base64')}\r\nContent-Length: 0\r\n\r\n`,
  );
  return new Promise<void>((resolve, reject) => {
    let buf: Buffer | null = null;
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      sock.destroy();
      if (err) reject(err);
      else resolve();
    };
    sock.on('error', finish);
    sock.on('close', () => finish(new Error('connection closed before the handshake response')));
    sock.on('data', (chunk: Buffer) => {
      buf = buf === null ? chunk : Buffer.concat([buf, chunk]);
      const end = buf.indexOf(HEADER_END);
      if (end < 0 || buf.length < end + 4 + RESPONSE_LEN) return;
      if (buf.compare(STATUS_101, 0, STATUS_101.length, 0, STATUS_101.length) !== 0) {
        finish(new Error(`upgrade refused: ${buf.toString()}`));
        return;
      }
      try {
        ci.complete(buf.subarray(end + 4, end + 4 + RESPONSE_LEN));
      } catch (err) {
        finish(err as Error);
        return;
      }
      finish();
    });
  });
}

/** Runs `concurrency` sequential-handshake loops for durationMs; returns the count and the time taken. */
async function clientLoops(
  port: number,
  serverPub: PublicKeyHandle,
  durationMs: number,
  concurrency: number,
): Promise<{ n: number; ms: number }> {
  const machine = prepareStaticKey(generateKeyPair().privateKey);
  let n = 0;
  const start = performance.now();
  const loop = async () => {
    while (performance.now() - start < durationMs) {
      await oneLoopback(port, machine, serverPub);
      n++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  return { n, ms: performance.now() - start };
}

interface LoopbackResult {
  perSecond: number;
  warmupPerSecond: number;
}

const quiet = { error() {}, warn() {}, info() {}, debug() {}, trace() {} };

/** An HTTP server for the ts2021 handler: the control listener's Fastify set-up, or bare node:http. */
async function serve(handler: ReturnType<typeof createTs2021Handler>, kind: 'fastify' | 'node'): Promise<{ server: http.Server; close(): Promise<void> }> {
  if (kind === 'node') {
    const server = http.createServer((_req, res) => res.writeHead(404).end());
    server.on('upgrade', (req, socket, head) => {
      if (!handler.handleUpgrade(req, socket, head)) socket.destroy();
    });
    return { server, close: () => new Promise<void>((r) => server.close(() => r())) };
  }
  const app = createApp({ log: quiet, name: 'bench' });
  const upgrades = new Map<string, UpgradeHandler>();
  attachUpgrades(app.server, upgrades);
  await mountTs2021(app, handler, upgrades);
  await app.ready();
  return { server: app.server, close: () => app.close() };
}

async function loopback(durationMs: number, warmupMs: number, concurrency: number, inWorker: boolean, kind: 'fastify' | 'node' = 'fastify'): Promise<LoopbackResult> {
  const serverKey = generateKeyPair();
  const handler = createTs2021Handler({
    serverPrivateKey: serverKey.privateKey,
    // Nothing to serve: drain and finish so sockets close once the client hangs up.
    onConnection: (c) => {
      c.conn.resume();
      c.conn.end();
    },
  });
  const served = await serve(handler, kind);
  const server = served.server;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  let result: LoopbackResult;
  if (inWorker) {
    // A steady-state figure: the worker first warms up (its own start-up, module
    // loading and the JIT on both threads), then counts a separate timed phase.
    const start = performance.now();
    const w = new Worker(fileURLToPath(import.meta.url), {
      workerData: { port, serverPub: serverKey.publicKey, durationMs, warmupMs, concurrency },
    });
    const [warm] = (await once(w, 'message')) as [{ n: number }];
    const warmupPerSecond = warm.n / ((performance.now() - start) / 1000);
    w.postMessage('go');
    const [timed] = (await once(w, 'message')) as [{ n: number; ms: number }];
    await w.terminate();
    result = { perSecond: timed.n / (timed.ms / 1000), warmupPerSecond };
  } else {
    const pub = preparePublicKey(serverKey.publicKey);
    const warm = await clientLoops(port, pub, warmupMs, concurrency);
    const timed = await clientLoops(port, pub, durationMs, concurrency);
    result = { perSecond: timed.n / (timed.ms / 1000), warmupPerSecond: warm.n / (warm.ms / 1000) };
  }
  handler.close();
  server.closeAllConnections();
  await served.close();
  return result;
}

export async function benchHandshakes(opts: { durationMs?: number; warmupMs?: number; concurrency?: number } = {}): Promise<HandshakeBench> {
  const durationMs = opts.durationMs ?? 2000;
  // Long enough for the optimizing compiler to finish in the fresh worker isolate: after a
  // 1 s warm-up its background compiles still took ~25 % of a core in the timed phase,
  // after 3 s ~4 %.
  const warmupMs = opts.warmupMs ?? Math.min(2500, 2 * durationMs);
  const concurrency = opts.concurrency ?? 16;
  inProcess(200); // warm up
  const inProcessPerSecond = inProcess(durationMs);
  const worker = await loopback(durationMs, warmupMs, concurrency, true);
  const nodeHttp = await loopback(durationMs, warmupMs, concurrency, true, 'node');
  // This thread's code is already warm from the runs above.
  const sameThread = await loopback(durationMs, Math.min(1000, warmupMs), concurrency, false);
  return {
    handshakesPerSecond: worker.perSecond,
    handshakesPerSecondNodeHttp: nodeHttp.perSecond,
    loopbackWarmupPerSecond: worker.warmupPerSecond,
    loopbackSameThreadPerSecond: sameThread.perSecond,
    inProcessPerSecond,
    loopbackConcurrency: concurrency,
  };
}

if (!isMainThread && workerData?.port) {
  // Client side of the loopback run, on its own core: warm up, report, wait for 'go', then the timed phase.
  const d = workerData as { port: number; serverPub: Uint8Array; durationMs: number; warmupMs: number; concurrency: number };
  const pub = preparePublicKey(Buffer.from(d.serverPub));
  const warm = await clientLoops(d.port, pub, d.warmupMs, d.concurrency);
  parentPort?.postMessage(warm);
  await once(parentPort!, 'message');
  parentPort?.postMessage(await clientLoops(d.port, pub, d.durationMs, d.concurrency));
} else if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const r = await benchHandshakes();
  console.log(JSON.stringify(r, (_k, v) => (typeof v === 'number' ? Math.round(v) : v)));
}
