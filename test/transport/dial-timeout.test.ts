// A dial that times out while the server is slow to answer the upgrade must close its
// socket: left open, it would finish the upgrade later and hold a server connection that
// no one uses (seen as thousands of idle connections after a reconnect storm).

import { test } from 'vitest';
import assert from 'node:assert/strict';
import net from 'node:net';
import { dialControl } from '../../src/client/transport.js';
import { generateKeyPair } from '../../src/noise/keys.js';

test('a timed-out dial closes its socket even when the upgrade answer comes later', async () => {
  let closed = false;
  let accepted = false;
  const server = net.createServer((sock) => {
    accepted = true;
    sock.on('error', () => {});
    sock.on('close', () => (closed = true));
    sock.resume(); // reads the request (and so notices the client's FIN)
    // Answers the upgrade after the client's deadline, as a server deep in a reconnect storm.
    setTimeout(() => {
      if (!sock.destroyed) sock.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: tailscale-control-protocol\r\nConnection: upgrade\r\n\r\n');
    }, 300);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  try {
    const serverKey = generateKeyPair().publicKey;
    await assert.rejects(
      dialControl(`http://127.0.0.1:${port}`, { machinePrivateKey: generateKeyPair().privateKey, serverPublicKey: serverKey, http2: 'builtin', timeoutMs: 100 }),
      /timed out/,
    );
    await new Promise((r) => setTimeout(r, 600));
    assert.ok(accepted, 'the client connected');
    assert.ok(closed, 'the client closed the connection it gave up on');
  } finally {
    server.close();
  }
});

test("a dial given up through its signal fails with the signal's reason and closes its socket", async () => {
  const ac = new AbortController();
  let serverSide: net.Socket | null = null;
  const closed = new Promise<void>((resolve) => {
    const server = net.createServer((sock) => {
      serverSide = sock;
      sock.on('error', () => {});
      sock.on('close', () => {
        server.close();
        resolve();
      });
      sock.resume();
      // Never answers; the caller's own deadline (here: as soon as the server has the connection) ends the dial.
      ac.abort(new Error('given up by the caller'));
    });
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      void assert
        .rejects(
          dialControl(`http://127.0.0.1:${port}`, {
            machinePrivateKey: generateKeyPair().privateKey,
            serverPublicKey: generateKeyPair().publicKey,
            http2: 'builtin',
            timeoutMs: 60_000,
            signal: ac.signal,
          }),
          /given up by the caller/,
        )
        .catch((err) => {
          server.close();
          throw err;
        });
    });
  });
  await closed;
  assert.ok(serverSide, 'the client connected');
});
