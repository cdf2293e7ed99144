// The shared Fastify set-up: replies are serialized by their schema (a missing field fails,
// an undeclared one is not sent), node:http-style handlers mount with rawRoute, routes
// outside the API drain bodies of any type, and 404s are plain text.

import { test } from 'vitest';
import assert from 'node:assert/strict';
import { schemas } from '../../src/api/schemas.js';
import { createApp, rawRoute, setNotFound } from '../../src/web/app.js';

const logs: string[] = [];
const log = { error: (m: string) => logs.push(m), warn: (m: string) => logs.push(m), info: (m: string) => logs.push(m), debug: () => {}, trace: () => {} };

const user = { id: '1', name: 'a', createdAt: null, displayName: '', email: '', providerId: '', provider: '', profilePicUrl: '' };

test('reply schemas: a reply missing a field is a 500, an undeclared field is never sent', async () => {
  const app = createApp({ log, name: 'test' });
  app.get('/short', { schema: { response: schemas.createUser.response } }, async () => ({ user: { id: '1', name: 'a' } }));
  app.get('/extra', { schema: { response: schemas.createUser.response } }, async () => ({ user: { ...user, passwordHash: 'x' }, secret: 'y' }));
  const short = await app.inject({ method: 'GET', url: '/short' });
  assert.equal(short.statusCode, 500);
  const extra = await app.inject({ method: 'GET', url: '/extra' });
  assert.equal(extra.statusCode, 200);
  assert.deepEqual(JSON.parse(extra.body), { user });
  await app.close();
});

test('rawRoute hands node:http request and response to the handler; bodies of any type are drained', async () => {
  const app = createApp({ log, name: 'test' });
  rawRoute(app, ['GET', 'POST'], '/generate_204', (req, res) => {
    res.writeHead(204, { 'x-method': req.method ?? '' });
    res.end();
  });
  setNotFound(app);
  const r = await app.inject({ method: 'POST', url: '/generate_204', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'a=1' });
  assert.equal(r.statusCode, 204);
  assert.equal(r.headers['x-method'], 'POST');
  const nf = await app.inject({ method: 'PUT', url: '/x', headers: { 'content-type': 'image/png' }, payload: Buffer.alloc(10) });
  assert.equal(nf.statusCode, 404);
  assert.equal(nf.body, 'not found\n');
  await app.close();
});
