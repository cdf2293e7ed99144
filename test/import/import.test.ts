// `switchboard import headscale` against the databases headscale's own releases and
// migration tests left (test/fixtures/headscale-db), into SQLite and PostgreSQL targets.

import { describe, test, beforeAll, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ApiKeyService } from '../../src/api/apikeys.js';
import { createStore, type StoreOptions } from '../../src/db/index.js';
import type { Store } from '../../src/db/store.js';
import { StoreError } from '../../src/db/errors.js';
import { importHeadscale, type ImportOutcome } from '../../src/import/run.js';
import { Tailnet } from '../../src/state/tailnet.js';
import { hashSecret, plaintextKeyPrefix } from '../../src/state/secrets.js';
import { formatPrivate, generatePrivateKey } from '../../src/noise/keys.js';
import { testBackends, type FreshDatabase } from '../helpers/databases.js';
import { testConfig } from '../helpers/server.js';
import { copyToPostgres, dumpNames, loadDump, tempDir } from './helpers.js';

// From the 0.29.3 dump's header: keys a real headscale v0.29.3 made.
const API_KEY = 'hskey-api-ZRVzG0vKkUb4-dqem7jxt7Aun0JqfZpbsvrBDYdQV-RK8S9qbiAAniiuTxIj73LeDUDukVYJBqmDh';
const KEY_REUSABLE = 'hskey-auth-H3XVw1W-6s4J-KTmfCUFG_4gJ8CuI5j3W67DX8eMnQJi6W8ToVK0esXMrPK5YTm_p8THq6VnH22-K';
const KEY_USED = 'hskey-auth-wVBSRrOq9_aQ-hg9vYfijlQDPFKx6lvJ4sT4376N6OV5IijEEQzRouXpgMENeWaozgPsjhepjSkxf';
const KEY_TAGGED = 'hskey-auth-q3rudWOszD6G-Oy9BLGYYpGg-HdXjlwXQT8-9IfrcQ2aIdJfzhddkxQoSgN0JkdVEUxXboxS55mrH';
const KEY_PLAINTEXT = 'plaintextlegacykey0000000000000000000000000000';
const V293 = 'headscale_0.29.3_dump.sql';

const fileHash = (f: string) => (fs.existsSync(f) ? createHash('sha256').update(fs.readFileSync(f)).digest('hex') : 'absent');

interface Run {
  outcome: ImportOutcome;
  out: string[];
}

async function runImport(dir: string, target: StoreOptions, db: string, extra: { dryRun?: boolean; replace?: boolean; noiseKey?: string } = {}): Promise<Run> {
  const out: string[] = [];
  const config = testConfig(dir, target);
  const outcome = await importHeadscale({
    db,
    noiseKey: extra.noiseKey,
    dryRun: extra.dryRun === true,
    replace: extra.replace === true,
    config,
    target,
    out: (l) => out.push(l),
    progress: () => {},
  });
  return { outcome, out };
}

async function openTarget(target: StoreOptions): Promise<Store> {
  const store = await createStore(target);
  await store.migrate();
  return store;
}

const tailnetOpts = { prefixV4: '100.64.0.0/10', prefixV6: 'fd7a:115c:a1e0::/48', allocation: 'sequential' as const };

for (const backend of testBackends()) {
  describe(`import headscale into ${backend.name}`, () => {
    let dir: string;
    const cleanups: (() => Promise<void>)[] = [];
    const fresh = async (): Promise<FreshDatabase> => {
      const db = await backend.storeOpts();
      cleanups.push(db.cleanup);
      return db;
    };
    beforeAll(() => {
      dir = tempDir();
    });
    afterAll(async () => {
      for (const c of cleanups.reverse()) await c().catch(() => {});
      fs.rmSync(dir, { recursive: true, force: true });
    });

    test('0.29.3: users, nodes, keys, addresses, tags and ownership map over with their ids', async () => {
      const db = await fresh();
      const { outcome } = await runImport(dir, db.opts, loadDump(V293, dir));
      assert.deepEqual(outcome.problems, []);
      assert.equal(outcome.written, true);
      const store = await openTarget(db.opts);
      try {
        const snap = await store.loadAll();
        assert.deepEqual(snap.users.map((u) => [u.id, u.name]), [[1, 'alice'], [2, 'bob']]);
        assert.deepEqual(
          snap.nodes.map((n) => [n.id, n.givenName, n.ipv4, n.ipv6, n.userId, n.tags, n.authKeyId, n.ephemeral, n.expiry]),
          [
            [1, 'node1', '100.64.0.1', 'fd7a:115c:a1e0::1', 1, [], 1, false, null],
            [2, 'node2', '100.64.0.2', 'fd7a:115c:a1e0::2', 1, [], 2, false, null],
            [3, 'node3', '100.64.0.3', 'fd7a:115c:a1e0::3', 2, [], 3, true, null],
            [4, 'node4', '100.64.0.4', 'fd7a:115c:a1e0::4', null, ['tag:server'], 4, false, null],
            [5, 'node5', '100.64.0.5', 'fd7a:115c:a1e0::5', 2, [], 5, true, null],
          ],
        );
        const n1 = snap.nodes[0]!;
        assert.equal(n1.machineKey, 'mkey:a0ab77456320823945ae0331823e3c0d516fae9585bd42698dfa1ac3d7679e01');
        assert.equal(n1.nodeKey, 'nodekey:7c84167ab68f494942de14deb83587fd841843de2bac105b6c670048c1605501');
        assert.equal(n1.discoKey, 'discokey:53075b3c6cad3b62a2a29caea61beeb93f66b8c75cb89dac465236a5bbf57701');
        assert.equal(n1.registerMethod, 'authkey');
        assert.equal(n1.lastSeen?.toISOString(), '2026-09-23T15:30:01.000Z');
        assert.deepEqual(
          snap.preAuthKeys.map((k) => [k.id, k.prefix, k.userId, k.reusable, k.ephemeral, k.used, k.tags, k.expiration?.toISOString()]),
          [
            [1, 'H3XVw1W-6s4J', 1, true, false, false, [], '2036-09-20T15:28:40.293Z'],
            [2, 'wVBSRrOq9_aQ', 1, false, false, true, [], '2036-09-20T15:28:40.381Z'],
            [3, 'nBq0Csj0PIiH', 2, false, true, false, [], '2036-09-20T15:28:40.470Z'],
            [4, 'q3rudWOszD6G', null, false, false, false, ['tag:server'], '2036-09-20T15:28:40.556Z'],
            [5, plaintextKeyPrefix(KEY_PLAINTEXT), 2, true, true, false, [], '2036-09-20T15:29:00.000Z'],
          ],
        );
        // The plaintext key is kept only as our hash; headscale's bcrypt hashes as they were.
        assert.equal(snap.preAuthKeys[4]!.keyHash, hashSecret(KEY_PLAINTEXT));
        assert.match(snap.preAuthKeys[0]!.keyHash, /^bcrypt:\$2a\$10\$/);
        const api = await store.listApiKeys();
        assert.deepEqual(api.map((k) => [k.id, k.prefix, k.expiration?.toISOString()]), [[1, 'ZRVzG0vKkUb4', '2036-09-20T15:28:40.206Z']]);
        // Ids go on after the imported ones.
        const u = await store.createUser({ name: 'carol', displayName: '', email: '', providerId: '', provider: '', profilePicUrl: '' });
        assert.equal(u.id, 3);
      } finally {
        await store.close();
      }
    });

    test('imported pre-auth keys keep their usable state, and API keys their secret; both are re-stored our way on first use', async () => {
      const db = await fresh();
      await runImport(dir, db.opts, loadDump(V293, dir));
      const store = await openTarget(db.opts);
      try {
        const tailnet = await Tailnet.load(store, tailnetOpts);
        const future = new Date('2030-01-01T00:00:00Z');
        const ok = tailnet.checkPreAuthKey(KEY_REUSABLE, future);
        assert.equal(ok.ok, true);
        assert.equal(tailnet.checkPreAuthKey(KEY_TAGGED, future).ok, true);
        assert.equal(tailnet.checkPreAuthKey(KEY_PLAINTEXT, future).ok, true);
        const used = tailnet.checkPreAuthKey(KEY_USED, future);
        assert.deepEqual(used, { ok: false, error: 'pre-auth key has already been used' });
        assert.equal(tailnet.checkPreAuthKey(KEY_REUSABLE.slice(0, -1) + 'X', future).ok, false);
        assert.equal(tailnet.checkPreAuthKey(KEY_PLAINTEXT + '0', future).ok, false);
        assert.equal(tailnet.checkPreAuthKey(KEY_REUSABLE, new Date('2037-01-01T00:00:00Z')).ok, false, 'expired after its expiration');

        const apiKeys = await ApiKeyService.load(store);
        assert.equal(await apiKeys.verify(API_KEY.slice(0, -1) + 'x'), false);
        assert.equal(await apiKeys.verify(API_KEY), true);
        assert.equal(await apiKeys.verify(API_KEY), true);
        // The re-store of the pre-auth key hash is asynchronous: wait for it.
        for (let i = 0; i < 50 && (await store.loadAll()).preAuthKeys[0]!.keyHash.startsWith('bcrypt:'); i++) {
          await new Promise((r) => setTimeout(r, 20));
        }
        const snap = await store.loadAll();
        assert.equal(snap.preAuthKeys[0]!.keyHash, hashSecret(KEY_REUSABLE));
        assert.equal(snap.preAuthKeys[2]!.keyHash.startsWith('bcrypt:'), true, 'a key never presented keeps its hash');
        assert.equal((await store.listApiKeys())[0]!.keyHash, hashSecret(API_KEY));
        // And still verifies with the new hash.
        const reloaded = await ApiKeyService.load(store);
        assert.equal(await reloaded.verify(API_KEY), true);
      } finally {
        await store.close();
      }
    });

    test('every dump imports, or is refused naming the row', async () => {
      for (const name of dumpNames()) {
        const db = await fresh();
        const { outcome, out } = await runImport(dir, db.opts, loadDump(name, dir));
        if (name === 'recover_null_tags_user_id_migration_test.sql') {
          // Node 3 lost its owner in headscale 0.29.0 and nothing can recover it.
          assert.deepEqual(outcome.problems, [
            'nodes row 3: has neither tags nor a user (headscale lost its owner); give it one in headscale (`headscale nodes move`) and import again',
          ]);
          assert.equal(outcome.written, false);
          assert.ok(out.some((l) => l.includes('nodes row 3')));
        } else {
          assert.deepEqual(outcome.problems, [], `${name}: ${out.join('\n')}`);
          assert.equal(outcome.written, true, name);
        }
      }
    });

    test('repairs headscale made in later migrations are made on import', async () => {
      // zero-time expiries mean none; real ones stay.
      let db = await fresh();
      await runImport(dir, db.opts, loadDump('zero_time_expiry_migration_test.sql', dir));
      let store = await openTarget(db.opts);
      let snap = await store.loadAll();
      await store.close();
      assert.deepEqual(snap.nodes.map((n) => n.expiry?.toISOString() ?? null), [null, null, '2099-01-01T00:00:00.000Z', '2020-01-01T00:00:00.000Z', null]);

      // tags 'null', '' and '[]' are untagged and keep their user; a tagged node belongs to its tags.
      db = await fresh();
      await runImport(dir, db.opts, loadDump('null_tags_user_id_migration_test.sql', dir));
      store = await openTarget(db.opts);
      snap = await store.loadAll();
      await store.close();
      assert.deepEqual(snap.nodes.map((n) => [n.id, n.userId, n.tags]), [[1, 2, []], [2, null, ['tag:server']], [3, 1, []], [4, 1, []]]);

      // 0.25-era database: forced_tags, dangling auth_key_id 0, given names that are not DNS labels.
      db = await fresh();
      const { outcome } = await runImport(dir, db.opts, loadDump('failing-node-preauth-constraint_dump.sql', dir));
      assert.ok(outcome.plan!.notes.includes('nodes row 1: given_name "given_name1" is not a DNS label; imported as "given-name1"'));
      store = await openTarget(db.opts);
      snap = await store.loadAll();
      const api = await store.listApiKeys();
      await store.close();
      assert.deepEqual(snap.nodes[0]!.tags, ['tag:ssh', 'tag:sshclient']);
      assert.equal(snap.nodes[0]!.userId, null);
      assert.equal(snap.nodes[0]!.authKeyId, null);
      assert.equal(snap.nodes[0]!.givenName, 'given-name1');
      assert.deepEqual(api.map((k) => k.prefix), ['hFKcRjLyfw', '88Wbitubag']);

      // The policy comes from the policies table.
      db = await fresh();
      await runImport(dir, db.opts, loadDump('request_tags_migration_test.sql', dir));
      store = await openTarget(db.opts);
      const policy = await store.getSetting('policy');
      snap = await store.loadAll();
      await store.close();
      assert.match(policy ?? '', /"tag:server": \["user1@example.com"\]/);
      // Tags asked for before headscale's 202601121700: granted where tagOwners allow, as that migration does.
      assert.deepEqual(snap.nodes.map((n) => [n.id, n.tags, n.userId]), [
        [1, ['tag:server'], null],
        [2, [], 1],
        [3, ['tag:client', 'tag:existing'], null],
        [4, ['tag:server'], null],
        [5, [], 2],
        [6, ['tag:admin'], null],
        [7, ['tag:server'], null],
      ]);
    });

    test('a bad row stops the import, naming table and row, and the target stays untouched', async () => {
      const db = await fresh();
      const bad = loadDump(V293, dir, (h) => {
        h.prepare("UPDATE nodes SET ipv4 = '100.64.0.1' WHERE id = 3").run();
        h.prepare("UPDATE nodes SET given_name = 'node1' WHERE id = 5").run();
        h.prepare("UPDATE pre_auth_keys SET tags = '[\"server\"]' WHERE id = 4").run();
      });
      const sqlitePath = db.opts.type === 'sqlite' ? db.opts.path : null;
      const { outcome, out } = await runImport(dir, db.opts, bad);
      assert.equal(outcome.written, false);
      assert.deepEqual(outcome.problems, [
        'pre_auth_keys row 4: tag "server": tags start with "tag:"',
        "nodes row 3: ipv4 100.64.0.1 is also nodes row 1's",
        "nodes row 5: given_name node1 is also nodes row 1's",
      ]);
      assert.ok(out.includes('problems (3); nothing was imported:'));
      if (sqlitePath) assert.equal(fs.existsSync(sqlitePath), false, 'no target file made');
      // Nothing was written: the same target then takes the good database.
      const good = await runImport(dir, db.opts, loadDump(V293, dir));
      assert.equal(good.outcome.written, true);
    });

    test('an unknown schema version is refused by name', async () => {
      const db = await fresh();
      const newer = loadDump(V293, dir, (h) => h.prepare("INSERT INTO migrations VALUES ('203001011200-something-new')").run());
      await assert.rejects(runImport(dir, db.opts, newer), /unknown headscale schema version: migration "203001011200-something-new" in table migrations \(database_versions says v0\.29\.3\)/);
      const notHeadscale = path.join(dir, 'other.db');
      const { default: Database } = await import('better-sqlite3');
      const o = new Database(notHeadscale);
      o.exec('CREATE TABLE things (id integer)');
      o.close();
      await assert.rejects(runImport(dir, db.opts, notHeadscale), /no `migrations` table/);
    });

    test('a second import is refused without --replace; --replace overwrites; the transaction checks too', async () => {
      const db = await fresh();
      const src = loadDump(V293, dir);
      assert.equal((await runImport(dir, db.opts, src)).outcome.written, true);
      const again = await runImport(dir, db.opts, src);
      assert.equal(again.outcome.written, false);
      assert.match(again.outcome.problems[0]!, /is not empty \(2 users, 5 nodes, 5 pre-auth keys, 1 API keys\); --replace overwrites/);

      const store = await openTarget(db.opts);
      try {
        await store.createUser({ name: 'extra', displayName: '', email: '', providerId: '', provider: '', profilePicUrl: '' });
        // Straight to the store, past the plan's check: the transaction refuses by itself.
        await assert.rejects(
          store.importTailnet({ users: [], nodes: [], preAuthKeys: [], apiKeys: [], settings: [] }, { replace: false }),
          (e: unknown) => e instanceof StoreError && e.code === 'in_use',
        );
      } finally {
        await store.close();
      }
      const replaced = await runImport(dir, db.opts, loadDump('zero_time_expiry_migration_test.sql', dir), { replace: true });
      assert.equal(replaced.outcome.written, true);
      const after = await openTarget(db.opts);
      const snap = await after.loadAll();
      const keys = await after.listApiKeys();
      await after.close();
      assert.deepEqual(snap.users.map((u) => u.name), ['user1']);
      assert.equal(snap.nodes.length, 5);
      assert.equal(keys.length, 0);
    });

    test('--dry-run prints the plan and changes nothing', async () => {
      const db = await fresh();
      const src = loadDump(V293, dir);
      const noise = path.join(dir, 'hs-noise.key');
      fs.writeFileSync(noise, `${formatPrivate(generatePrivateKey())}\n`);
      const first = await runImport(dir, db.opts, src, { dryRun: true, noiseKey: noise });
      assert.equal(first.outcome.written, false);
      assert.deepEqual(first.outcome.problems, []);
      assert.ok(first.out.includes('dry run: no problems; nothing was changed'));
      assert.ok(first.out.some((l) => /^ {2}nodes +5$/.test(l)));
      const config = testConfig(dir, db.opts);
      assert.equal(fs.existsSync(config.noise.private_key_path), false, 'no noise key written');
      if (db.opts.type === 'sqlite') assert.equal(fs.existsSync(db.opts.path), false);

      // On a target with a tailnet: same file, byte for byte, and the refusal is reported.
      await runImport(dir, db.opts, src);
      const before = db.opts.type === 'sqlite' ? fileHash(db.opts.path) : null;
      const srcBefore = fileHash(src);
      const dry = await runImport(dir, db.opts, loadDump('zero_time_expiry_migration_test.sql', dir), { dryRun: true, replace: true });
      assert.deepEqual(dry.outcome.problems, []);
      if (db.opts.type === 'sqlite') assert.equal(fileHash(db.opts.path), before);
      assert.equal(fileHash(src), srcBefore, 'the headscale file is not changed either');
      const store = await openTarget(db.opts);
      const snap = await store.loadAll();
      await store.close();
      assert.deepEqual(snap.users.map((u) => u.name), ['alice', 'bob']);
    });

    test('--noise-key copies headscale\'s key (0600); a malformed one is a problem', async () => {
      const db = await fresh();
      const noise = path.join(dir, 'hs-noise-2.key');
      const key = formatPrivate(generatePrivateKey());
      fs.writeFileSync(noise, `${key}\n`, { mode: 0o644 });
      const sub = tempDir();
      const config = testConfig(sub, db.opts);
      const out: string[] = [];
      const res = await importHeadscale({
        db: loadDump(V293, dir), noiseKey: noise, dryRun: false, replace: false, config, target: db.opts,
        out: (l) => out.push(l), progress: () => {},
      });
      assert.equal(res.written, true);
      assert.equal(fs.readFileSync(config.noise.private_key_path, 'utf8').trim(), key);
      assert.equal(fs.statSync(config.noise.private_key_path).mode & 0o777, 0o600);

      fs.writeFileSync(noise, 'nodekey:' + 'ab'.repeat(32));
      const bad = await runImport(sub, db.opts, loadDump(V293, dir), { noiseKey: noise, replace: true });
      assert.equal(bad.outcome.written, false);
      assert.match(bad.outcome.problems[0]!, /^--noise-key: .* does not hold headscale's "privkey:<64 hex>" key/);
      fs.rmSync(sub, { recursive: true, force: true });
    });

    if (backend.name === 'postgres') {
      test('a headscale PostgreSQL database imports like its SQLite twin', async () => {
        const source = await fresh();
        const url = 'url' in source.opts ? source.opts.url : '';
        await copyToPostgres(loadDump(V293, dir), url);
        const viaPg = await fresh();
        const viaSqlite = await fresh();
        const a = await runImport(dir, viaPg.opts, url);
        const b = await runImport(dir, viaSqlite.opts, loadDump(V293, dir));
        assert.deepEqual(a.outcome.problems, []);
        assert.equal(a.outcome.written, true);
        const strip = (t: typeof a.outcome.plan) => ({ ...t!.tailnet, settings: [] });
        assert.deepEqual(strip(a.outcome.plan), strip(b.outcome.plan));
        assert.match(a.out[0]!, /^headscale database: PostgreSQL database sbtest_/);
      });
    }
  });
}
