// Two servers in this process on one PostgreSQL database serve one tailnet: what one
// instance changes reaches the other's clients as the same small deltas, a single-use key
// works once across both, and addresses never collide when both register at once.
// (test/ha/processes.test.ts does the same with separate processes and SIGKILL.)

import { afterAll, beforeAll, describe, test } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { TailscaleClient } from '../../src/client/client.js';
import type { MapResponse } from '../../src/tailcfg/types.js';
import { PG_URL_ENV, testBackends, type FreshDatabase } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { socketRequest } from '../helpers/socket.js';

const backend = testBackends().find((b) => b.name === 'postgres');
if (!backend && process.env.CI === 'true') throw new Error(`${PG_URL_ENV} is not set: the HA tests need the test PostgreSQL`);

describe.skipIf(!backend)('two instances on one PostgreSQL (in one process)', () => {
  let db: FreshDatabase;
  let a: TestServer;
  let b: TestServer;
  const clients: TailscaleClient[] = [];
  let derpDir: string;
  const region = (id: number, host: string) =>
    `regions:\n  ${id}:\n    regionid: ${id}\n    regioncode: r${id}\n    regionname: Region ${id}\n    nodes:\n      - name: ${id}a\n        regionid: ${id}\n        hostname: ${host}\n        ipv4: 127.0.0.1\n        stunport: 3478\n        derpport: 443\n`;
  // Each instance reads its own DERP file: only the leader's refresh reaches everyone.
  const fast = (name: string) => (c: TestServer['config']) => {
    c.database.ha.heartbeat_interval_ms = 200;
    c.database.ha.instance_timeout_ms = 1000;
    c.policy.mode = 'database';
    c.derp.paths = [path.join(derpDir, `${name}.yaml`)];
    c.derp.auto_update_enabled = true;
    c.derp.update_frequency_ms = 200;
  };

  beforeAll(async () => {
    db = await backend!.storeOpts();
    derpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-ha-derp-'));
    for (const name of ['a', 'b']) fs.writeFileSync(path.join(derpDir, `${name}.yaml`), region(900, 'derp.example.test'));
    a = await startTestServer(db.opts, fast('a'));
    b = await startTestServer(db.opts, fast('b'));
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await a?.stop().catch(() => {});
    await b?.stop().catch(() => {});
    await db?.cleanup();
    if (derpDir) fs.rmSync(derpDir, { recursive: true, force: true });
  });

  function client(srv: TestServer, hostname: string): TailscaleClient {
    const c = new TailscaleClient({ serverUrl: srv.url, hostname });
    clients.push(c);
    return c;
  }

  async function query<T extends pg.QueryResultRow>(sql: string, values: unknown[] = []): Promise<T[]> {
    const c = new pg.Client({ connectionString: (db.opts as { url: string }).url });
    await c.connect();
    try {
      return (await c.query<T>(sql, values)).rows;
    } finally {
      await c.end();
    }
  }

  async function singleUseKey(srv: TestServer, user = 'default'): Promise<string> {
    const t = srv.server.tailnet;
    const u = t.userByName(user) ?? (await t.createUser({ name: user }));
    return (await t.createPreAuthKey({ userId: u.id, reusable: false, ephemeral: false, expiration: null, tags: [] })).key;
  }

  test('a node on A sees a node on B join, change endpoints and go offline, as patches', async () => {
    const key = a.bootstrap!.key;
    const alpha = client(a, 'alpha');
    const beta = client(b, 'beta');
    assert.equal((await alpha.register({ authKey: key })).MachineAuthorized, true);
    await alpha.startStream();
    const frames: MapResponse[] = [];
    alpha.on('map', (m: MapResponse) => frames.push(m));

    // B learned the key (and user) from A's changes, and A learns of B's node.
    assert.equal((await beta.register({ authKey: key })).MachineAuthorized, true);
    await beta.startStream();
    await alpha.waitFor((nm) => nm.peerByName('beta')?.Online === true, 3000, 'beta (on B) online at alpha (on A)');
    await beta.waitFor((nm) => nm.peerByName('alpha')?.Online === true, 3000, 'alpha (on A) online at beta (on B)');
    // The capability version a client spoke to its own instance reaches peers on the other.
    await alpha.waitFor((nm) => nm.peerByName('beta')?.Cap === 113, 3000, "beta's capability version at alpha");
    await beta.waitFor((nm) => nm.peerByName('alpha')?.Cap === 113, 3000, "alpha's capability version at beta");

    frames.length = 0;
    beta.endpoints = ['192.0.2.7:41641'];
    await beta.liteUpdate();
    await alpha.waitFor((nm) => nm.peerByName('beta')?.Endpoints?.[0] === '192.0.2.7:41641', 3000, "beta's endpoints at alpha");
    const betaId = alpha.netmap.peerByName('beta')!.ID;
    assert.ok(
      frames.some((f) => f.PeersChangedPatch?.some((p) => p.NodeID === betaId && p.Endpoints?.[0] === '192.0.2.7:41641')),
      'the endpoint change arrived as a PeerChange, not a full node',
    );
    assert.ok(!frames.some((f) => f.PeersChanged?.some((p) => p.ID === betaId)), 'no full node for an endpoint change');

    beta.close();
    await alpha.waitFor((nm) => nm.peerByName('beta')?.Online === false, 3000, 'beta offline at alpha');
  });

  test('a single-use key raced on both instances is used once', async () => {
    const key = await singleUseKey(a);
    // B must know the key before the race, or it would refuse it as unknown rather than used.
    await waitUntil(() => b.server.tailnet.listPreAuthKeys().length === a.server.tailnet.listPreAuthKeys().length, 3000, 'key at B');
    const results = await Promise.all([
      client(a, 'race-a').register({ authKey: key }).then((r) => r.MachineAuthorized, () => false),
      client(b, 'race-b').register({ authKey: key }).then((r) => r.MachineAuthorized, () => false),
    ]);
    assert.deepEqual(results.filter(Boolean).length, 1, `exactly one registration wins: ${JSON.stringify(results)}`);
    const rows = await query<{ n: string }>("SELECT count(*) AS n FROM nodes WHERE hostname LIKE 'race-%'");
    assert.equal(Number(rows[0]!.n), 1);
  });

  test('registrations on both instances at once never share an address or name', async () => {
    const key = (await a.server.tailnet.createPreAuthKey({ userId: a.server.tailnet.userByName('default')!.id, reusable: true, ephemeral: false, expiration: null, tags: [] })).key;
    await waitUntil(() => b.server.tailnet.listPreAuthKeys().some((k) => k.reusable && !k.used), 3000, 'reusable key at B');
    const joins: Promise<unknown>[] = [];
    for (let i = 0; i < 8; i++) {
      joins.push(client(a, 'same').register({ authKey: key }));
      joins.push(client(b, 'same').register({ authKey: key }));
    }
    const results = await Promise.allSettled(joins);
    const failed = results.filter((r) => r.status === 'rejected');
    assert.equal(failed.length, 0, `every registration succeeded: ${failed.map((f) => String((f as PromiseRejectedResult).reason)).join('; ')}`);
    const dup = await query('SELECT ipv4 FROM nodes GROUP BY ipv4 HAVING count(*) > 1');
    assert.deepEqual(dup, []);
    const names = await query<{ given_name: string }>("SELECT given_name FROM nodes WHERE hostname = 'same'");
    assert.equal(new Set(names.map((n) => n.given_name)).size, 16);
    // Both instances converge on the same node set.
    await waitUntil(() => a.server.tailnet.nodeCount() === b.server.tailnet.nodeCount(), 3000, 'same node count on A and B');
    const ips = (s: TestServer) => [...s.server.tailnet.allNodes()].map((n) => `${n.id}=${n.ipv4}/${n.givenName}`).sort().join(',');
    assert.equal(ips(a), ips(b));
  });

  test('subnet-route failover follows online state across instances: the primary on B goes offline, A moves the route', async () => {
    const route = '10.44.0.0/16';
    const key = a.bootstrap!.key;
    const routerB = client(b, 'router-b');
    const routerA = client(a, 'router-a');
    const watcher = client(a, 'route-watcher');
    for (const r of [routerB, routerA]) {
      r.hostinfo = { ...r.hostinfo, RoutableIPs: [route] };
      assert.equal((await r.register({ authKey: key })).MachineAuthorized, true);
      await r.startStream();
      await waitUntil(() => a.server.tailnet.nodeByNodeKey(r.nodeKey) !== undefined, 3000, `${r.opts.hostname} known at A`);
      await a.server.tailnet.setApprovedRoutes(a.server.tailnet.nodeByNodeKey(r.nodeKey)!.id, [route]);
    }
    assert.equal((await watcher.register({ authKey: key })).MachineAuthorized, true);
    await watcher.startStream();
    const primary = (name: string) => (nm: import('../../src/client/netmap.js').NetMap) => (nm.peerByName(name)?.PrimaryRoutes ?? []).includes(route);
    await watcher.waitFor(primary('router-b'), 3000, 'router-b (first up, on B) primary at the watcher on A');
    routerB.close();
    await watcher.waitFor(primary('router-a'), 3000, 'the route moved to router-a when router-b went offline');
    assert.ok(!primary('router-b')(watcher.netmap));
  });

  test('an API key made through A works on B, and stops working there once expired through A', async () => {
    const made = await socketRequest(a.config.unix_socket, 'POST', '/api/v1/apikey', {});
    assert.equal(made.status, 200, made.body);
    const key = (JSON.parse(made.body) as { apiKey: string }).apiKey;
    const atB = async () => (await fetch(`${b.url}/api/v1/user`, { headers: { authorization: `Bearer ${key}` } })).status;
    // B learns of the key through the change feed (or its own re-read, at most every 5 s).
    await waitUntil(async () => (await atB()) === 200, 5000, 'B accepts the key made through A');
    const prefix = /^hskey-api-([A-Za-z0-9]{12})-/.exec(key)![1]!;
    const expired = await socketRequest(a.config.unix_socket, 'POST', '/api/v1/apikey/expire', { prefix });
    assert.equal(expired.status, 200, expired.body);
    await waitUntil(async () => (await atB()) === 401, 3000, 'B refuses the expired key');
  });

  test('a policy stored through B is in force on A', async () => {
    const policy = JSON.stringify({ acls: [{ action: 'accept', src: ['default@'], dst: ['default@:22'] }] });
    await b.server.policy.set(policy);
    await waitUntil(async () => (await a.server.policy.get()).policy === policy, 3000, 'policy at A');
  });

  test("changes made while B's change feed was cut off reach B when it reconnects", async () => {
    const cut = await query<{ ok: boolean }>(
      "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = 'switchboard changefeed' AND datname = current_database()",
    );
    assert.ok(cut.length >= 2, 'both instances have a change feed connection');
    // Both feeds are down for a moment; what A writes now has no listener anywhere.
    const u = await a.server.tailnet.createUser({ name: 'while-cut-off' });
    await waitUntil(() => b.server.tailnet.user(u.id)?.name === 'while-cut-off', 5000, 'the user at B after the reconnect');
  });

  test('a change committed after a later one (a gap in the sequence) is applied when it commits; a gap that never fills is passed over', async () => {
    const url = (db.opts as { url: string }).url;
    const slow = new pg.Client({ connectionString: url });
    await slow.connect();
    try {
      const before = b.server.cluster!.feed.applied;
      // A sequence number taken and never used: a rolled-back write.
      await slow.query("SELECT nextval(pg_get_serial_sequence('ha_changes', 'seq'))");
      // A transaction that holds the next number while a later change commits first.
      await slow.query('BEGIN');
      await slow.query("UPDATE users SET display_name = 'slow' WHERE name = 'default'");
      const later = await a.server.tailnet.createUser({ name: 'committed-first' });
      await waitUntil(() => b.server.tailnet.user(later.id) !== undefined, 3000, 'the later change at B');
      assert.notEqual(b.server.tailnet.userByName('default')!.displayName, 'slow', 'the uncommitted change is not visible');
      await slow.query('COMMIT');
      await waitUntil(() => b.server.tailnet.userByName('default')!.displayName === 'slow', 3000, 'the earlier change at B once committed');
      // The burnt number is given up on after the timeout, and the watermark moves past it.
      await waitUntil(() => b.server.cluster!.feed.applied > before + 2, 8000, 'the watermark past the gap');
    } finally {
      await slow.end();
    }
  });

  test("the leader's DERP map refresh reaches the other instance; the other's own file is not read", async () => {
    await waitUntil(() => a.server.cluster!.isLeader !== b.server.cluster!.isLeader, 3000, 'exactly one leader');
    const [leader, follower] = a.server.cluster!.isLeader ? ['a', 'b'] : ['b', 'a'];
    const followerSrv = follower === 'a' ? a : b;
    fs.writeFileSync(path.join(derpDir, `${follower}.yaml`), region(950, 'ignored.example.test'));
    fs.writeFileSync(path.join(derpDir, `${leader}.yaml`), region(900, 'derp.example.test') + region(901, 'second.example.test').replace('regions:\n', ''));
    const c = client(followerSrv, 'derp-watcher');
    await c.register({ authKey: a.bootstrap!.key });
    await c.startStream();
    await c.waitFor((nm) => Object.keys(nm.derpMap?.Regions ?? {}).sort().join() === '900,901', 5000, "the leader's map at a client of the follower");
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(c.netmap.derpMap!.Regions['950'], undefined, "the follower did not refresh from its own file");
  });

  test("a leader whose lock connection is cut steps down, and the lock is taken again by one instance", async () => {
    await waitUntil(() => a.server.cluster!.isLeader !== b.server.cluster!.isLeader, 3000, 'exactly one leader');
    const leader = a.server.cluster!.isLeader ? a : b;
    let steppedDown = false;
    const off = leader.server.cluster!.onLeaderChange((l) => (steppedDown ||= !l));
    const cut = await query<{ ok: boolean }>(
      "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = 'switchboard leader' AND datname = current_database()",
    );
    assert.ok(cut.length >= 1);
    await waitUntil(() => steppedDown, 3000, 'the leader steps down');
    off();
    await waitUntil(() => a.server.cluster!.isLeader !== b.server.cluster!.isLeader, 3000, 'exactly one leader again');
  });

  test('one of the two is the leader; when it stops, the other takes over', async () => {
    await waitUntil(() => a.server.cluster!.isLeader !== b.server.cluster!.isLeader, 3000, 'exactly one leader');
    const [leader, follower] = a.server.cluster!.isLeader ? [a, b] : [b, a];
    await leader.stop();
    await waitUntil(() => follower.server.cluster!.isLeader, 3000, 'the follower becomes leader');
  });
});

async function waitUntil(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
