// Our HTTP/2 server connection against node:http2's client (nghttp2, an independent
// implementation) over loopback TCP, and against hand-made frames for the error paths.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import { afterAll as after, test } from 'vitest';
import { H2ServerConnection } from '../../src/http2/connection.js';
import { CLIENT_PREFACE, ErrorCode, Flag, FrameType, frame, settingsFrame, Setting, windowUpdateFrame } from '../../src/http2/frames.js';
import { HpackEncoder } from '../../src/http2/hpack.js';
import type { H2Stream } from '../../src/http2/stream.js';

type Handler = (s: H2Stream, conn: H2ServerConnection) => void;

interface Harness {
  port: number;
  conns: H2ServerConnection[];
  errors: Error[];
  close(): Promise<void>;
}

const open: Harness[] = [];
after(async () => {
  for (const h of open) await h.close();
});

async function serve(handler: Handler, opts: { maxBodyBytes?: number; maxConcurrentStreams?: number } = {}): Promise<Harness> {
  const conns: H2ServerConnection[] = [];
  const errors: Error[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    const conn: H2ServerConnection = new H2ServerConnection(
      {
        write: (b) => sock.write(b),
        buffered: () => sock.writableLength,
        end: () => sock.end(),
        destroy: (e) => sock.destroy(e),
      },
      { onRequest: (s) => handler(s, conn), onError: (e) => errors.push(e), ...opts },
    );
    conns.push(conn);
    sock.on('data', (b: Buffer) => conn.receive(b));
    sock.on('close', () => {
      sockets.delete(sock);
      conn.transportClosed();
    });
    sock.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const h: Harness = {
    port: (server.address() as net.AddressInfo).port,
    conns,
    errors,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  open.push(h);
  return h;
}

function connect(port: number, settings: http2.Settings = {}): http2.ClientHttp2Session {
  const s = http2.connect(`http://127.0.0.1:${port}`, { settings });
  s.on('error', () => {});
  return s;
}

async function request(
  session: http2.ClientHttp2Session,
  path: string,
  body?: Buffer | string,
  method = 'POST',
): Promise<{ status: number; headers: http2.IncomingHttpHeaders; body: Buffer }> {
  const req = session.request({ ':method': method, ':path': path, 'content-type': 'application/json' });
  // node:http2 ends GET requests itself.
  if (method === 'GET') req.end();
  else req.end(body);
  const [headers] = (await once(req, 'response')) as [http2.IncomingHttpHeaders];
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return { status: Number(headers[':status']), headers, body: Buffer.concat(chunks) };
}

const echo: Handler = (s) => {
  s.respond(200, { 'content-type': 'application/octet-stream', 'x-path': s.path, 'x-method': s.method, 'x-len': String(s.body.length) });
  s.end(s.body);
};

test('requests with bodies of many sizes come back whole, on one connection', async () => {
  const h = await serve(echo);
  const c = connect(h.port);
  try {
    for (const n of [0, 1, 100, 16_384, 16_385, 65_535, 65_536, 200_000, 1 << 20]) {
      const body = Buffer.alloc(n, n % 251);
      const r = await request(c, `/echo?n=${n}`, body);
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-path'], `/echo?n=${n}`);
      assert.equal(r.headers['x-method'], 'POST');
      assert.equal(r.headers['x-len'], String(n));
      assert.ok(r.body.equals(body), `body of ${n} bytes`);
    }
  } finally {
    c.close();
  }
});

test('a large response flows through a small client window (WINDOW_UPDATEs)', async () => {
  const big = Buffer.alloc(3_000_000);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
  const h = await serve((s) => {
    s.respond(200);
    // Many writes, some larger than a frame, before any window comes back.
    for (let off = 0; off < big.length; off += 100_000) s.write(big.subarray(off, off + 100_000));
    s.end();
  });
  const c = connect(h.port, { initialWindowSize: 65_535 });
  try {
    const r = await request(c, '/big', '', 'GET');
    assert.equal(r.status, 200);
    assert.equal(r.body.length, big.length);
    assert.ok(r.body.equals(big));
  } finally {
    c.close();
  }
});

test('concurrent requests on one connection are answered independently', async () => {
  const h = await serve((s) => {
    // Answer in reverse arrival order to interleave the streams.
    setTimeout(() => echo(s, h.conns[0]!), 50 - Number(s.path.slice(1)));
  });
  const c = connect(h.port);
  try {
    const rs = await Promise.all(Array.from({ length: 40 }, (_, i) => request(c, `/${i}`, `body-${i}`)));
    rs.forEach((r, i) => assert.equal(r.body.toString(), `body-${i}`));
  } finally {
    c.close();
  }
});

test('a body over the limit gets 413 and the connection stays usable', async () => {
  const h = await serve(echo, { maxBodyBytes: 1000 });
  const c = connect(h.port);
  try {
    const r = await request(c, '/x', Buffer.alloc(5000));
    assert.equal(r.status, 413);
    assert.match(r.body.toString(), /request body larger than 1000 bytes/);
    const ok = await request(c, '/y', 'small');
    assert.equal(ok.status, 200);
    assert.equal(ok.body.toString(), 'small');
  } finally {
    c.close();
  }
});

test('a long-lived response streams frames in order, and a client cancel closes the stream', async () => {
  let closedWith: ErrorCode | null | undefined;
  let resolveClosed: () => void = () => {};
  const closed = new Promise<void>((resolve) => (resolveClosed = resolve));
  const serveStreaming = serve((s) => {
    s.respond(200);
    let i = 0;
    const t = setInterval(() => s.write(Buffer.from(`frame ${i++};`)), 2);
    s.onClose((code) => {
      clearInterval(t);
      closedWith = code;
      resolveClosed();
    });
  });
  const h = await serveStreaming;
  const c = connect(h.port);
  try {
    const req = c.request({ ':method': 'POST', ':path': '/stream' });
    req.end('{}');
    let text = '';
    await new Promise<void>((resolve) => {
      req.on('data', (d: Buffer) => {
        text += d.toString();
        if ((text.match(/;/g) ?? []).length >= 50) resolve();
      });
    });
    const frames = text.split(';').filter(Boolean).slice(0, 50);
    frames.forEach((f, i) => assert.equal(f, `frame ${i}`));
    req.close(http2.constants.NGHTTP2_CANCEL);
    await closed;
    assert.equal(closedWith, ErrorCode.CANCEL);
    assert.equal(h.conns[0]!.streamCount, 0);
  } finally {
    c.close();
  }
});

test('server pings are answered by the client; client pings are answered by us', async () => {
  const h = await serve(echo);
  const c = connect(h.port);
  try {
    await request(c, '/warm', 'x');
    const conn = h.conns[0]!;
    const err = await new Promise<Error | null>((resolve) => assert.ok(conn.ping(resolve)));
    assert.equal(err, null);
    const rtt = await new Promise<number>((resolve, reject) => c.ping((e, d) => (e ? reject(e) : resolve(d))));
    assert.ok(rtt >= 0);
  } finally {
    c.close();
  }
});

test('close() sends GOAWAY with the reason', async () => {
  const h = await serve(echo);
  const c = connect(h.port);
  await request(c, '/warm', 'x');
  const goaway = once(c, 'goaway');
  h.conns[0]!.close('test over');
  const [code, , data] = (await goaway) as [number, number, Buffer];
  assert.equal(code, 0);
  assert.equal(data.toString(), 'test over');
  c.destroy();
});

// ---- raw frames --------------------------------------------------------------------

interface Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

/** A raw client: writes bytes, collects parsed frames. */
async function raw(port: number): Promise<{ sock: net.Socket; frames: Frame[]; closed: Promise<void>; waitFor(pred: (f: Frame) => boolean): Promise<Frame> }> {
  const sock = net.connect(port, '127.0.0.1');
  await once(sock, 'connect');
  const frames: Frame[] = [];
  let buf = Buffer.alloc(0);
  const waiters: { pred: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
  sock.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 9) {
      const len = buf.readUIntBE(0, 3);
      if (buf.length < 9 + len) break;
      const f = { type: buf[3]!, flags: buf[4]!, streamId: buf.readUInt32BE(5) & 0x7fffffff, payload: buf.subarray(9, 9 + len) };
      buf = buf.subarray(9 + len);
      frames.push(f);
      for (const w of [...waiters]) {
        if (w.pred(f)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(f);
        }
      }
    }
  });
  sock.on('error', () => {});
  const closed = once(sock, 'close').then(() => {});
  return {
    sock,
    frames,
    closed,
    waitFor: (pred) => {
      const hit = frames.find(pred);
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve) => waiters.push({ pred, resolve }));
    },
  };
}

const isGoaway = (f: Frame) => f.type === FrameType.GOAWAY;

async function expectGoaway(bytes: Buffer[], code: ErrorCode, message: RegExp): Promise<void> {
  const h = await serve(echo);
  const r = await raw(h.port);
  for (const b of bytes) r.sock.write(b);
  const g = await r.waitFor(isGoaway);
  assert.equal(g.payload.readUInt32BE(4), code, `GOAWAY code for ${message}`);
  assert.match(g.payload.subarray(8).toString(), message);
  await r.closed;
  assert.equal(h.errors.length, 1);
}

const hello = () => [CLIENT_PREFACE, settingsFrame([])];

function headersBlock(path: string, extra: [string, string][] = []): Buffer {
  return new HpackEncoder().encode([[':method', 'POST'], [':scheme', 'http'], [':path', path], [':authority', 'x'], ...extra]);
}

test('the server preface is SETTINGS, and our SETTINGS are acknowledged by us for theirs', async () => {
  const h = await serve(echo);
  const r = await raw(h.port);
  for (const b of hello()) r.sock.write(b);
  const first = await r.waitFor(() => true);
  assert.equal(first.type, FrameType.SETTINGS);
  assert.equal(first.flags & Flag.ACK, 0);
  const ids = new Map<number, number>();
  for (let i = 0; i < first.payload.length; i += 6) ids.set(first.payload.readUInt16BE(i), first.payload.readUInt32BE(i + 2));
  assert.equal(ids.get(Setting.MAX_CONCURRENT_STREAMS), 100);
  await r.waitFor((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) !== 0);
  r.sock.destroy();
});

test('protocol violations end the connection with GOAWAY naming the problem', async () => {
  await expectGoaway([Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')], ErrorCode.PROTOCOL_ERROR, /connection preface/);
  await expectGoaway([CLIENT_PREFACE, frame(FrameType.PING, 0, 0, Buffer.alloc(8))], ErrorCode.PROTOCOL_ERROR, /first frame after the preface must be SETTINGS/);
  await expectGoaway([...hello(), frame(FrameType.DATA, 0, 0, Buffer.from('x'))], ErrorCode.PROTOCOL_ERROR, /DATA on stream 0/);
  await expectGoaway([...hello(), frame(FrameType.DATA, 0, 1, Buffer.from('x'))], ErrorCode.PROTOCOL_ERROR, /DATA on idle stream 1/);
  await expectGoaway([...hello(), frame(FrameType.HEADERS, Flag.END_HEADERS, 2, headersBlock('/x'))], ErrorCode.PROTOCOL_ERROR, /even-numbered stream 2/);
  await expectGoaway([...hello(), frame(FrameType.HEADERS, Flag.END_HEADERS, 1, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))], ErrorCode.COMPRESSION_ERROR, /header block on stream 1/);
  await expectGoaway([...hello(), frame(FrameType.PING, 0, 0, Buffer.alloc(7))], ErrorCode.FRAME_SIZE_ERROR, /PING payload of 7 bytes/);
  await expectGoaway([...hello(), frame(FrameType.SETTINGS, 0, 0, Buffer.alloc(5))], ErrorCode.FRAME_SIZE_ERROR, /not a multiple of 6/);
  await expectGoaway([...hello(), settingsFrame([[Setting.MAX_FRAME_SIZE, 100]])], ErrorCode.PROTOCOL_ERROR, /SETTINGS_MAX_FRAME_SIZE 100/);
  await expectGoaway([...hello(), settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 0x8000_0000]])], ErrorCode.FLOW_CONTROL_ERROR, /INITIAL_WINDOW_SIZE/);
  await expectGoaway([...hello(), windowUpdateFrame(0, 0)], ErrorCode.PROTOCOL_ERROR, /increment 0 on the connection/);
  await expectGoaway([...hello(), windowUpdateFrame(0, 0x7fff_ffff)], ErrorCode.FLOW_CONTROL_ERROR, /connection window above/);
  await expectGoaway([...hello(), frame(FrameType.PUSH_PROMISE, Flag.END_HEADERS, 1, Buffer.alloc(4))], ErrorCode.PROTOCOL_ERROR, /PUSH_PROMISE/);
  await expectGoaway([...hello(), frame(FrameType.DATA, 0, 1, Buffer.alloc(16_385))], ErrorCode.FRAME_SIZE_ERROR, /exceeds SETTINGS_MAX_FRAME_SIZE/);
  await expectGoaway(
    [...hello(), frame(FrameType.HEADERS, 0, 1, headersBlock('/x')), frame(FrameType.PING, 0, 0, Buffer.alloc(8))],
    ErrorCode.PROTOCOL_ERROR,
    /expected CONTINUATION for stream 1/,
  );
  await expectGoaway([...hello(), frame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, Buffer.alloc(0))], ErrorCode.PROTOCOL_ERROR, /unexpected CONTINUATION/);
});

test('a malformed request resets only its stream', async () => {
  const h = await serve(echo);
  const r = await raw(h.port);
  for (const b of hello()) r.sock.write(b);
  const enc = new HpackEncoder();
  // Missing :path.
  r.sock.write(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, enc.encode([[':method', 'GET'], [':scheme', 'http']])));
  const rst = await r.waitFor((f) => f.type === FrameType.RST_STREAM && f.streamId === 1);
  assert.equal(rst.payload.readUInt32BE(0), ErrorCode.PROTOCOL_ERROR);
  // Uppercase header name.
  r.sock.write(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 3, enc.encode([[':method', 'GET'], [':scheme', 'http'], [':path', '/'], ['X-Up', '1']])));
  await r.waitFor((f) => f.type === FrameType.RST_STREAM && f.streamId === 3);
  // content-length that does not match the body.
  r.sock.write(frame(FrameType.HEADERS, Flag.END_HEADERS, 5, enc.encode([[':method', 'POST'], [':scheme', 'http'], [':path', '/'], ['content-length', '10']])));
  r.sock.write(frame(FrameType.DATA, Flag.END_STREAM, 5, Buffer.from('abc')));
  await r.waitFor((f) => f.type === FrameType.RST_STREAM && f.streamId === 5);
  // A good request on the same connection still works, split over HEADERS + CONTINUATION.
  const block = enc.encode([[':method', 'POST'], [':scheme', 'http'], [':path', '/ok'], ['x-pad', 'y'.repeat(100)]]);
  r.sock.write(frame(FrameType.HEADERS, 0, 7, block.subarray(0, 10)));
  r.sock.write(frame(FrameType.CONTINUATION, Flag.END_HEADERS, 7, block.subarray(10)));
  // Padded DATA.
  const padded = Buffer.concat([Buffer.from([3]), Buffer.from('hello'), Buffer.alloc(3)]);
  r.sock.write(frame(FrameType.DATA, Flag.END_STREAM | Flag.PADDED, 7, padded));
  const data = await r.waitFor((f) => f.type === FrameType.DATA && f.streamId === 7);
  assert.equal(data.payload.toString(), 'hello');
  assert.equal(h.errors.length, 0);
  r.sock.destroy();
});

test('streams beyond the concurrency limit are refused', async () => {
  const held: H2Stream[] = [];
  const h = await serve((s) => held.push(s), { maxConcurrentStreams: 2 });
  const r = await raw(h.port);
  for (const b of hello()) r.sock.write(b);
  const enc = new HpackEncoder();
  for (const id of [1, 3, 5]) {
    r.sock.write(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, id, enc.encode([[':method', 'GET'], [':scheme', 'http'], [':path', `/${id}`]])));
  }
  const rst = await r.waitFor((f) => f.type === FrameType.RST_STREAM);
  assert.equal(rst.streamId, 5);
  assert.equal(rst.payload.readUInt32BE(0), ErrorCode.REFUSED_STREAM);
  assert.equal(held.length, 2);
  r.sock.destroy();
});

test('a stream whose client window is exhausted queues data and counts it as buffered', async () => {
  let stream: H2Stream | null = null;
  const h = await serve((s) => {
    stream = s;
    s.respond(200);
    s.write(Buffer.alloc(100_000));
  });
  const r = await raw(h.port);
  r.sock.write(CLIENT_PREFACE);
  r.sock.write(settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 1000]]));
  r.sock.write(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, new HpackEncoder().encode([[':method', 'GET'], [':scheme', 'http'], [':path', '/']])));
  await r.waitFor((f) => f.type === FrameType.DATA);
  await new Promise((res) => setTimeout(res, 50));
  const sent = r.frames.filter((f) => f.type === FrameType.DATA).reduce((n, f) => n + f.payload.length, 0);
  assert.equal(sent, 1000);
  assert.ok(stream !== null);
  assert.equal((stream as H2Stream).buffered() >= 99_000, true);
  // More stream window: only the connection's default 65,535 bytes can flow.
  const dataBytes = () => r.frames.filter((f) => f.type === FrameType.DATA).reduce((n, f) => n + f.payload.length, 0);
  r.sock.write(windowUpdateFrame(1, 99_000));
  await r.waitFor(() => dataBytes() === 65_535);
  await new Promise((res) => setTimeout(res, 50));
  assert.equal(dataBytes(), 65_535);
  // Connection window too: the rest flows, the last frame ending the stream is not sent (no end()).
  r.sock.write(windowUpdateFrame(0, 100_000));
  await r.waitFor(() => dataBytes() === 100_000);
  assert.equal((stream as H2Stream).buffered(), 0);
  r.sock.destroy();
});
