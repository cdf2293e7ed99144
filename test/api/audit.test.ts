// The audit log through the API: every change is recorded with who made it (the API key's
// prefix over TCP, "local socket" on the socket), reads and failed requests are not, and
// secrets never reach the log.

import assert from 'node:assert/strict';
import { afterAll as after, beforeAll as before, describe, test } from 'vitest';
import { call, startStack, type Stack } from './harness.js';

describe('audit log via /api/v1', () => {
  let s: Stack;
  let key: string;
  const sock = () => ({ socketPath: s.socketPath });
  const tcp = () => ({ url: s.tcpUrl });
  before(async () => {
    s = await startStack();
    key = (await s.apiKeys.create(null)).key;
  });
  after(async () => s.close());

  test('records changes with actor, action, target and safe detail; newest first', async () => {
    const u = await call(sock(), 'POST', '/api/v1/user', { body: { name: 'audited', email: 'a@example.com' } });
    assert.equal(u.status, 200, u.text);
    const pak = await call(tcp(), 'POST', '/api/v1/preauthkey', { token: key, body: { user: u.body.user.id, reusable: true } });
    assert.equal(pak.status, 200, pak.text);
    const created = await call(tcp(), 'POST', '/api/v1/apikey', { token: key, body: {} });
    assert.equal(created.status, 200, created.text);
    // Neither reads nor refused changes are changes.
    assert.equal((await call(sock(), 'GET', '/api/v1/user')).status, 200);
    assert.equal((await call(sock(), 'DELETE', '/api/v1/user/99999')).status, 404);

    const r = await call(tcp(), 'GET', '/api/v1/audit', { token: key });
    assert.equal(r.status, 200, r.text);
    const events = r.body.events;
    assert.deepEqual(events.map((e: any) => e.action), ['CreateApiKey', 'CreatePreAuthKey', 'CreateUser']);
    const [apikey, preauth, user] = events;
    assert.deepEqual(Object.keys(user).sort(), ['action', 'actor', 'createdAt', 'detail', 'id', 'target']);
    assert.equal(user.actor, 'local socket');
    assert.equal(user.target, 'POST /api/v1/user');
    assert.deepEqual(user.detail, { name: 'audited', email: 'a@example.com' });
    assert.equal(typeof user.id, 'string');
    assert.ok(Math.abs(new Date(user.createdAt).getTime() - Date.now()) < 60_000);
    assert.equal(preauth.actor, `api key ${key.slice(0, 'hskey-api-'.length + 12)}`);
    assert.deepEqual(preauth.detail, { user: u.body.user.id, reusable: true });
    // The keys made are nowhere in the log.
    assert.ok(!r.text.includes(pak.body.preAuthKey.key), 'pre-auth key leaked into the audit log');
    assert.ok(!r.text.includes(created.body.apiKey), 'API key leaked into the audit log');
    assert.ok(!r.text.includes(key), 'the caller’s API key leaked into the audit log');
    assert.equal(apikey.target, 'POST /api/v1/apikey');

    const paged = await call(sock(), 'GET', `/api/v1/audit?limit=1&before=${apikey.id}`);
    assert.deepEqual(paged.body.events.map((e: any) => e.id), [preauth.id]);
    const bad = await call(sock(), 'GET', '/api/v1/audit?limit=5000');
    assert.equal(bad.status, 400);
    assert.match(bad.body.message, /"limit"/);
    assert.equal((await call(tcp(), 'GET', '/api/v1/audit')).status, 401);
  });
});
