// Group commit of node writes and the tailnet's lazily written node reports, on a real
// SQLite file and (when configured) a real PostgreSQL: concurrent writes are all persisted,
// one bad write fails only its caller, and what was accepted survives a shutdown and restart.

import { afterAll as after, beforeAll as before, describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { createStore, StoreError, type NewNode } from '../../src/db/index.js';
import type { Store } from '../../src/db/store.js';
import { Tailnet } from '../../src/state/tailnet.js';
import { MAX_GROUP } from '../../src/db/prisma-store.js';
import pg from 'pg';
import { testBackends, type FreshDatabase } from '../helpers/databases.js';

let seq = 0;
function newNode(userId: number, over: Partial<NewNode> = {}): NewNode {
  const n = ++seq;
  return {
    machineKey: `mkey:gc${n}`,
    nodeKey: `nodekey:gc${n}`,
    discoKey: `discokey:gc${n}`,
    endpoints: [],
    hostinfo: { Hostname: `gc${n}` },
    ipv4: `100.64.${Math.floor(n / 250)}.${(n % 250) + 1}`,
    ipv6: null,
    hostname: `gc${n}`,
    givenName: `gc${n}`,
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

const tailnetOpts = { prefixV4: '100.64.0.0/10', prefixV6: null, allocation: 'sequential' as const };

for (const b of testBackends()) {
  describe(`group commit on ${b.name}`, () => {
    let db: FreshDatabase;
    let store: Store;
    let userId: number;
    before(async () => {
      db = await b.storeOpts();
      store = await createStore(db.opts);
      await store.migrate();
      userId = (await store.createUser({ name: 'gc', displayName: '', email: '', providerId: '', provider: '', profilePicUrl: '' })).id;
    });
    after(async () => {
      await store?.close();
      await db?.cleanup();
    });

    /** The rows as another process reading the same database sees them. */
    async function reread(): Promise<Awaited<ReturnType<Store['loadAll']>>> {
      const other = await createStore(db.opts);
      try {
        return await other.loadAll();
      } finally {
        await other.close();
      }
    }

    test('60 concurrent node creations all get their own row, and all are persisted', async () => {
      const wanted = Array.from({ length: 60 }, () => newNode(userId));
      const created = await Promise.all(wanted.map((n) => store.createNode(n)));
      assert.equal(new Set(created.map((n) => n.id)).size, 60, 'distinct ids');
      created.forEach((n, i) => assert.equal(n.machineKey, wanted[i]!.machineKey, `caller ${i} got its own row`));
      const stored = new Set((await reread()).nodes.map((n) => n.machineKey));
      for (const n of wanted) assert.ok(stored.has(n.machineKey), `${n.machineKey} persisted`);
      if (b.name === 'postgres') {
        // Rows inserted by one transaction carry its id (xmin): the 60 went in together.
        const sql = new pg.Client({ connectionString: (db.opts as { url: string }).url });
        await sql.connect();
        try {
          const r = await sql.query<{ n: string }>('SELECT count(DISTINCT xmin::text) AS n FROM nodes WHERE id = ANY($1::int[])', [created.map((n) => n.id)]);
          assert.equal(Number(r.rows[0]!.n), Math.ceil(60 / MAX_GROUP), `one transaction per group of ${MAX_GROUP}`);
        } finally {
          await sql.end();
        }
      }
    });

    test('one conflicting write among concurrent ones fails only its caller and writes nothing of it', async () => {
      const taken = await store.createNode(newNode(userId));
      const wanted = Array.from({ length: 20 }, (_, i) => (i === 7 ? newNode(userId, { ipv4: taken.ipv4 }) : newNode(userId)));
      const results = await Promise.allSettled(wanted.map((n) => store.createNode(n)));
      results.forEach((r, i) => {
        if (i === 7) {
          assert.equal(r.status, 'rejected');
          const e = (r as PromiseRejectedResult).reason;
          assert.ok(e instanceof StoreError && e.code === 'conflict' && e.field === 'nodes.ipv4', `caller 7: ${String(e)}`);
        } else assert.equal(r.status, 'fulfilled', `caller ${i}: ${r.status === 'rejected' ? String(r.reason) : ''}`);
      });
      const stored = (await reread()).nodes;
      for (const [i, n] of wanted.entries()) {
        const rows = stored.filter((s) => s.machineKey === n.machineKey);
        assert.equal(rows.length, i === 7 ? 0 : 1, `${n.machineKey}: ${rows.length} rows`);
      }
    });

    test('an update of a missing node among concurrent updates fails only its caller', async () => {
      const a = await store.createNode(newNode(userId));
      const c = await store.createNode(newNode(userId));
      const [ra, rmissing, rc] = await Promise.allSettled([
        store.updateNode(a.id, { endpoints: ['192.0.2.1:1'] }),
        store.updateNode(987654, { endpoints: ['192.0.2.2:1'] }),
        store.updateNode(c.id, { endpoints: ['192.0.2.3:1'] }),
      ]);
      assert.equal(ra.status, 'fulfilled');
      assert.equal(rc.status, 'fulfilled');
      assert.equal(rmissing.status, 'rejected');
      assert.ok((rmissing as PromiseRejectedResult).reason instanceof StoreError && (rmissing as PromiseRejectedResult).reason.code === 'not_found');
      const stored = new Map((await reread()).nodes.map((n) => [n.id, n]));
      assert.deepEqual(stored.get(a.id)!.endpoints, ['192.0.2.1:1']);
      assert.deepEqual(stored.get(c.id)!.endpoints, ['192.0.2.3:1']);
    });

    test('reports applied lazily are in memory at once, reach the database, and a shutdown writes what is pending', async () => {
      let tailnet = await Tailnet.load(store, tailnetOpts);
      const nodes = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          tailnet.addNode({ ...newNode(userId), givenName: `lazy${i}` } as Parameters<Tailnet['addNode']>[0]),
        ),
      );
      // Reported while nothing else happens: written within the bounded delay, without a shutdown.
      const first = nodes[0]!;
      await tailnet.updateNodeSoon(first.id, { endpoints: ['198.51.100.1:41641'] }, { endpoints: true });
      assert.deepEqual(tailnet.node(first.id)!.endpoints, ['198.51.100.1:41641'], 'memory has it at once');
      for (let i = 0; ; i++) {
        const row = (await reread()).nodes.find((n) => n.id === first.id)!;
        if (row.endpoints.length === 1) break;
        assert.ok(i < 100, 'the lazy write reached the database');
        await new Promise((r) => setTimeout(r, 50));
      }
      // A report followed by a write-through: the write-through carries the report along.
      await tailnet.updateNodeSoon(nodes[1]!.id, { endpoints: ['198.51.100.2:41641'] }, { endpoints: true });
      await tailnet.renameNode(nodes[1]!.id, 'renamed-lazy');
      assert.deepEqual(tailnet.node(nodes[1]!.id)!.endpoints, ['198.51.100.2:41641'], 'the write-through kept the report in memory');
      // Many reports, then at once a shutdown: every one is written before the store closes.
      await Promise.all(nodes.map((n, i) => tailnet.updateNodeSoon(n.id, { endpoints: [`203.0.113.${i + 1}:41641`], discoKey: `discokey:lazy${i}` }, { endpoints: true, discoKey: true })));
      await tailnet.flushLastSeen();
      await store.close();
      store = await createStore(db.opts);
      tailnet = await Tailnet.load(store, tailnetOpts);
      for (const [i, n] of nodes.entries()) {
        const r = tailnet.node(n.id)!;
        assert.deepEqual(r.endpoints, [`203.0.113.${i + 1}:41641`], `node ${n.id}: endpoints after restart`);
        assert.equal(r.discoKey, `discokey:lazy${i}`);
      }
      assert.equal(tailnet.node(nodes[1]!.id)!.givenName, 'renamed-lazy');
    });
  });
}
