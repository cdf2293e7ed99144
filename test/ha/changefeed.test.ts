// The change feed on its own, against the test PostgreSQL: changes the triggers announce
// arrive once each; a change whose notification never came is found by the poll; and an
// instance whose unread changes were pruned re-reads everything instead of missing them.

import { afterAll, beforeAll, describe, test } from 'vitest';
import assert from 'node:assert/strict';
import pg from 'pg';
import { ChangeFeed, type Change } from '../../src/ha/changefeed.js';
import { PG_URL_ENV, testBackends, type FreshDatabase } from '../helpers/databases.js';
import { createStore } from '../../src/db/index.js';
import { waitUntil } from './harness.js';

const backend = testBackends().find((b) => b.name === 'postgres');
if (!backend && process.env.CI === 'true') throw new Error(`${PG_URL_ENV} is not set: the HA tests need the test PostgreSQL`);

describe.skipIf(!backend)('change feed', () => {
  let db: FreshDatabase;
  let sql: pg.Client;
  const feeds: ChangeFeed[] = [];

  beforeAll(async () => {
    db = await backend!.storeOpts();
    const store = await createStore(db.opts);
    await store.migrate();
    await store.close();
    sql = new pg.Client({ connectionString: (db.opts as { url: string }).url });
    await sql.connect();
  });
  afterAll(async () => {
    for (const f of feeds) await f.close();
    await sql?.end();
    await db?.cleanup();
  });

  function feed(): { feed: ChangeFeed; applied: Change[]; resyncs: () => number } {
    const applied: Change[] = [];
    let resyncs = 0;
    const f = new ChangeFeed({
      connection: { connectionString: (db.opts as { url: string }).url },
      apply: async (c) => void applied.push(...c),
      resync: async () => void resyncs++,
      log: () => {},
      pollMs: 100,
      holeTimeoutMs: 300,
    });
    feeds.push(f);
    return { feed: f, applied, resyncs: () => resyncs };
  }

  test('a committed write is announced with its table and row id, and applied once', async () => {
    const { feed: f, applied } = feed();
    await f.listen();
    f.begin();
    const { rows } = await sql.query<{ id: number }>("INSERT INTO users (name, updated_at) VALUES ('feed-1', now()) RETURNING id");
    await sql.query("UPDATE users SET display_name = 'x' WHERE name = 'feed-1'");
    await waitUntil(() => applied.length >= 2, 3000, 'two changes applied');
    await new Promise((r) => setTimeout(r, 300)); // a poll or two: nothing applied twice
    assert.deepEqual(applied.map((c) => [c.kind, c.ref, c.instance]), [['users', String(rows[0]!.id), ''], ['users', String(rows[0]!.id), '']]);
    assert.ok(applied[1]!.seq > applied[0]!.seq);
    assert.equal(f.applied, applied[1]!.seq);
  });

  test('a change recorded without a notification is found by the poll', async () => {
    const { feed: f, applied } = feed();
    await f.listen();
    f.begin();
    await sql.query("INSERT INTO ha_changes (instance, kind, ref) VALUES ('elsewhere', 'nodes', '42')");
    await waitUntil(() => applied.some((c) => c.kind === 'nodes' && c.ref === '42'), 3000, 'the silent change');
    assert.equal(applied.find((c) => c.ref === '42')!.instance, 'elsewhere');
  });

  test('changes pruned before this instance read them make it re-read everything, then go on', async () => {
    const { feed: f, applied, resyncs } = feed();
    await f.listen();
    // While this instance is not reading: three changes, pruned, and one more.
    await sql.query("INSERT INTO ha_changes (kind, ref) VALUES ('nodes', '1'), ('nodes', '2'), ('nodes', '3')");
    await sql.query('DELETE FROM ha_changes');
    await sql.query("INSERT INTO ha_changes (kind, ref) VALUES ('nodes', '4')");
    f.begin();
    await waitUntil(() => applied.some((c) => c.ref === '4'), 3000, 'the change after the pruned ones');
    assert.equal(resyncs(), 1);
    assert.deepEqual(applied.map((c) => c.ref), ['4'], 'the pruned ones are not read (they are gone); the resync covers them');
  });
});
