// Stopping the server: the listener stops taking connections before the streams close, and
// the last-seen of every node that was streaming reaches the database (one batch, awaited),
// so the next start shows when each node was last there.

import { test } from 'vitest';
import assert from 'node:assert/strict';
import net from 'node:net';
import { useServer } from '../helpers/fixture.js';

const f = useServer();

test('a shutdown records last-seen of every streaming node and takes no new connections', async () => {
  const names = ['one', 'two', 'three', 'four'];
  for (const n of names) await f.join(n);
  await new Promise((r) => setTimeout(r, 20)); // apart from the last-seen registration wrote
  const t0 = Date.now();
  const port = Number(new URL(f.srv.url).port);
  const closing = f.srv.server.close();
  // The listener is closed at once, not after the streams have wound down.
  const refused = await new Promise<string>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve('accepted')));
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
  await closing;
  assert.equal(refused, 'ECONNREFUSED', 'a connection made while the server stops is refused');
  f.srv = await f.srv.restart();
  const seen = f.srv.server.tailnet.listNodes().filter((n) => names.includes(n.givenName));
  assert.equal(seen.length, names.length);
  for (const n of seen) {
    assert.ok(n.lastSeen && n.lastSeen.getTime() >= t0, `${n.givenName}: last-seen ${n.lastSeen?.toISOString()} recorded at shutdown`);
  }
});

test('endpoints a client reported just before the shutdown (written lazily) are in the database after the restart', async () => {
  const c = await f.join('lazy-report');
  c.endpoints = ['198.51.100.7:41641', '[2001:db8::7]:41641'];
  await c.liteUpdate();
  const id = f.srv.server.tailnet.listNodes().find((n) => n.givenName === 'lazy-report')!.id;
  // Memory has it at once; the database gets it within LAZY_WRITE_MS, or at the shutdown
  // right below at the latest.
  assert.deepEqual(f.srv.server.tailnet.getNode(id).endpoints, c.endpoints);
  await f.srv.server.close();
  f.srv = await f.srv.restart();
  assert.deepEqual(f.srv.server.tailnet.getNode(id).endpoints, ['198.51.100.7:41641', '[2001:db8::7]:41641']);
});
