// Every Store method, on SQLite and (when configured) PostgreSQL.

import { afterAll as after, beforeAll as before, describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { createStore, StoreError, type NewApiKey, type NewNode, type NewPreAuthKey, type NewUser } from '../../src/db/index.js';
import type { Store } from '../../src/db/store.js';
import { testBackends } from '../helpers/databases.js';

let seq = 0;
const uniq = () => `${process.pid}-${++seq}`;

function newUser(over: Partial<NewUser> = {}): NewUser {
  return { name: `user-${uniq()}`, displayName: 'A User', email: 'a@example.com', providerId: '', provider: '', profilePicUrl: '', ...over };
}

function newKey(userId: number | null, over: Partial<NewPreAuthKey> = {}): NewPreAuthKey {
  const u = uniq();
  return { prefix: `p${u}`, keyHash: `hash-${u}`, userId, reusable: false, ephemeral: false, used: false, tags: [], expiration: null, ...over };
}

let ipSeq = 0;
function newNode(userId: number | null, over: Partial<NewNode> = {}): NewNode {
  const u = uniq();
  const n = ++ipSeq;
  return {
    machineKey: `mkey:${u}`,
    nodeKey: `nodekey:${u}`,
    discoKey: `discokey:${u}`,
    endpoints: ['192.0.2.1:41641', '[2001:db8::1]:41641'],
    hostinfo: { Hostname: `host-${u}`, OS: 'linux', RoutableIPs: ['10.0.0.0/24'] },
    ipv4: `100.64.${Math.floor(n / 250)}.${(n % 250) + 1}`,
    ipv6: `fd7a:115c:a1e0::${n.toString(16)}`,
    hostname: `host-${u}`,
    givenName: `host-${u}`,
    userId,
    registerMethod: 'authkey',
    tags: [],
    authKeyId: null,
    ephemeral: false,
    expiry: null,
    lastSeen: null,
    approvedRoutes: [],
    ...over,
  };
}

function newApiKey(over: Partial<NewApiKey> = {}): NewApiKey {
  const u = uniq();
  return { prefix: `api${u}`, keyHash: `apihash-${u}`, expiration: null, lastSeen: null, ...over };
}

async function rejectsWith(p: Promise<unknown>, code: string, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof StoreError, `expected a StoreError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, pattern);
    return true;
  });
}

for (const backend of testBackends()) {
  describe(`store on ${backend.name}`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    before(async () => {
      ({ store, cleanup } = await backend.makeStore());
    });
    after(async () => {
      await cleanup();
    });

    test('kind and ping', async () => {
      assert.equal(store.kind, backend.name);
      await store.ping();
    });

    test('audit log: append, newest first, page back with beforeId, filter by since', async () => {
      const t0 = new Date(Date.now() - 1000);
      const a = await store.appendAudit({ actor: 'local socket', action: 'CreateUser', target: 'POST /api/v1/user', detail: { name: 'x' } });
      const b = await store.appendAudit({ actor: 'api key hskey-api-abcdefghijkl', action: 'DeleteUser', target: 'DELETE /api/v1/user/1', detail: {} });
      assert.ok(b.id > a.id);
      assert.ok(a.createdAt instanceof Date && a.createdAt.getTime() >= t0.getTime());
      assert.deepEqual(a.detail, { name: 'x' });
      const all = await store.listAudit({ limit: 10 });
      assert.deepEqual(all.slice(0, 2).map((e) => e.id), [b.id, a.id]);
      assert.deepEqual((await store.listAudit({ limit: 1 })).map((e) => e.id), [b.id]);
      assert.deepEqual((await store.listAudit({ limit: 10, beforeId: b.id })).map((e) => e.id)[0], a.id);
      assert.deepEqual(await store.listAudit({ limit: 10, since: new Date(Date.now() + 60_000) }), []);
    });

    test('createUser returns the record with id and timestamps', async () => {
      const before = Date.now();
      const u = await store.createUser(newUser({ name: 'odin@example.com', provider: 'oidc', providerId: 'https://idp/odin' }));
      assert.ok(u.id > 0);
      assert.equal(u.name, 'odin@example.com');
      assert.equal(u.provider, 'oidc');
      assert.equal(u.providerId, 'https://idp/odin');
      assert.ok(u.createdAt instanceof Date && u.updatedAt instanceof Date);
      assert.ok(u.createdAt.getTime() >= before - 2000 && u.createdAt.getTime() <= Date.now() + 2000);
    });

    test('OIDC groups: none by default, stored as given, replaced by an update, kept by others', async () => {
      const u = await store.createUser(newUser());
      assert.deepEqual(u.oidcGroups, []);
      const v = await store.createUser(newUser({ oidcGroups: ['/eng', 'Domain Users'] }));
      assert.deepEqual(v.oidcGroups, ['/eng', 'Domain Users']);
      assert.deepEqual((await store.updateUser(v.id, { displayName: 'x' })).oidcGroups, ['/eng', 'Domain Users']);
      assert.deepEqual((await store.updateUser(v.id, { oidcGroups: ['sales'] })).oidcGroups, ['sales']);
      assert.deepEqual((await store.loadAll()).users.find((x) => x.id === v.id)?.oidcGroups, ['sales']);
    });

    test('createUser with a taken name is a conflict naming the field', async () => {
      const u = await store.createUser(newUser());
      await rejectsWith(store.createUser(newUser({ name: u.name })), 'conflict', /user name is already taken/);
    });

    test('updateUser changes only the given fields and bumps updatedAt', async () => {
      const u = await store.createUser(newUser({ email: 'old@example.com' }));
      await new Promise((r) => setTimeout(r, 5));
      const v = await store.updateUser(u.id, { displayName: 'Renamed' });
      assert.equal(v.displayName, 'Renamed');
      assert.equal(v.email, 'old@example.com');
      assert.equal(v.name, u.name);
      assert.ok(v.updatedAt.getTime() > u.updatedAt.getTime());
      assert.equal(v.createdAt.getTime(), u.createdAt.getTime());
    });

    test('updateUser of a missing user is not_found; renaming onto a taken name is a conflict', async () => {
      await rejectsWith(store.updateUser(987654, { email: 'x' }), 'not_found', /user 987654 not found/);
      const a = await store.createUser(newUser());
      const b = await store.createUser(newUser());
      await rejectsWith(store.updateUser(b.id, { name: a.name }), 'conflict', /user name/);
    });

    test('deleteUser refuses while the user owns nodes and changes nothing', async () => {
      const u = await store.createUser(newUser());
      const k = await store.createPreAuthKey(newKey(u.id));
      const n = await store.createNode(newNode(u.id, { authKeyId: k.id }));
      await rejectsWith(store.deleteUser(u.id), 'in_use', /still owns 1 node/);
      const snap = await store.loadAll();
      assert.ok(snap.users.some((x) => x.id === u.id), 'user kept');
      assert.ok(snap.preAuthKeys.some((x) => x.id === k.id), 'key kept (transaction rolled back)');
      assert.equal(snap.nodes.find((x) => x.id === n.id)?.authKeyId, k.id);
    });

    test("deleteUser deletes the user's pre-auth keys with it", async () => {
      const u = await store.createUser(newUser());
      const other = await store.createUser(newUser());
      const k1 = await store.createPreAuthKey(newKey(u.id));
      const k2 = await store.createPreAuthKey(newKey(u.id, { reusable: true }));
      const kOther = await store.createPreAuthKey(newKey(other.id));
      await store.deleteUser(u.id);
      const snap = await store.loadAll();
      assert.ok(!snap.users.some((x) => x.id === u.id));
      const ids = new Set(snap.preAuthKeys.map((k) => k.id));
      assert.ok(!ids.has(k1.id) && !ids.has(k2.id));
      assert.ok(ids.has(kOther.id));
      await rejectsWith(store.deleteUser(u.id), 'not_found', /not found/);
    });

    test('pre-auth keys: create, update, delete round-trip every field', async () => {
      const u = await store.createUser(newUser());
      const exp = new Date('2031-02-03T04:05:06.789Z');
      const k = await store.createPreAuthKey(newKey(u.id, { reusable: true, ephemeral: true, tags: ['tag:a', 'tag:b'], expiration: exp }));
      assert.ok(k.id > 0);
      assert.equal(k.userId, u.id);
      assert.equal(k.reusable, true);
      assert.equal(k.ephemeral, true);
      assert.equal(k.used, false);
      assert.deepEqual(k.tags, ['tag:a', 'tag:b']);
      assert.equal(k.expiration?.toISOString(), exp.toISOString());
      assert.ok(k.createdAt instanceof Date);

      const tagged = await store.createPreAuthKey(newKey(null, { tags: ['tag:server'] }));
      assert.equal(tagged.userId, null);

      const upd = await store.updatePreAuthKey(k.id, { expiration: null, tags: [] });
      assert.equal(upd.expiration, null);
      assert.deepEqual(upd.tags, []);
      assert.equal(upd.reusable, true, 'untouched fields stay');

      const loaded = (await store.loadAll()).preAuthKeys.find((x) => x.id === k.id);
      assert.deepEqual(loaded, upd);

      await store.deletePreAuthKey(k.id);
      assert.ok(!(await store.loadAll()).preAuthKeys.some((x) => x.id === k.id));
      await rejectsWith(store.deletePreAuthKey(k.id), 'not_found', /pre-auth key \d+ not found/);
      await rejectsWith(store.updatePreAuthKey(k.id, { used: true }), 'not_found', /not found/);
    });

    test('pre-auth keys: missing user is invalid_reference, duplicate hash a conflict', async () => {
      await rejectsWith(store.createPreAuthKey(newKey(987654)), 'invalid_reference', /does not exist/);
      const u = await store.createUser(newUser());
      const k = await store.createPreAuthKey(newKey(u.id));
      await rejectsWith(store.createPreAuthKey(newKey(u.id, { keyHash: k.keyHash })), 'conflict', /key hash/);
    });

    test('deleting a pre-auth key keeps the nodes that used it, without a dangling reference', async () => {
      const u = await store.createUser(newUser());
      const k = await store.createPreAuthKey(newKey(u.id));
      const n = await store.createNode(newNode(u.id, { authKeyId: k.id }));
      await store.deletePreAuthKey(k.id);
      const node = (await store.loadAll()).nodes.find((x) => x.id === n.id);
      assert.ok(node);
      assert.equal(node.authKeyId, null);
    });

    test('claimPreAuthKey: a single-use key is claimed once; reusable keys always; missing keys never', async () => {
      const u = await store.createUser(newUser());
      const single = await store.createPreAuthKey(newKey(u.id));
      assert.equal(await store.claimPreAuthKey(single.id), true);
      assert.equal(await store.claimPreAuthKey(single.id), false);
      assert.equal((await store.loadAll()).preAuthKeys.find((k) => k.id === single.id)?.used, true);

      const reusable = await store.createPreAuthKey(newKey(u.id, { reusable: true }));
      assert.equal(await store.claimPreAuthKey(reusable.id), true);
      assert.equal(await store.claimPreAuthKey(reusable.id), true);

      assert.equal(await store.claimPreAuthKey(987654), false);
    });

    test('claimPreAuthKey raced by 10 concurrent callers on one store: exactly one wins', async () => {
      const u = await store.createUser(newUser());
      const k = await store.createPreAuthKey(newKey(u.id));
      const results = await Promise.all(Array.from({ length: 10 }, () => store.claimPreAuthKey(k.id)));
      assert.equal(results.filter(Boolean).length, 1, JSON.stringify(results));
    });

    test('nodes: create round-trips every field', async () => {
      const u = await store.createUser(newUser());
      const k = await store.createPreAuthKey(newKey(u.id));
      const expiry = new Date('2030-01-01T00:00:00.123Z');
      const seen = new Date('2025-06-01T12:34:56.789Z');
      const input = newNode(u.id, {
        authKeyId: k.id,
        tags: ['tag:web'],
        approvedRoutes: ['10.0.0.0/24', '0.0.0.0/0'],
        ephemeral: true,
        expiry,
        lastSeen: seen,
        registerMethod: 'oidc',
        hostinfo: { Hostname: 'web', OS: 'linux', Services: [{ Proto: 'tcp', Port: 22 }] } as NewNode['hostinfo'],
      });
      const n = await store.createNode(input);
      assert.ok(n.id > 0);
      const { createdAt, updatedAt, id, ...rest } = n;
      assert.deepEqual(rest, input);
      assert.ok(createdAt instanceof Date && updatedAt instanceof Date);
      const loaded = (await store.loadAll()).nodes.find((x) => x.id === id);
      assert.deepEqual(loaded, n);
    });

    test('nodes: update touches only the given fields; addresses can be cleared', async () => {
      const u = await store.createUser(newUser());
      const n = await store.createNode(newNode(u.id));
      const seen = new Date('2026-01-01T00:00:00.000Z');
      const v = await store.updateNode(n.id, { lastSeen: seen, endpoints: [], ipv6: null, hostinfo: { Hostname: 'renamed' } });
      assert.equal(v.lastSeen?.toISOString(), seen.toISOString());
      assert.deepEqual(v.endpoints, []);
      assert.equal(v.ipv6, null);
      assert.deepEqual(v.hostinfo, { Hostname: 'renamed' });
      assert.equal(v.ipv4, n.ipv4);
      assert.equal(v.nodeKey, n.nodeKey);
      assert.equal(v.givenName, n.givenName);
      assert.equal(v.userId, u.id);
      const w = await store.updateNode(n.id, { userId: null, tags: ['tag:x'], nodeKey: 'nodekey:rotated' });
      assert.equal(w.userId, null);
      assert.deepEqual(w.tags, ['tag:x']);
      assert.equal(w.nodeKey, 'nodekey:rotated');
      await rejectsWith(store.updateNode(987654, { hostname: 'x' }), 'not_found', /node 987654 not found/);
    });

    test('nodes: each unique field is enforced and named; several nodes may lack addresses', async () => {
      const u = await store.createUser(newUser());
      const a = await store.createNode(newNode(u.id));
      const cases: Array<[Partial<NewNode>, RegExp]> = [
        [{ machineKey: a.machineKey }, /machine key is already taken/],
        [{ nodeKey: a.nodeKey }, /node key is already taken/],
        [{ ipv4: a.ipv4 }, /IPv4 address is already taken/],
        [{ ipv6: a.ipv6 }, /IPv6 address is already taken/],
        [{ givenName: a.givenName }, /given name is already taken/],
      ];
      for (const [over, re] of cases) {
        await rejectsWith(store.createNode(newNode(u.id, over)), 'conflict', re);
      }
      const b = await store.createNode(newNode(u.id));
      await rejectsWith(store.updateNode(b.id, { givenName: a.givenName }), 'conflict', /given name/);
      await store.createNode(newNode(u.id, { ipv4: null, ipv6: null }));
      await store.createNode(newNode(u.id, { ipv4: null, ipv6: null }));
    });

    test('nodes: a missing user or auth key is invalid_reference; a bad register method is refused', async () => {
      await rejectsWith(store.createNode(newNode(987654)), 'invalid_reference', /does not exist/);
      await rejectsWith(store.createNode(newNode(null, { authKeyId: 987654 })), 'invalid_reference', /does not exist/);
      await assert.rejects(store.createNode(newNode(null, { registerMethod: 'magic' as never })), /registerMethod is "magic"/);
    });

    test('deleteNode removes it and then the user can be deleted', async () => {
      const u = await store.createUser(newUser());
      const n = await store.createNode(newNode(u.id));
      await store.deleteNode(n.id);
      assert.ok(!(await store.loadAll()).nodes.some((x) => x.id === n.id));
      await rejectsWith(store.deleteNode(n.id), 'not_found', /not found/);
      await store.deleteUser(u.id);
      // The freed unique values can be reused.
      await store.createNode(newNode(null, { machineKey: n.machineKey, nodeKey: n.nodeKey, ipv4: n.ipv4, givenName: n.givenName }));
    });

    test('API keys: list, create, update, delete; prefix is unique', async () => {
      const before = (await store.listApiKeys()).length;
      const exp = new Date('2027-03-04T05:06:07.089Z');
      const k = await store.createApiKey(newApiKey({ expiration: exp }));
      assert.ok(k.id > 0);
      assert.equal(k.expiration?.toISOString(), exp.toISOString());
      assert.equal(k.lastSeen, null);
      const list = await store.listApiKeys();
      assert.equal(list.length, before + 1);
      assert.deepEqual(list.find((x) => x.id === k.id), k);

      const seen = new Date('2026-05-05T05:05:05.005Z');
      const v = await store.updateApiKey(k.id, { lastSeen: seen });
      assert.equal(v.lastSeen?.toISOString(), seen.toISOString());
      assert.equal(v.expiration?.toISOString(), exp.toISOString());
      assert.equal(v.keyHash, k.keyHash);

      await rejectsWith(store.createApiKey(newApiKey({ prefix: k.prefix })), 'conflict', /prefix is already taken/);

      await store.deleteApiKey(k.id);
      assert.equal((await store.listApiKeys()).length, before);
      await rejectsWith(store.deleteApiKey(k.id), 'not_found', /API key \d+ not found/);
      await rejectsWith(store.updateApiKey(k.id, { lastSeen: null }), 'not_found', /not found/);
    });

    test('settings: missing is null, put inserts then overwrites, large values survive', async () => {
      assert.equal(await store.getSetting('nope'), null);
      await store.putSetting('policy', '{"acls":[]}');
      assert.equal(await store.getSetting('policy'), '{"acls":[]}');
      const big = `// ünïcødé\n${'x'.repeat(200_000)}`;
      await store.putSetting('policy', big);
      assert.equal(await store.getSetting('policy'), big);
      await store.putSetting('', '');
      assert.equal(await store.getSetting(''), '');
    });

    test('loadAll returns users, nodes and pre-auth keys in id order', async () => {
      const snap = await store.loadAll();
      assert.ok(snap.users.length > 0 && snap.nodes.length > 0 && snap.preAuthKeys.length > 0);
      for (const list of [snap.users, snap.nodes, snap.preAuthKeys]) {
        const ids = list.map((x) => x.id);
        assert.deepEqual(ids, [...ids].sort((a, b) => a - b));
      }
    });
  });

  describe(`store lifecycle on ${backend.name}`, () => {
    test('data survives closing and reopening', async () => {
      const db = await backend.storeOpts();
      try {
        const s1 = await createStore(db.opts);
        await s1.migrate();
        const u = await s1.createUser(newUser());
        const n = await s1.createNode(newNode(u.id));
        await s1.putSetting('k', 'v');
        await s1.close();

        const s2 = await createStore(db.opts);
        try {
          await s2.migrate();
          const snap = await s2.loadAll();
          assert.deepEqual(snap.users, [u]);
          assert.deepEqual(snap.nodes, [n]);
          assert.equal(await s2.getSetting('k'), 'v');
        } finally {
          await s2.close();
        }
      } finally {
        await db.cleanup();
      }
    });

    test('a closed store refuses work with a clear error; close twice is fine', async () => {
      const { store, cleanup } = await backend.makeStore();
      await cleanup();
      await store.close();
      await assert.rejects(store.ping(), /store is closed/);
    });

    test('using a store before migrate fails', async () => {
      const db = await backend.storeOpts();
      const s = await createStore(db.opts);
      try {
        await assert.rejects(s.createUser(newUser()));
      } finally {
        await s.close();
        await db.cleanup();
      }
    });
  });
}
