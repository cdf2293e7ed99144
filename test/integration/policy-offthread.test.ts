// Checking a policy at the size limit takes seconds of parsing and compiling; it happens on
// a worker thread, so the server keeps answering meanwhile, and a refused policy (checked
// or set) changes nothing.

import { describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { useServer } from '../helpers/fixture.js';
import { socketRequest } from '../helpers/socket.js';

/** Close to the 1 MiB limit: thousands of rules, and a test at the end that fails. */
function hugePolicy(): string {
  const groups: Record<string, string[]> = {};
  for (let g = 0; g < 20; g++) groups[`group:g${g}`] = Array.from({ length: 10 }, (_, i) => `u${g * 10 + i}@example.com`);
  const acls: unknown[] = [];
  let text = '';
  for (let r = 0; text.length < 900_000; r++) {
    acls.push({ action: 'accept', src: [`group:g${r % 20}`, '*'], dst: [`u${r % 200}@example.com:${1 + (r % 60000)}`, '*:*'] });
    if (r % 500 === 0) text = JSON.stringify({ groups, acls });
  }
  return JSON.stringify({ groups, acls, tests: [{ src: 'u1@example.com', deny: ['u2@example.com:22'] }] });
}

describe('policy checks off the event loop', () => {
  const f = useServer({ configure: (c) => (c.policy = { mode: 'database', path: '' }) });

  test('a huge refused policy: the server answers other requests while it is checked, and nothing changes', async () => {
    const sock = f.srv.config.unix_socket;
    const text = hugePolicy();
    const before = await socketRequest(sock, 'GET', '/api/v1/policy');
    const order: string[] = [];
    const check = socketRequest(sock, 'POST', '/api/v1/policy/check', { policy: text }).then((r) => {
      order.push('check');
      return r;
    });
    // Give the request time to be read and handed to the checker, then ask for /health.
    await new Promise((r) => setTimeout(r, 300));
    const health = fetch(`${f.url}/health`).then((r) => {
      order.push('health');
      return r.status;
    });
    const [c, h] = await Promise.all([check, health]);
    assert.equal(h, 200);
    assert.equal(c.status, 400, c.body.slice(0, 200));
    assert.match(c.body, /test\(s\) failed/);
    assert.deepEqual(order, ['health', 'check'], '/health was answered while the policy was being checked');
    const set = await socketRequest(sock, 'PUT', '/api/v1/policy', { policy: text });
    assert.equal(set.status, 400);
    assert.deepEqual(await socketRequest(sock, 'GET', '/api/v1/policy'), before, 'the previous policy stays');
  });

  test('a good policy still checks and sets', async () => {
    const sock = f.srv.config.unix_socket;
    const good = '{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}]}';
    assert.equal((await socketRequest(sock, 'POST', '/api/v1/policy/check', { policy: good })).status, 200);
    const set = await socketRequest(sock, 'PUT', '/api/v1/policy', { policy: good });
    assert.equal(set.status, 200, set.body);
    assert.equal(JSON.parse((await socketRequest(sock, 'GET', '/api/v1/policy')).body).policy, good);
  });
});
