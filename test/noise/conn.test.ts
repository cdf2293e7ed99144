import { test } from 'vitest';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import { createHash, randomBytes } from 'node:crypto';
import { MAX_PLAINTEXT_SIZE } from '../../src/noise/messages.js';
import { noisePair } from './pair.js';

function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    stream.on('data', (d: Buffer) => parts.push(d));
    stream.on('end', () => resolve(Buffer.concat(parts)));
    stream.on('error', reject);
  });
}

test('bytes round-trip both ways, large writes are split into max-size records', async () => {
  const p = await noisePair();
  const wire: Buffer[] = [];
  p.clientSocket.on('data', (d: Buffer) => wire.push(d));
  const big = randomBytes(3 * MAX_PLAINTEXT_SIZE + 5);
  const got = collect(p.client);
  p.server.end(big);
  assert.deepEqual(await got, big);
  // Four records: 3 full (4096 bytes each on the wire) and one of 5+16+3.
  const raw = Buffer.concat(wire);
  assert.equal(raw.length, 3 * 4096 + 5 + 16 + 3);
  assert.deepEqual([raw[0], raw.readUInt16BE(1)], [4, 4093]);

  const up = collect(p.server);
  p.client.end('hello server');
  assert.equal((await up).toString(), 'hello server');
  p.close();
});

test('HTTP/2 runs over NoiseConn in both directions (server via emit connection, client via createConnection)', async () => {
  const p = await noisePair();
  const h2server = http2.createServer();
  const bigSize = 6 * 1024 * 1024;
  h2server.on('stream', (stream, headers) => {
    if (headers[':path'] === '/echo') {
      collect(stream).then((body) => {
        const req = JSON.parse(body.toString()) as { n: number };
        stream.respond({ ':status': 200, 'content-type': 'application/json' });
        stream.end(JSON.stringify({ doubled: req.n * 2, peer: p.server.peerPublicKey?.toString('hex') }));
      });
    } else if (headers[':path'] === '/big') {
      stream.respond({ ':status': 200 });
      // Stream in pieces honouring backpressure, to exercise drain through NoiseConn.
      const chunk = Buffer.alloc(64 * 1024);
      let sent = 0;
      const pump = () => {
        while (sent < bigSize) {
          chunk.fill(sent % 251);
          sent += chunk.length;
          if (!stream.write(chunk)) {
            stream.once('drain', pump);
            return;
          }
        }
        stream.end();
      };
      pump();
    }
  });
  h2server.emit('connection', p.server);

  const session = http2.connect('http://control.invalid', { createConnection: () => p.client });
  const req = session.request({ ':method': 'POST', ':path': '/echo', 'content-type': 'application/json' });
  req.end(JSON.stringify({ n: 21 }));
  const [headers] = (await once(req, 'response')) as [http2.IncomingHttpHeaders];
  assert.equal(headers[':status'], 200);
  const echoed = JSON.parse((await collect(req)).toString());
  assert.equal(echoed.doubled, 42);
  assert.equal(typeof echoed.peer, 'string');

  const big = session.request({ ':path': '/big' });
  // Read slowly at first so the sender hits backpressure.
  big.pause();
  await new Promise((r) => setTimeout(r, 50));
  const hash = createHash('sha256');
  let total = 0;
  big.on('data', (d: Buffer) => {
    hash.update(d);
    total += d.length;
  });
  big.resume();
  await once(big, 'end');
  assert.equal(total, bigSize);
  const expect = createHash('sha256');
  for (let sent = 0; sent < bigSize; sent += 64 * 1024) expect.update(Buffer.alloc(64 * 1024, sent % 251));
  assert.equal(hash.digest('hex'), expect.digest('hex'));

  session.close();
  await once(p.server, 'close');
  h2server.close();
});

async function expectDestroyedWith(conn: import('../../src/noise/conn.js').NoiseConn, code: string, message: RegExp): Promise<void> {
  const [err] = (await once(conn, 'error')) as [Error & { code?: string }];
  assert.equal(err.code, code);
  assert.match(err.message, message);
  assert.ok(conn.destroyed);
}

test('an oversized record destroys the connection with RECORD_TOO_LARGE', async () => {
  const p = await noisePair();
  const done = expectDestroyedWith(p.server, 'RECORD_TOO_LARGE', /4100 bytes exceeds the maximum Noise frame size 4096/);
  p.clientSocket.write(Buffer.from([4, 0x10, 0x01]));
  await done;
  await once(p.serverSocket, 'close');
  p.close();
});

test('a record of the wrong type destroys the connection with BAD_TYPE', async () => {
  const p = await noisePair();
  const done = expectDestroyedWith(p.server, 'BAD_TYPE', /unexpected type 3/);
  p.clientSocket.write(Buffer.from([3, 0, 2, 0x68, 0x69]));
  await done;
  p.close();
});

test('a tampered record destroys the connection with DECRYPT_FAILED', async () => {
  const p = await noisePair();
  const done = expectDestroyedWith(p.server, 'DECRYPT_FAILED', /authentication/);
  // Capture what the client would send, flip one bit, send it raw.
  const orig = p.clientSocket.write.bind(p.clientSocket);
  p.clientSocket.write = ((buf: Buffer) => {
    const b = Buffer.from(buf);
    b[b.length - 1] ^= 1;
    return orig(b);
  }) as typeof p.clientSocket.write;
  p.client.write('tamper me');
  await done;
  p.close();
});

test('a record shorter than its tag is refused', async () => {
  const p = await noisePair();
  const done = expectDestroyedWith(p.server, 'BAD_LENGTH', /shorter than the 16-byte/);
  p.clientSocket.write(Buffer.from([4, 0, 3, 1, 2, 3]));
  await done;
  p.close();
});

test('the peer ending mid-record is reported as TRUNCATED', async () => {
  const p = await noisePair();
  const done = expectDestroyedWith(p.server, 'TRUNCATED', /middle of a record/);
  p.clientSocket.end(Buffer.from([4, 0, 40, 1, 2, 3]));
  await done;
  p.close();
});

test('clean end propagates and the other side can still answer (half-close)', async () => {
  const p = await noisePair();
  p.client.end('request');
  const got = await collect(p.server);
  assert.equal(got.toString(), 'request');
  const reply = collect(p.client);
  p.server.end('reply after peer FIN');
  assert.equal((await reply).toString(), 'reply after peer FIN');
  // Both directions finished: the stream tears itself down.
  if (!p.client.closed) await once(p.client, 'close');
  assert.ok(p.client.destroyed);
});

test('zero-length records are accepted as keep-alives', async () => {
  const p = await noisePair();
  const got = collect(p.server);
  p.client.write(Buffer.alloc(0));
  p.client.end('x');
  assert.equal((await got).toString(), 'x');
  p.close();
});
