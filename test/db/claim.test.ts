// claimPreAuthKey must pick exactly one winner across separate connections and separate
// processes sharing the database (several server instances on one PostgreSQL or SQLite file).

import { describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createStore } from '../../src/db/index.js';
import type { Store } from '../../src/db/store.js';
import { testBackends, type FreshDatabase } from '../helpers/databases.js';

const storeModule = new URL('../../src/db/index.js', import.meta.url).href;

// A child process: opens its own store, says "ready", waits for "go" on stdin, then claims
// every key (two concurrent callers per key) and prints the results as JSON.
const CHILD = `
import { createStore } from ${JSON.stringify(storeModule)};
const opts = JSON.parse(process.env.CLAIM_OPTS);
const ids = JSON.parse(process.env.CLAIM_IDS);
const store = await createStore(opts);
await store.ping();
process.stdout.write('ready\\n');
await new Promise((resolve) => process.stdin.once('data', resolve));
const results = await Promise.all(ids.map(async (id) => [id, await Promise.all([store.claimPreAuthKey(id), store.claimPreAuthKey(id)])]));
process.stdout.write(JSON.stringify(results) + '\\n');
await store.close();
process.stdin.destroy();
`;

interface Child {
  ready: Promise<void>;
  done: Promise<Array<[number, boolean[]]>>;
  go(): void;
}

function startChild(opts: FreshDatabase['opts'], ids: number[]): Child {
  const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD], {
    env: { ...process.env, CLAIM_OPTS: JSON.stringify(opts), CLAIM_IDS: JSON.stringify(ids) },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let onReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  child.stdout.on('data', (b) => {
    out += b;
    if (out.startsWith('ready\n')) onReady();
  });
  child.stderr.on('data', (b) => (err += b));
  const done = new Promise<Array<[number, boolean[]]>>((resolve, reject) => {
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`claim child exited ${code}: ${err}`));
      const lines = out.trim().split('\n');
      resolve(JSON.parse(lines[lines.length - 1]!));
    });
  });
  // A child that dies before "ready" must not leave the test waiting forever.
  return { ready: Promise.race([ready, done.then(() => {})]), done, go: () => child.stdin.write('go\n') };
}

async function makeKeys(store: Store, count: number): Promise<number[]> {
  const u = await store.createUser({ name: `claim-${Date.now()}-${Math.random()}`, displayName: '', email: '', providerId: '', provider: '', profilePicUrl: '' });
  const ids: number[] = [];
  for (let i = 0; i < count; i++) {
    const k = await store.createPreAuthKey({ prefix: `c${i}`, keyHash: `claim-${u.id}-${i}`, userId: u.id, reusable: false, ephemeral: false, used: false, tags: [], expiration: null });
    ids.push(k.id);
  }
  return ids;
}

for (const backend of testBackends()) {
  describe(`claimPreAuthKey races on ${backend.name}`, () => {
    test('10 concurrent callers on 10 separate store instances: exactly one wins, for each of 5 keys', async () => {
      const db = await backend.storeOpts();
      const stores: Store[] = [];
      try {
        for (let i = 0; i < 10; i++) stores.push(await createStore(db.opts));
        await stores[0]!.migrate();
        const ids = await makeKeys(stores[0]!, 5);
        for (const id of ids) {
          const results = await Promise.all(stores.map((s) => s.claimPreAuthKey(id)));
          assert.equal(results.filter(Boolean).length, 1, `key ${id}: ${JSON.stringify(results)}`);
        }
        const keys = (await stores[0]!.loadAll()).preAuthKeys;
        assert.ok(keys.every((k) => k.used));
      } finally {
        await Promise.all(stores.map((s) => s.close()));
        await db.cleanup();
      }
    });

    test('10 callers in 5 separate processes: exactly one wins, for each of 5 keys', async () => {
      const db = await backend.storeOpts();
      const store = await createStore(db.opts);
      try {
        await store.migrate();
        const ids = await makeKeys(store, 5);
        const children = Array.from({ length: 5 }, () => startChild(db.opts, ids));
        await Promise.all(children.map((c) => c.ready));
        for (const c of children) c.go();
        const all = await Promise.all(children.map((c) => c.done));
        for (const id of ids) {
          const results = all.flatMap((perChild) => perChild.find(([k]) => k === id)![1]);
          assert.equal(results.length, 10);
          assert.equal(results.filter(Boolean).length, 1, `key ${id}: ${JSON.stringify(results)}`);
        }
      } finally {
        await store.close();
        await db.cleanup();
      }
    });
  });
}
