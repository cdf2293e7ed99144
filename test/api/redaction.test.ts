// Request logging never carries a secret: not query values (DELETE /api/v1/preauthkey?key=),
// not the Authorization header, not request or reply bodies. Drives such requests with the
// log at its most verbose and greps everything logged.

import assert from 'node:assert/strict';
import { afterAll as after, beforeAll as before, describe, test } from 'vitest';
import { redactUrl } from '../../src/web/redact.js';
import { call, startStack, type Stack } from './harness.js';

describe('request log redaction', () => {
  let s: Stack;
  before(async () => {
    s = await startStack();
  });
  after(async () => s.close());

  test('no secret from a query, header or body reaches the log', async () => {
    const apiKey = (await s.apiKeys.create(new Date(Date.now() + 3_600_000))).key;
    const tcp = { url: s.tcpUrl };
    const user = (await call(tcp, 'POST', '/api/v1/user', { token: apiKey, body: { name: 'secretive' } })).body.user;
    const created = await call(tcp, 'POST', '/api/v1/preauthkey', { token: apiKey, body: { user: user.id, reusable: true } });
    assert.equal(created.status, 200, created.text);
    const authKey: string = created.body.preAuthKey.key;
    const newApiKey: string = (await call(tcp, 'POST', '/api/v1/apikey', { token: apiKey })).body.apiKey;

    const secretInQuery = 'hskey-auth-QUERYSECRET-0123456789abcdef';
    const before = s.logs.length;
    // A key in the query string, with a valid and with a refused API key.
    assert.equal((await call(tcp, 'DELETE', `/api/v1/preauthkey?key=${secretInQuery}&user=${user.id}`, { token: apiKey })).status, 404);
    assert.equal((await call(tcp, 'DELETE', `/api/v1/preauthkey?key=${secretInQuery}`, { token: 'hskey-api-WRONGTOKEN-xyz' })).status, 401);
    assert.equal((await call(tcp, 'POST', `/api/v1/node/register?user=secretive&key=${secretInQuery}`, { token: apiKey })).status, 501);
    // A secret in a body that is refused, and one in a body that fails inside the route.
    await call(tcp, 'POST', '/api/v1/policy/check', { token: apiKey, rawBody: `{"policy": "${secretInQuery}"` });
    await call(tcp, 'POST', '/api/v1/apikey/expire', { token: apiKey, body: { prefix: secretInQuery } });
    await call(tcp, 'POST', '/api/v1/preauthkey/expire', { token: apiKey, body: { key: authKey, id: 99 } });
    // A bearer token that is not even well-formed.
    await call(tcp, 'GET', '/api/v1/user', { headers: { authorization: `Bearer ${secretInQuery} trailing` } });

    const logged = s.logs.slice(before).join('\n');
    assert.ok(s.logs.slice(before).length >= 7, `request lines were logged:\n${logged}`);
    assert.match(logged, /DELETE \/api\/v1\/preauthkey\?key=<redacted>&user=<redacted> 404/);
    for (const secret of ['QUERYSECRET', 'WRONGTOKEN', apiKey, apiKey.slice(-20), authKey.slice(-20), newApiKey.slice(-20)]) {
      assert.ok(!logged.includes(secret), `log mentions ${secret}:\n${logged}`);
    }
    // And the whole log of this stack, creation replies included.
    const all = s.logs.join('\n');
    for (const secret of [authKey.slice(-20), newApiKey.slice(-20), apiKey.slice(-20), 'QUERYSECRET']) assert.ok(!all.includes(secret));
  });

  test('redactUrl keeps paths and parameter names only', () => {
    assert.equal(redactUrl('/api/v1/node'), '/api/v1/node');
    assert.equal(redactUrl('/api/v1/preauthkey?key=abc&user=1&key=def'), '/api/v1/preauthkey?key=<redacted>&user=<redacted>');
    assert.equal(redactUrl('/x?'), '/x');
    assert.equal(redactUrl('/x?%3Cscript%3E=1'), '/x??=<redacted>');
    assert.equal(redactUrl('/x?a b=1&c=2'), '/x??=<redacted>&c=<redacted>');
  });
});
