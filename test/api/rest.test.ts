// The REST API against the real Tailnet and a real SQLite store, over real TCP and unix sockets.

import assert from 'node:assert/strict';
import { afterAll as after, beforeAll as before, describe, test } from 'vitest';
import { addNode, call, startStack, type Stack } from './harness.js';

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

describe('REST API', () => {
  let s: Stack;
  let key: string;
  const sock = () => ({ socketPath: s.socketPath });
  const tcp = () => ({ url: s.tcpUrl });

  before(async () => {
    s = await startStack();
    key = (await s.apiKeys.create(new Date(Date.now() + 3_600_000))).key;
  });
  after(async () => s.close());

  test('TCP requires a valid bearer API key', async () => {
    const none = await call(tcp(), 'GET', '/api/v1/user');
    assert.equal(none.status, 401);
    assert.equal(none.body.code, 16);
    assert.match(none.body.message, /API key/);
    const wrongPrefix = `${key.slice(0, -5)}xxxxx`;
    assert.equal((await call(tcp(), 'GET', '/api/v1/user', { token: wrongPrefix })).status, 401);
    assert.equal((await call(tcp(), 'GET', '/api/v1/user', { token: 'hskey-api-nope' })).status, 401);
    assert.equal((await call(tcp(), 'GET', '/api/v1/user', { headers: { authorization: `Basic ${key}` } })).status, 401);
    // Unknown paths are not revealed to unauthenticated callers either.
    assert.equal((await call(tcp(), 'GET', '/api/v1/nothing-here')).status, 401);
    const ok = await call(tcp(), 'GET', '/api/v1/user', { token: key });
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body, { users: [] });
    // The refusal is logged without the presented secret.
    assert.ok(s.logs.some((l) => l.includes('unknown or expired API key')));
    assert.ok(!s.logs.some((l) => l.includes(key.slice(23))));
  });

  test('an expired API key is refused', async () => {
    const created = await s.apiKeys.create(new Date(Date.now() + 3_600_000));
    assert.equal((await call(tcp(), 'GET', '/api/v1/node', { token: created.key })).status, 200);
    const exp = await call(sock(), 'POST', '/api/v1/apikey/expire', { body: { prefix: created.record.prefix } });
    assert.equal(exp.status, 200, exp.text);
    assert.deepEqual(exp.body, {});
    assert.equal((await call(tcp(), 'GET', '/api/v1/node', { token: created.key })).status, 401);
    const past = await s.apiKeys.create(new Date(Date.now() - 1000));
    assert.equal((await call(tcp(), 'GET', '/api/v1/node', { token: past.key })).status, 401);
  });

  test('the unix socket needs no key; paths outside /api/v1 are left to the caller', async () => {
    assert.equal((await call(sock(), 'GET', '/api/v1/user')).status, 200);
    const other = await call(sock(), 'GET', '/health');
    assert.equal(other.status, 404);
    assert.equal(other.text, 'not an API path');
  });

  test('users: create, list with filters, rename, delete', async () => {
    const created = await call(sock(), 'POST', '/api/v1/user', {
      body: { name: 'alice', displayName: 'Alice A', email: 'alice@example.com', pictureUrl: 'https://x.example/a.png' },
    });
    assert.equal(created.status, 200, created.text);
    const u = created.body.user;
    assert.deepEqual(Object.keys(u).sort(), ['createdAt', 'displayName', 'email', 'id', 'name', 'profilePicUrl', 'provider', 'providerId']);
    assert.equal(typeof u.id, 'string');
    assert.equal(u.name, 'alice');
    assert.equal(u.displayName, 'Alice A');
    assert.equal(u.profilePicUrl, 'https://x.example/a.png');
    assert.match(u.createdAt, RFC3339);
    // snake_case field names are accepted too, as protojson does.
    const bob = await call(sock(), 'POST', '/api/v1/user', { body: { name: 'bob', display_name: 'Bob' } });
    assert.equal(bob.body.user.displayName, 'Bob');

    assert.equal((await call(sock(), 'GET', '/api/v1/user')).body.users.length, 2);
    assert.deepEqual((await call(sock(), 'GET', '/api/v1/user?name=bob')).body.users.map((x: any) => x.name), ['bob']);
    assert.deepEqual((await call(sock(), 'GET', '/api/v1/user?email=alice@example.com')).body.users.map((x: any) => x.name), ['alice']);
    assert.deepEqual((await call(sock(), 'GET', `/api/v1/user?id=${u.id}`)).body.users.map((x: any) => x.name), ['alice']);

    const renamed = await call(sock(), 'POST', `/api/v1/user/${bob.body.user.id}/rename/robert`);
    assert.equal(renamed.status, 200, renamed.text);
    assert.equal(renamed.body.user.name, 'robert');

    const dup = await call(sock(), 'POST', '/api/v1/user', { body: { name: 'alice' } });
    assert.equal(dup.status, 409, dup.text);
    assert.equal(dup.body.code, 6);

    assert.equal((await call(sock(), 'DELETE', `/api/v1/user/${bob.body.user.id}`)).status, 200);
    const missing = await call(sock(), 'DELETE', `/api/v1/user/${bob.body.user.id}`);
    assert.equal(missing.status, 404);
    assert.deepEqual(Object.keys(missing.body).sort(), ['code', 'details', 'message']);
    assert.equal(missing.body.code, 5);
  });

  test('bad bodies are refused with 400 naming the field', async () => {
    const bad = async (method: string, path: string, opts: { body?: unknown; rawBody?: string }, field: RegExp) => {
      const r = await call(sock(), method, path, opts);
      assert.equal(r.status, 400, `${method} ${path}: ${r.text}`);
      assert.equal(r.body.code, 3);
      assert.match(r.body.message, field);
    };
    await bad('POST', '/api/v1/user', { rawBody: '{"name": ' }, /not valid JSON/);
    await bad('POST', '/api/v1/user', { rawBody: '[1]' }, /JSON object/);
    await bad('POST', '/api/v1/user', { body: {} }, /"name" is required/);
    await bad('POST', '/api/v1/user', { body: { name: 5 } }, /"name" must be a string/);
    await bad('POST', '/api/v1/user', { body: { name: 'x', pictureUrl: 'not a url' } }, /"pictureUrl"/);
    await bad('POST', '/api/v1/preauthkey', { body: { user: '1', reusable: 'yes' } }, /"reusable" must be a boolean/);
    await bad('POST', '/api/v1/preauthkey', { body: { user: '1', expiration: 'tomorrow' } }, /"expiration" must be an RFC 3339/);
    await bad('POST', '/api/v1/preauthkey', { body: { user: '1', aclTags: 'tag:x' } }, /"aclTags" must be an array/);
    await bad('POST', '/api/v1/preauthkey', { body: { user: '1', aclTags: ['Tag:X'] } }, /"aclTags"/);
    await bad('POST', '/api/v1/preauthkey', { body: { reusable: true } }, /"user" is required/);
    await bad('POST', '/api/v1/preauthkey', { body: { user: -1 } }, /"user"/);
    await bad('GET', '/api/v1/node/abc', {}, /path parameter "nodeId"/);
    await bad('POST', '/api/v1/apikey/expire', { body: {} }, /"prefix" or field "id"/);
  });

  test('unknown endpoints answer 404, wrong methods 405', async () => {
    const nf = await call(sock(), 'GET', '/api/v1/bogus');
    assert.equal(nf.status, 404);
    assert.match(nf.body.message, /no such API endpoint/);
    const wm = await call(sock(), 'PATCH', '/api/v1/user');
    assert.equal(wm.status, 405);
    assert.match(String(wm.headers.allow), /GET/);
  });

  test('pre-auth keys: create shows the key once, list masks it, expire and delete by id', async () => {
    const user = (await call(sock(), 'POST', '/api/v1/user', { body: { name: 'keyowner' } })).body.user;
    const exp = new Date(Date.now() + 3_600_000).toISOString();
    const created = await call(sock(), 'POST', '/api/v1/preauthkey', {
      body: { user: user.id, reusable: true, ephemeral: false, expiration: exp, aclTags: [] },
    });
    assert.equal(created.status, 200, created.text);
    const k = created.body.preAuthKey;
    assert.deepEqual(Object.keys(k).sort(), ['aclTags', 'createdAt', 'ephemeral', 'expiration', 'id', 'key', 'reusable', 'used', 'user']);
    assert.match(k.key, /^hskey-auth-[A-Za-z0-9]{12}-[A-Za-z0-9]{64}$/);
    assert.equal(k.user.name, 'keyowner');
    assert.equal(k.reusable, true);
    assert.equal(k.used, false);
    assert.match(k.expiration, RFC3339);

    // A user may also be given by name (older headscale clients did).
    const byName = await call(sock(), 'POST', '/api/v1/preauthkey', { body: { user: 'keyowner', expiration: exp } });
    assert.equal(byName.status, 200, byName.text);
    const tagged = await call(sock(), 'POST', '/api/v1/preauthkey', { body: { aclTags: ['tag:server'], expiration: exp } });
    assert.equal(tagged.status, 200, tagged.text);
    assert.equal(tagged.body.preAuthKey.user, null);
    assert.deepEqual(tagged.body.preAuthKey.aclTags, ['tag:server']);

    const list = (await call(sock(), 'GET', '/api/v1/preauthkey')).body.preAuthKeys;
    const listed = list.find((x: any) => x.id === k.id);
    assert.equal(listed.key, `${k.key.slice(0, 'hskey-auth-'.length + 12)}-***`);
    const mine = (await call(sock(), 'GET', `/api/v1/preauthkey?user=${user.id}`)).body.preAuthKeys;
    assert.equal(mine.length, 2);

    const expired = await call(sock(), 'POST', '/api/v1/preauthkey/expire', { body: { id: k.id } });
    assert.equal(expired.status, 200, expired.text);
    assert.deepEqual(expired.body, {});
    const after = (await call(sock(), 'GET', '/api/v1/preauthkey')).body.preAuthKeys.find((x: any) => x.id === k.id);
    assert.ok(new Date(after.expiration).getTime() <= Date.now());

    assert.equal((await call(sock(), 'DELETE', `/api/v1/preauthkey?id=${k.id}`)).status, 200);
    assert.ok(!(await call(sock(), 'GET', '/api/v1/preauthkey')).body.preAuthKeys.some((x: any) => x.id === k.id));
    assert.equal((await call(sock(), 'DELETE', `/api/v1/preauthkey?id=${k.id}`)).status, 404);
  });

  test('nodes: list, get, rename, tags, routes, expire, move, delete with headscale v0.29 shapes', async () => {
    const owner = (await call(sock(), 'POST', '/api/v1/user', { body: { name: 'nodeowner' } })).body.user;
    const other = (await call(sock(), 'POST', '/api/v1/user', { body: { name: 'other' } })).body.user;
    const n = await addNode(s, Number(owner.id), 'laptop', { routes: ['10.1.0.0/16', '0.0.0.0/0', '::/0'] });

    const list = await call(sock(), 'GET', '/api/v1/node?user=nodeowner');
    assert.equal(list.status, 200, list.text);
    assert.equal(list.body.nodes.length, 1);
    const node = list.body.nodes[0];
    assert.deepEqual(Object.keys(node).sort(), [
      'approvedRoutes', 'availableRoutes', 'createdAt', 'discoKey', 'expiry', 'givenName', 'id', 'ipAddresses',
      'lastSeen', 'machineKey', 'name', 'nodeKey', 'online', 'preAuthKey', 'registerMethod', 'subnetRoutes', 'tags', 'user',
    ]);
    assert.equal(node.id, String(n.id));
    assert.equal(node.name, 'laptop');
    assert.equal(node.givenName, n.givenName);
    assert.equal(node.user.name, 'nodeowner');
    assert.equal(node.registerMethod, 'REGISTER_METHOD_AUTH_KEY');
    assert.equal(node.online, false);
    assert.equal(node.expiry, null);
    assert.equal(node.preAuthKey, null);
    assert.ok(node.ipAddresses.length === 2 && node.ipAddresses[0].startsWith('100.'));
    assert.deepEqual(node.availableRoutes, ['10.1.0.0/16', '0.0.0.0/0', '::/0']);
    assert.deepEqual(node.approvedRoutes, []);
    assert.equal((await call(sock(), 'GET', '/api/v1/node?user=nobody')).status, 404);

    const one = await call(sock(), 'GET', `/api/v1/node/${n.id}`);
    assert.deepEqual(one.body.node, node);
    assert.equal((await call(sock(), 'GET', '/api/v1/node/9999')).status, 404);

    const renamed = await call(sock(), 'POST', `/api/v1/node/${n.id}/rename/work-laptop`);
    assert.equal(renamed.status, 200, renamed.text);
    assert.equal(renamed.body.node.givenName, 'work-laptop');

    const routes = await call(sock(), 'POST', `/api/v1/node/${n.id}/approve_routes`, { body: { routes: ['10.1.0.0/16', '0.0.0.0/0'] } });
    assert.equal(routes.status, 200, routes.text);
    // Approving one exit route approves both, as clients need.
    assert.deepEqual([...routes.body.node.approvedRoutes].sort(), ['0.0.0.0/0', '10.1.0.0/16', '::/0']);
    assert.deepEqual([...routes.body.node.subnetRoutes].sort(), ['0.0.0.0/0', '10.1.0.0/16', '::/0']);
    const badRoute = await call(sock(), 'POST', `/api/v1/node/${n.id}/approve_routes`, { body: { routes: ['10.1.0.0'] } });
    assert.equal(badRoute.status, 400);
    assert.match(badRoute.body.message, /"routes"/);

    const when = new Date(Date.now() + 86_400_000);
    when.setMilliseconds(0);
    const exp = await call(sock(), 'POST', `/api/v1/node/${n.id}/expire?expiry=${encodeURIComponent(when.toISOString())}`);
    assert.equal(exp.status, 200, exp.text);
    assert.equal(exp.body.node.expiry, when.toISOString().replace('.000Z', 'Z'));
    const now = await call(sock(), 'POST', `/api/v1/node/${n.id}/expire`);
    assert.ok(new Date(now.body.node.expiry).getTime() <= Date.now());

    const moved = await call(sock(), 'POST', `/api/v1/node/${n.id}/user`, { body: { user: other.id } });
    assert.equal(moved.status, 200, moved.text);
    assert.equal(moved.body.node.user.name, 'other');

    const tagged = await call(sock(), 'POST', `/api/v1/node/${n.id}/tags`, { body: { tags: ['tag:web'] } });
    assert.equal(tagged.status, 200, tagged.text);
    assert.deepEqual(tagged.body.node.tags, ['tag:web']);
    // Tagged nodes are owned by their tags and show headscale's stand-in user.
    assert.equal(tagged.body.node.user.name, 'tagged-devices');
    const noTags = await call(sock(), 'POST', `/api/v1/node/${n.id}/tags`, { body: { tags: [] } });
    assert.equal(noTags.status, 400);
    assert.match(noTags.body.message, /"tags"/);

    const reg = await call(sock(), 'POST', '/api/v1/node/register?user=nodeowner&key=abc');
    assert.equal(reg.status, 501);
    assert.match(reg.body.message, /not supported/);

    assert.equal((await call(sock(), 'DELETE', `/api/v1/node/${n.id}`)).status, 200);
    assert.equal((await call(sock(), 'GET', `/api/v1/node/${n.id}`)).status, 404);
  });

  test('api keys: create, list, expire by listed prefix, delete', async () => {
    const created = await call(tcp(), 'POST', '/api/v1/apikey', {
      token: key,
      body: { expiration: new Date(Date.now() + 86_400_000).toISOString() },
    });
    assert.equal(created.status, 200, created.text);
    const fresh: string = created.body.apiKey;
    assert.match(fresh, /^hskey-api-[A-Za-z0-9]{12}-[A-Za-z0-9]{64}$/);
    assert.equal((await call(tcp(), 'GET', '/api/v1/user', { token: fresh })).status, 200);

    const list = (await call(sock(), 'GET', '/api/v1/apikey')).body.apiKeys;
    const listed = list.find((k: any) => k.prefix === `${fresh.slice(0, 22)}-***`);
    assert.ok(listed, JSON.stringify(list));
    assert.deepEqual(Object.keys(listed).sort(), ['createdAt', 'expiration', 'id', 'lastSeen', 'prefix']);
    assert.match(listed.lastSeen, RFC3339);

    assert.equal((await call(sock(), 'POST', '/api/v1/apikey/expire', { body: { prefix: listed.prefix } })).status, 200);
    assert.equal((await call(tcp(), 'GET', '/api/v1/user', { token: fresh })).status, 401);
    assert.equal((await call(sock(), 'DELETE', `/api/v1/apikey/${encodeURIComponent(listed.prefix)}`)).status, 200);
    assert.ok(!(await call(sock(), 'GET', '/api/v1/apikey')).body.apiKeys.some((k: any) => k.id === listed.id));
    assert.equal((await call(sock(), 'DELETE', `/api/v1/apikey/${encodeURIComponent(listed.prefix)}`)).status, 404);
  });

  test('policy endpoints say clearly when no policy service is configured', async () => {
    const r = await call(sock(), 'GET', '/api/v1/policy');
    assert.equal(r.status, 501);
    assert.equal(r.body.code, 12);
    assert.match(r.body.message, /policy/);
  });
});
