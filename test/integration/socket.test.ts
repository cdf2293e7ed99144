// The admin socket path may be shared (the zero-setup default is in the home folder): a
// second server refuses to take over a socket a running server answers on, and leaves it
// working; a stale socket file of a stopped server is replaced.

import { test } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { startTestServer } from '../helpers/server.js';

function usersOverSocket(socketPath: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, path: '/api/v1/user', method: 'GET', agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', (e) => reject(new Error(`${socketPath}: ${e.message}`)));
    req.end();
  });
}

test('a live socket is not taken over; a stale one is replaced', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-socket-'));
  const sock = path.join(dir, 'shared.sock');
  const first = await startTestServer({ type: 'sqlite', path: path.join(dir, 'a.sqlite') }, (c) => (c.unix_socket = sock), path.join(dir));
  try {
    assert.equal(await usersOverSocket(sock), 200);
    const otherDir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-socket-b-'));
    await assert.rejects(
      startTestServer({ type: 'sqlite', path: path.join(otherDir, 'b.sqlite') }, (c) => (c.unix_socket = sock), otherDir),
      /unix_socket .*shared\.sock: another server is listening there/,
    );
    fs.rmSync(otherDir, { recursive: true, force: true });
    // The refused start did not remove or break the first server's socket.
    assert.equal(await usersOverSocket(sock), 200);
  } finally {
    await first.stop();
  }
  // A socket file nobody answers on (a server killed with -9) is stale: replaced.
  const { spawnSync } = await import('node:child_process');
  const killed = spawnSync(process.execPath, ['-e', "require('net').createServer().listen(process.argv[1], () => process.kill(process.pid, 'SIGKILL'))", sock]);
  assert.equal(killed.signal, 'SIGKILL');
  assert.ok(fs.existsSync(sock));
  const again = await startTestServer({ type: 'sqlite', path: path.join(dir, 'a.sqlite') }, (c) => (c.unix_socket = sock), dir);
  try {
    assert.equal(await usersOverSocket(sock), 200);
  } finally {
    await again.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
