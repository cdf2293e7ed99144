// Request schemas refuse malformed bodies with a 400 naming the field, in headscale's error
// shape, before a route runs; protojson's leniencies (snake_case names, ids as numbers or
// strings, unknown fields) still pass.

import assert from 'node:assert/strict';
import { afterAll as after, beforeAll as before, describe, test } from 'vitest';
import { call, startStack, type Stack } from './harness.js';

describe('API request schemas', () => {
  let s: Stack;
  const sock = () => ({ socketPath: s.socketPath });
  before(async () => {
    s = await startStack({ policy: { get: async () => ({ policy: '{}', updatedAt: null }), set: async (p) => ({ policy: p, updatedAt: new Date() }), check: async () => {} } });
  });
  after(async () => s.close());

  const refused = async (method: string, path: string, body: unknown, message: RegExp) => {
    const r = await call(sock(), method, path, { body });
    assert.equal(r.status, 400, `${method} ${path} ${JSON.stringify(body)}: ${r.text}`);
    assert.deepEqual(Object.keys(r.body).sort(), ['code', 'details', 'message']);
    assert.equal(r.body.code, 3);
    assert.deepEqual(r.body.details, []);
    assert.match(r.body.message, message);
  };

  test('wrong types and missing fields are named', async () => {
    await refused('POST', '/api/v1/node/1/tags', { tags: [1] }, /^field "tags" must be an array of strings$/);
    await refused('POST', '/api/v1/node/1/approve_routes', { routes: '10.0.0.0/8' }, /^field "routes" must be an array$/);
    await refused('POST', '/api/v1/policy/check', {}, /^field "policy" is required$/);
    await refused('PUT', '/api/v1/policy', { policy: 42 }, /^field "policy" must be a string$/);
    await refused('POST', '/api/v1/apikey', { expiration: 'soon' }, /^field "expiration" must be an RFC 3339 timestamp/);
    await refused('POST', '/api/v1/preauthkey', { user: true }, /^field "user" must be a string or a number$/);
    await refused('POST', '/api/v1/apikey/expire', { id: [1] }, /^field "id" must be a string or a number$/);
    await refused('POST', '/api/v1/user', { name: 'x', display_name: 7 }, /^field "displayName" must be a string$/);
  });

  test('protojson leniencies pass the schemas', async () => {
    const u = await call(sock(), 'POST', '/api/v1/user', { body: { name: 'lenient', display_name: 'L', unknownField: { a: 1 } } });
    assert.equal(u.status, 200, u.text);
    assert.equal(u.body.user.displayName, 'L');
    const k = await call(sock(), 'POST', '/api/v1/preauthkey', { body: { user: Number(u.body.user.id), acl_tags: [] } });
    assert.equal(k.status, 200, k.text);
    const byString = await call(sock(), 'POST', '/api/v1/preauthkey', { body: { user: u.body.user.id } });
    assert.equal(byString.status, 200, byString.text);
    // null is protojson's "unset", for any field.
    const nulls = await call(sock(), 'POST', '/api/v1/preauthkey', { body: { user: u.body.user.id, expiration: null, aclTags: null, reusable: null } });
    assert.equal(nulls.status, 200, nulls.text);
    assert.equal(nulls.body.preAuthKey.expiration, null);
    assert.equal((await call(sock(), 'POST', '/api/v1/user', { body: { name: null } })).body.message, 'field "name" is required');
    // A path Fastify could not match, with broken percent-encoding, still answers in the API's shape.
    const broken = await call(sock(), 'PATCH', '/api/v1/node/%E0%A4%A');
    assert.equal(broken.body.code, 3, broken.text);
    // No body at all is an empty message.
    const none = await call(sock(), 'POST', '/api/v1/apikey');
    assert.equal(none.status, 200, none.text);
    assert.match(none.body.apiKey, /^hskey-api-/);
  });

  test('replies carry exactly the documented fields', async () => {
    const r = await call(sock(), 'GET', '/api/v1/user');
    assert.equal(r.status, 200);
    assert.deepEqual(Object.keys(r.body.users[0]).sort(), ['createdAt', 'displayName', 'email', 'id', 'name', 'profilePicUrl', 'provider', 'providerId']);
    assert.equal(r.headers['cache-control'], 'no-store');
  });
});
