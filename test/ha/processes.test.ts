// Three `switchboard serve` processes on the test PostgreSQL, our protocol clients spread
// across them. One instance is killed with SIGKILL while nodes register and move: nothing a
// client was told succeeded is lost, no address is handed out twice, its nodes go offline
// at the survivors and come back when they reconnect there, and the leader's jobs move.
// A web login made at an instance that is then killed completes at a survivor.

import { afterAll, beforeAll, describe, test } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { TailscaleClient } from '../../src/client/client.js';
import { PG_URL_ENV, testBackends, type FreshDatabase } from '../helpers/databases.js';
import { Instance, waitUntil } from './harness.js';

const backend = testBackends().find((b) => b.name === 'postgres');
if (!backend && process.env.CI === 'true') throw new Error(`${PG_URL_ENV} is not set: the HA tests need the test PostgreSQL`);

describe.skipIf(!backend)('three switchboard processes on one PostgreSQL', () => {
  let db: FreshDatabase;
  let root: string;
  let instances: Instance[] = [];
  let key = '';
  const clients = new Set<TailscaleClient>();

  beforeAll(async () => {
    db = await backend!.storeOpts();
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-ha-'));
    const url = (db.opts as { url: string }).url;
    instances = ['a', 'b', 'c'].map((name) => new Instance({ name, root, pgUrl: url }));
    // The first start makes the shared Noise key (and user "default"); the others read both.
    await instances[0]!.start();
    await Promise.all(instances.slice(1).map((i) => i.start()));
    key = (await instances[0]!.cliJson<{ key: string }>(['preauthkeys', 'create', '--user', 'default', '--reusable'])).key;
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await Promise.all(instances.map((i) => i.stop().catch(() => {})));
    await db?.cleanup().catch(() => {});
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  async function query<T extends pg.QueryResultRow>(sql: string): Promise<T[]> {
    const c = new pg.Client({ connectionString: (db.opts as { url: string }).url });
    await c.connect();
    try {
      return (await c.query<T>(sql)).rows;
    } finally {
      await c.end();
    }
  }

  function client(at: Instance, hostname: string, from?: TailscaleClient): TailscaleClient {
    const c = new TailscaleClient({
      serverUrl: at.url,
      hostname,
      // Moving to another instance: the same machine, the same node.
      machinePrivateKey: from?.machinePrivateKey,
      nodePrivateKey: from?.nodePrivateKey,
      discoPrivateKey: from?.discoPrivateKey,
    });
    clients.add(c);
    return c;
  }

  async function join(at: Instance, hostname: string): Promise<TailscaleClient> {
    const c = client(at, hostname);
    assert.equal((await c.register({ authKey: key })).MachineAuthorized, true);
    await c.startStream();
    return c;
  }

  /** Every client sees every other one online, and exactly the nodes the database holds. */
  async function converged(live: TailscaleClient[], ms: number): Promise<void> {
    const total = Number((await query<{ n: string }>('SELECT count(*) AS n FROM nodes'))[0]!.n);
    for (const c of live) {
      await c.waitFor(
        (nm) => nm.peers.size === total - 1 && live.every((o) => o === c || nm.peerByName(o.opts.hostname)?.Online === true),
        ms,
        `${c.opts.hostname} (at ${c.opts.serverUrl}) sees ${total - 1} peers with all ${live.length - 1} live ones online`,
      );
    }
  }

  test('clients on A, B and C see each other; an endpoint change on B reaches A and C; a closed client goes offline everywhere', async () => {
    const [a, b, c] = instances as [Instance, Instance, Instance];
    const onA = await join(a, 'node-a');
    const onB = await join(b, 'node-b');
    const onC = await join(c, 'node-c');
    await converged([onA, onB, onC], 5000);

    onB.endpoints = ['198.51.100.2:41641'];
    await onB.liteUpdate();
    await onA.waitFor((nm) => nm.peerByName('node-b')?.Endpoints?.[0] === '198.51.100.2:41641', 2000, "node-b's endpoints at node-a");
    await onC.waitFor((nm) => nm.peerByName('node-b')?.Endpoints?.[0] === '198.51.100.2:41641', 2000, "node-b's endpoints at node-c");

    // One leader among the three, and every instance applied changes made by the others.
    const leaders = await Promise.all(instances.map((i) => i.metric('switchboard_ha_leader')));
    assert.deepEqual(leaders.sort(), [0, 0, 1]);
    for (const i of instances) assert.ok((await i.metric('switchboard_ha_changes_applied_total'))! > 0, `${i.opts.name} applied others' changes`);

    onC.close();
    clients.delete(onC);
    await onA.waitFor((nm) => nm.peerByName('node-c')?.Online === false, 3000, 'node-c offline at node-a');
    await onB.waitFor((nm) => nm.peerByName('node-c')?.Online === false, 3000, 'node-c offline at node-b');
  });

  test('a single-use key raced on two instances is used once', async () => {
    const [a, b] = instances as [Instance, Instance];
    const single = (await a.cliJson<{ key: string }>(['preauthkeys', 'create', '--user', 'default'])).key;
    await waitUntil(async () => (await b.cliJson<Array<{ key: string }>>(['preauthkeys', 'list', '--user', 'default'])).length >= 2, 3000, 'the key known at B');
    const results = await Promise.all(
      [a, b, a, b].map((at, i) =>
        client(at, `raced-${i}`)
          .register({ authKey: single })
          .then((r) => r.MachineAuthorized === true, () => false),
      ),
    );
    assert.equal(results.filter(Boolean).length, 1, `one registration won: ${JSON.stringify(results)}`);
    const rows = await query<{ n: string }>("SELECT count(*) AS n FROM nodes WHERE hostname LIKE 'raced-%'");
    assert.equal(Number(rows[0]!.n), 1);
  });

  test('SIGKILL of the leader mid-churn: nothing lost, no duplicate address, its nodes go offline, then reconverge on the survivors', async () => {
    const leaderLine = (i: Instance) => i.output.lastIndexOf('is now the leader') > i.output.lastIndexOf('is no longer the leader');
    await waitUntil(() => instances.filter(leaderLine).length === 1, 5000, 'one leader');
    const victim = instances.find(leaderLine)!;
    const survivors = instances.filter((i) => i !== victim);

    // A steady population on every instance.
    const steady: TailscaleClient[] = [];
    for (const at of instances) for (let i = 0; i < 3; i++) steady.push(await join(at, `steady-${at.opts.name}-${i}`));
    await converged(steady, 10_000);

    // Churn: registrations and endpoint changes on every instance while the victim dies.
    const registered = new Set<string>();
    let stop = false;
    let n = 0;
    const churn = async (at: Instance) => {
      while (!stop) {
        const c = client(at, `churn-${at.opts.name}-${n++}`);
        try {
          if ((await c.register({ authKey: key })).MachineAuthorized) registered.add(c.nodeKey);
        } catch {
          // The victim's registrations in flight fail; the client was not told it joined.
        }
        c.close();
        clients.delete(c);
        const mover = steady[n % steady.length]!;
        mover.endpoints = [`203.0.113.${n % 250}:41641`];
        await mover.liteUpdate().catch(() => {});
      }
    };
    const loops = instances.map((i) => churn(i));
    await new Promise((r) => setTimeout(r, 700));
    await victim.kill();
    await new Promise((r) => setTimeout(r, 700));
    stop = true;
    await Promise.all(loops);

    // Everything a client was told succeeded is there, once, with its own addresses.
    const nodes = await query<{ node_key: string; ipv4: string; ipv6: string }>('SELECT node_key, ipv4, ipv6 FROM nodes');
    const keys = new Set(nodes.map((r) => r.node_key));
    for (const k of registered) assert.ok(keys.has(k), `registered node ${k} is in the database`);
    assert.equal(new Set(nodes.map((r) => r.ipv4)).size, nodes.length, 'no IPv4 address twice');
    assert.equal(new Set(nodes.map((r) => r.ipv6)).size, nodes.length, 'no IPv6 address twice');
    assert.ok(registered.size > 3, `churn registered nodes (${registered.size})`);

    // The victim's nodes are offline at the survivors' clients once its heartbeat is stale.
    const orphans = steady.filter((c) => c.opts.serverUrl === victim.url);
    const watchers = steady.filter((c) => c.opts.serverUrl !== victim.url);
    for (const w of watchers) {
      await w.waitFor((nm) => orphans.every((o) => nm.peerByName(o.opts.hostname)?.Online === false), 6000, `the killed instance's nodes offline at ${w.opts.hostname}`);
    }
    // The background jobs moved: a survivor is the leader now.
    await waitUntil(() => survivors.some(leaderLine), 5000, 'a survivor took the leader lock');

    // The orphans reconnect to a survivor (the same machine and node keys) and are back.
    const moved: TailscaleClient[] = [];
    for (const [i, o] of orphans.entries()) {
      o.close();
      clients.delete(o);
      const c = client(survivors[i % survivors.length]!, o.opts.hostname, o);
      assert.equal((await c.register()).MachineAuthorized, true, `${o.opts.hostname} is still known at the survivor`);
      await c.startStream();
      moved.push(c);
    }
    await converged([...watchers, ...moved], 10_000);
  });

  test('a web login made at an instance then killed with SIGKILL completes at a survivor (followed up and approved there with the CLI)', async () => {
    const alive = instances.filter((i) => i.alive);
    assert.ok(alive.length >= 2, 'two instances left');
    const [victim, survivor] = alive as [Instance, Instance];
    const first = client(victim, 'weblogin-moved');
    const r = await first.register();
    const id = /\/register\/([^/]+)$/.exec(r.AuthURL)?.[1];
    assert.ok(id, `an AuthURL: ${JSON.stringify(r)}`);
    await victim.kill();
    first.close();
    clients.delete(first);
    // The same machine follows its link up at the survivor, which finds the entry in the database.
    const moved = client(survivor, 'weblogin-moved', first);
    const answer = moved.register({ followup: r.AuthURL });
    const listed = await survivor.cliJson<Array<{ authId: string }>>(['auth', 'list']);
    assert.ok(listed.some((e) => e.authId === id), `the survivor lists ${id}: ${JSON.stringify(listed)}`);
    const done = await survivor.cli(['auth', 'register', '--user', 'default', '--auth-id', id]);
    assert.equal(done.code, 0, done.stderr);
    const res = await answer;
    assert.equal(res.MachineAuthorized, true, JSON.stringify(res));
  });
});
