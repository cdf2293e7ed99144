// Floods and hoarding against our HTTP/2 server connection, with frames written by hand
// over loopback TCP (the Noise layer is transparent to these limits).

import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'vitest';
import { BodyBudget, H2ServerConnection, type H2ConnectionOptions } from '../../src/http2/connection.js';
import { CLIENT_PREFACE, ErrorCode, Flag, FrameType, frame, settingsFrame } from '../../src/http2/frames.js';
import { HpackEncoder } from '../../src/http2/hpack.js';

async function serve(opts: Partial<H2ConnectionOptions>): Promise<{ port: number; conns: H2ServerConnection[]; close(): void }> {
  const conns: H2ServerConnection[] = [];
  const socks = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    socks.add(sock);
    const c = new H2ServerConnection(
      { write: (b) => sock.write(b), buffered: () => sock.writableLength, end: () => sock.end(), destroy: (e) => sock.destroy(e), pauseInput: () => sock.pause(), resumeInput: () => sock.resume() },
      { onRequest: (s) => s.end(Buffer.from('ok')), ...opts },
    );
    conns.push(c);
    sock.on('data', (b: Buffer) => c.receive(b));
    sock.on('drain', () => c.transportDrained());
    sock.on('close', () => c.transportClosed());
    sock.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as net.AddressInfo).port, conns, close: () => { for (const s of socks) s.destroy(); server.close(); } };
}

function goawayCode(buf: Buffer): number | null {
  let off = 0;
  while (buf.length - off >= 9) {
    const len = buf.readUIntBE(off, 3);
    if (buf[off + 3] === FrameType.GOAWAY && buf.length - off >= 9 + 8) return buf.readUInt32BE(off + 9 + 4);
    off += 9 + len;
  }
  return null;
}

function post(enc: HpackEncoder, id: number): Buffer {
  const block = enc.encode([[':method', 'POST'], [':path', '/machine/map'], [':scheme', 'http'], [':authority', 'x']]);
  return frame(FrameType.HEADERS, Flag.END_HEADERS, id, block);
}

test('a PING flood ends with GOAWAY ENHANCE_YOUR_CALM and the connection closes', { timeout: 10_000 }, async () => {
  const h = await serve({});
  const sock = net.connect(h.port, '127.0.0.1');
  await once(sock, 'connect');
  const chunks: Buffer[] = [];
  sock.on('data', (b) => chunks.push(b));
  sock.on('error', () => {});
  const ping = frame(FrameType.PING, 0, 0, Buffer.alloc(8));
  sock.write(Buffer.concat([CLIENT_PREFACE, settingsFrame([])]));
  sock.write(Buffer.concat(Array.from({ length: 5000 }, () => ping)));
  await once(sock, 'close');
  assert.equal(goawayCode(Buffer.concat(chunks)), ErrorCode.ENHANCE_YOUR_CALM);
  h.close();
});

test('bodies past the connection budget are refused; unfinished bodies are reset after the idle timeout and released', { timeout: 10_000 }, async () => {
  const budget = new BodyBudget(1 << 30);
  const h = await serve({ maxBufferedBodyBytes: 64 * 1024, streamIdleTimeoutMs: 300, bodyBudget: budget });
  const sock = net.connect(h.port, '127.0.0.1');
  await once(sock, 'connect');
  const chunks: Buffer[] = [];
  sock.on('data', (b) => chunks.push(b));
  const enc = new HpackEncoder();
  const part = Buffer.alloc(16 * 1024);
  const out = [CLIENT_PREFACE, settingsFrame([])];
  for (let id = 1; id <= 11; id += 2) out.push(post(enc, id), frame(FrameType.DATA, 0, id, part));
  sock.write(Buffer.concat(out));
  await new Promise((r) => setTimeout(r, 100));
  const c = h.conns[0]!;
  assert.equal(c.bufferedBodyBytes, 64 * 1024, 'four streams fit the 64 KiB budget');
  assert.equal(budget.used, 64 * 1024);
  let rst = Buffer.concat(chunks);
  assert.ok(rst.includes(Buffer.from([0, 0, 4, FrameType.RST_STREAM, 0, 0, 0, 0, 9, 0, 0, 0, ErrorCode.REFUSED_STREAM])), 'stream 9 refused');
  await new Promise((r) => setTimeout(r, 800));
  assert.equal(c.bufferedBodyBytes, 0);
  assert.equal(budget.used, 0);
  assert.equal(c.streamCount, 0);
  rst = Buffer.concat(chunks);
  assert.ok(rst.includes(Buffer.from([0, 0, 4, FrameType.RST_STREAM, 0, 0, 0, 0, 1, 0, 0, 0, ErrorCode.CANCEL])), 'stream 1 cancelled');
  sock.destroy();
  h.close();
});
