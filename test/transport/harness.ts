// Test harness: a real node http server on 127.0.0.1 serving /key and /ts2021,
// with an HTTP/2 server inside each Noise channel.
import { once } from 'node:events';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { handleKeyRequest } from '../../src/control/key.js';
import { createTs2021Handler, type Ts2021Connection, type Ts2021Rejection } from '../../src/control/ts2021.js';
import { generateKeyPair, type KeyPair } from '../../src/noise/keys.js';

export interface Harness {
  url: string;
  port: number;
  serverKey: KeyPair;
  connections: Ts2021Connection[];
  rejections: Ts2021Rejection[];
  connectionErrors: Error[];
  close(): Promise<void>;
}

export const BIG_RESPONSE_BYTES = 5 * 1024 * 1024 + 123;

function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    stream.on('data', (d: Buffer) => parts.push(d));
    stream.on('end', () => resolve(Buffer.concat(parts)));
    stream.on('error', reject);
  });
}

/** Deterministic content for the big response so the client can check every byte. */
export function bigByte(i: number): number {
  return (i * 31 + (i >> 13)) & 0xff;
}

export async function startHarness(opts: { minProtocolVersion?: number } = {}): Promise<Harness> {
  const serverKey = generateKeyPair();
  const connections: Ts2021Connection[] = [];
  const rejections: Ts2021Rejection[] = [];
  const connectionErrors: Error[] = [];

  const h2 = http2.createServer();
  h2.on('stream', (stream, headers) => {
    const path = headers[':path'];
    if (path === '/machine/echo') {
      void readAll(stream).then((body) => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(body.toString('utf8'));
        } catch {
          stream.respond({ ':status': 400 });
          stream.end('bad json');
          return;
        }
        stream.respond({ ':status': 200, 'content-type': 'application/json' });
        stream.end(JSON.stringify({ got: parsed, bytes: body.length }));
      });
    } else if (path === '/machine/big') {
      stream.respond({ ':status': 200, 'content-type': 'application/octet-stream' });
      let sent = 0;
      const pump = () => {
        while (sent < BIG_RESPONSE_BYTES) {
          const n = Math.min(100_000, BIG_RESPONSE_BYTES - sent);
          const chunk = Buffer.allocUnsafe(n);
          for (let i = 0; i < n; i++) chunk[i] = bigByte(sent + i);
          sent += n;
          if (!stream.write(chunk)) {
            stream.once('drain', pump);
            return;
          }
        }
        stream.end();
      };
      pump();
    } else {
      stream.respond({ ':status': 404 });
      stream.end();
    }
  });
  h2.on('sessionError', () => {});

  const ts2021 = createTs2021Handler({
    serverPrivateKey: serverKey.privateKey,
    minProtocolVersion: opts.minProtocolVersion,
    onConnection(c) {
      connections.push(c);
      h2.emit('connection', c.conn);
    },
    onReject(r) {
      rejections.push(r);
    },
    onConnectionError(err) {
      connectionErrors.push(err);
    },
  });

  const server = http.createServer((req, res) => {
    if (handleKeyRequest(req, res, serverKey.publicKey)) return;
    if (ts2021.handleRequest(req, res)) return;
    res.writeHead(404).end();
  });
  server.on('upgrade', (req, socket, head) => {
    if (!ts2021.handleUpgrade(req, socket, head)) socket.destroy();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    serverKey,
    connections,
    rejections,
    connectionErrors,
    async close() {
      ts2021.close();
      for (const c of connections) c.conn.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      h2.close();
    },
  };
}

/** Sends raw bytes on a fresh TCP connection and returns everything until the server closes. */
export async function rawExchange(port: number, request: string | Buffer, opts: { keepAfter?: Buffer } = {}): Promise<Buffer> {
  const sock = net.connect(port, '127.0.0.1');
  await once(sock, 'connect');
  const parts: Buffer[] = [];
  sock.on('data', (d: Buffer) => parts.push(d));
  sock.write(request);
  if (opts.keepAfter) sock.write(opts.keepAfter);
  await once(sock, 'close');
  return Buffer.concat(parts);
}

export function upgradeRequest(port: number, headers: Record<string, string>, method = 'POST', path = '/ts2021'): string {
  const lines = [`${method} ${path} HTTP/1.1`, `Host: 127.0.0.1:${port}`];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  return lines.join('\r\n') + '\r\n\r\n';
}
