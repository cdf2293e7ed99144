// Handshake throughput: crypto only in-process, and full HTTP upgrade over loopback TCP.
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { createTs2021Handler } from '../src/control/ts2021.js';
import { createInitiation, respondToInitiation } from '../src/noise/control-handshake.js';
import { generateKeyPair, prepareStaticKey, type StaticKey } from '../src/noise/keys.js';
import { RESPONSE_LEN } from '../src/noise/messages.js';

export interface HandshakeBench {
  /** Full HTTP-upgrade handshakes per second over loopback TCP; clients run in a worker thread (second core). */
  handshakesPerSecond: number;
  /** Same, with clients and server sharing this thread. */
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

/** One client handshake over a fresh TCP connection: upgrade, 101, Noise response. */
async function oneLoopback(port: number, machinePriv: StaticKey, serverPub: Buffer): Promise<void> {
  const ci = createInitiation(machinePriv, serverPub, 113);
  const sock = net.connect(port, '127.0.0.1');
  sock.setNoDelay(true);
  await once(sock, 'connect');
  sock.write(
    `POST /ts2021 HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: upgrade\r\nUpgrade: tailscale-control-protocol\r\n` +
      `X-Tailscale-Handshake: ${ci.initiationBytes.toString('base64')}\r\nContent-Length: 0\r\n\r\n`,
  );
  let buf = Buffer.alloc(0);
  for (;;) {
    const [chunk] = (await once(sock, 'data')) as [Buffer];
    buf = Buffer.concat([buf, chunk]);
    const end = buf.indexOf('\r\n\r\n');
    if (end >= 0 && buf.length >= end + 4 + RESPONSE_LEN) {
      if (!buf.subarray(0, 12).toString().startsWith('HTTP/1.1 101')) throw new Error(`upgrade refused: ${buf.toString()}`);
      ci.complete(buf.subarray(end + 4, end + 4 + RESPONSE_LEN));
      break;
    }
  }
  sock.destroy();
}

/** Runs `concurrency` sequential-handshake loops for durationMs; returns the count. */
async function clientLoops(port: number, serverPub: Buffer, durationMs: number, concurrency: number): Promise<number> {
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
  return n;
}

async function loopback(durationMs: number, concurrency: number, inWorker: boolean): Promise<number> {
  const serverKey = generateKeyPair();
  const handler = createTs2021Handler({
    serverPrivateKey: serverKey.privateKey,
    // Nothing to serve: drain and finish so sockets close once the client hangs up.
    onConnection: (c) => {
      c.conn.resume();
      c.conn.end();
    },
  });
  const server = http.createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', (req, socket, head) => {
    if (!handler.handleUpgrade(req, socket, head)) socket.destroy();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const start = performance.now();
  let n: number;
  if (inWorker) {
    const w = new Worker(fileURLToPath(import.meta.url), {
      workerData: { port, serverPub: serverKey.publicKey, durationMs, concurrency },
    });
    [n] = (await once(w, 'message')) as [number];
    await w.terminate();
  } else {
    n = await clientLoops(port, serverKey.publicKey, durationMs, concurrency);
  }
  const rate = n / ((performance.now() - start) / 1000);
  handler.close();
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  return rate;
}

export async function benchHandshakes(opts: { durationMs?: number; concurrency?: number } = {}): Promise<HandshakeBench> {
  const durationMs = opts.durationMs ?? 2000;
  const concurrency = opts.concurrency ?? 16;
  inProcess(200); // warm up
  const inProcessPerSecond = inProcess(durationMs);
  const handshakesPerSecond = await loopback(durationMs, concurrency, true);
  const loopbackSameThreadPerSecond = await loopback(durationMs, concurrency, false);
  return { handshakesPerSecond, loopbackSameThreadPerSecond, inProcessPerSecond, loopbackConcurrency: concurrency };
}

if (!isMainThread && workerData?.port) {
  // Client side of the loopback run, on its own core.
  const d = workerData as { port: number; serverPub: Uint8Array; durationMs: number; concurrency: number };
  const n = await clientLoops(d.port, Buffer.from(d.serverPub), d.durationMs, d.concurrency);
  parentPort?.postMessage(n);
} else if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const r = await benchHandshakes();
  console.log(JSON.stringify(r, (_k, v) => (typeof v === 'number' ? Math.round(v) : v)));
}
