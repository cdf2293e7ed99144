// Web logins and OIDC sign-ins across two servers in this process on one PostgreSQL
// database: a client waits at A while the admin decides at B (through B's API socket), the
// cap on waiting registrations counts both instances, a decision raced on both is made
// once, a restart loses nothing, and an OIDC login begun at A may come back to B.

import { afterAll, beforeAll, describe, test } from 'vitest';
import assert from 'node:assert/strict';
import pg from 'pg';
import { TailscaleClient } from '../../src/client/client.js';
import type { RegisterResponse } from '../../src/tailcfg/types.js';
import { PG_URL_ENV, testBackends, type FreshDatabase } from '../helpers/databases.js';
import { oidcConfig, reachCallback, startProvider, type Account } from '../helpers/oidc.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { socketRequest } from '../helpers/socket.js';
import { waitUntil } from './harness.js';

const backend = testBackends().find((b) => b.name === 'postgres');
if (!backend && process.env.CI === 'true') throw new Error(`${PG_URL_ENV} is not set: the HA tests need the test PostgreSQL`);

const CAP = 5;
const ACCOUNTS: Record<string, Account> = {
  alice: { email: 'alice@corp.example', email_verified: true, preferred_username: 'alice', name: 'Alice', groups: ['eng'] },
};

function authId(r: RegisterResponse): string {
  const m = /\/register\/([^/]+)$/.exec(r.AuthURL);
  assert.ok(m, `an AuthURL: ${JSON.stringify(r)}`);
  return m[1]!;
}

describe.skipIf(!backend)('web logins across two instances on one PostgreSQL', () => {
  let db: FreshDatabase;
  let idp: Awaited<ReturnType<typeof startProvider>>;
  let a: TestServer;
  let b: TestServer;
  const clients: TailscaleClient[] = [];
  const configure = (c: TestServer['config']) => {
    c.database.ha.heartbeat_interval_ms = 200;
    c.database.ha.instance_timeout_ms = 1000;
    c.tuning.register_cache_max_entries = CAP;
    oidcConfig(idp.issuer)(c);
  };

  beforeAll(async () => {
    db = await backend!.storeOpts();
    idp = await startProvider('http://127.0.0.1:8080/oidc/callback', ACCOUNTS);
    a = await startTestServer(db.opts, configure);
    b = await startTestServer(db.opts, configure);
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await a?.stop().catch(() => {});
    await b?.stop().catch(() => {});
    await idp?.close();
    await db?.cleanup();
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

  const api = (srv: TestServer, path: string, body?: unknown) => socketRequest(srv.config.unix_socket, body === undefined ? 'GET' : 'POST', path, body);
  const pendingIds = async (srv: TestServer) =>
    (JSON.parse((await api(srv, '/api/v1/auth/pending')).body) as { registrations: { authId: string }[] }).registrations.map((r) => r.authId);

  /** A machine at `srv` waiting for web login: its client, first answer and auth id. */
  async function waiting(srv: TestServer, hostname: string) {
    const c = client(srv, hostname);
    const r = await c.register();
    assert.equal(r.MachineAuthorized, false);
    return { c, r, id: authId(r) };
  }

  /** Resolves once `srv` holds a follow-up waiting on a decision. */
  async function followupWaiting(srv: TestServer, n = 1): Promise<void> {
    await waitUntil(() => srv.server.webLogin.pending.waiting >= n, 3000, 'the follow-up to wait');
  }

  async function rejectAll(): Promise<void> {
    for (const id of await pendingIds(a)) await api(a, '/api/v1/auth/reject', { authId: id });
  }

  test('registered at A, approved at B through the API: the client waiting at A becomes authorized', async () => {
    const { c, r, id } = await waiting(a, 'wl-approve');
    assert.ok((await pendingIds(b)).includes(id), 'B lists the registration made at A');
    const answer = c.register({ followup: r.AuthURL });
    await followupWaiting(a);
    const done = await api(b, '/api/v1/auth/register', { authId: id, user: 'default' });
    assert.equal(done.status, 200, done.body);
    const res = await answer;
    assert.equal(res.MachineAuthorized, true, JSON.stringify(res));
    // A answered from its own memory: the node B wrote had reached it first.
    assert.equal(a.server.tailnet.nodeByMachineKey(c.machineKey)?.hostname, 'wl-approve');
    const map = await c.startStream();
    assert.equal(map.Node!.Name.startsWith('wl-approve.'), true);
    assert.deepEqual(await pendingIds(a), []);
    assert.equal((await api(b, '/api/v1/auth/register', { authId: id, user: 'default' })).status, 409, 'deciding again is refused');
  });

  test('rejected at B: the client waiting at A is told, and no node is made', async () => {
    const { c, r, id } = await waiting(a, 'wl-reject');
    const answer = c.register({ followup: r.AuthURL });
    await followupWaiting(a);
    const done = await api(b, '/api/v1/auth/reject', { authId: id });
    assert.equal(done.status, 200, done.body);
    const res = await answer;
    assert.equal(res.MachineAuthorized, false);
    assert.match(res.Error, /rejected by an administrator/);
    assert.equal(a.server.tailnet.nodeByMachineKey(c.machineKey), undefined);
    assert.equal(b.server.tailnet.nodeByMachineKey(c.machineKey), undefined);
  });

  test('a decision made while A has lost its change feed reaches A when it catches up', async () => {
    const { c, r, id } = await waiting(a, 'wl-catchup');
    const answer = c.register({ followup: r.AuthURL });
    await followupWaiting(a);
    // Both instances' LISTEN connections drop: the decision's NOTIFY reaches no one.
    const cut = await query<{ ok: boolean }>("SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = 'switchboard changefeed'");
    assert.ok(cut.length >= 2 && cut.every((x) => x.ok), `both feeds cut: ${JSON.stringify(cut)}`);
    const done = await api(b, '/api/v1/auth/register', { authId: id, user: 'default' });
    assert.equal(done.status, 200, done.body);
    const res = await answer;
    assert.equal(res.MachineAuthorized, true, JSON.stringify(res));
  });

  test('an entry that expires ends the wait at A with a fresh link; the old id is gone at B', async () => {
    const { c, r, id } = await waiting(a, 'wl-expire');
    const answer = c.register({ followup: r.AuthURL });
    await followupWaiting(a);
    // As if its time ran out (the database's clock decides expiry).
    await query(`UPDATE ha_pending_registrations SET expires_at = now() - interval '1 second' WHERE id = $1`, [id]);
    const res = await answer;
    assert.equal(res.MachineAuthorized, false);
    const fresh = authId(res);
    assert.notEqual(fresh, id, 'a new link');
    const late = await api(b, '/api/v1/auth/register', { authId: id, user: 'default' });
    assert.equal(late.status, 404, late.body);
    assert.match(late.body, /no pending registration with auth id/);
    assert.deepEqual(await pendingIds(b), [fresh]);
    assert.equal((await query<{ n: string }>('SELECT count(*) AS n FROM ha_pending_registrations WHERE id = $1', [id]))[0]!.n, '0', 'the expired row was removed');
    await rejectAll();
  });

  test('the cap on waiting registrations counts both instances; a full tailnet refuses clearly', async () => {
    const made: TailscaleClient[] = [];
    for (let i = 0; i < CAP; i++) {
      const { c } = await waiting(i % 2 === 0 ? a : b, `wl-cap-${i}`);
      made.push(c);
    }
    for (const srv of [a, b]) {
      const over = await client(srv, 'wl-cap-over').register();
      assert.equal(over.AuthURL, '');
      assert.match(over.Error, new RegExp(`too many registrations are waiting for approval \\(${CAP}, tuning\\.register_cache_max_entries\\)`));
    }
    // A machine already waiting still gets its own link back, from either instance.
    assert.equal(authId(await made[1]!.register()).length, 38);
    assert.equal((await pendingIds(a)).length, CAP);
    // One entry per machine, however often it asks.
    assert.equal((await query<{ n: string }>("SELECT count(*) AS n FROM ha_pending_registrations WHERE hostname = 'wl-cap-1'"))[0]!.n, '1');
    await rejectAll();
    assert.deepEqual(await pendingIds(b), []);
  });

  test('a decision raced on both instances is made once', async () => {
    const { c, r, id } = await waiting(a, 'wl-race');
    const answer = c.register({ followup: r.AuthURL });
    await followupWaiting(a);
    const results = await Promise.all([
      api(a, '/api/v1/auth/register', { authId: id, user: 'default' }),
      api(b, '/api/v1/auth/register', { authId: id, user: 'default' }),
      api(b, '/api/v1/auth/reject', { authId: id }),
    ]);
    const ok = results.filter((x) => x.status === 200);
    assert.equal(ok.length, 1, `one decision wins: ${JSON.stringify(results)}`);
    for (const x of results) if (x.status !== 200) assert.equal(x.status, 409, x.body);
    const res = await answer;
    const rows = await query<{ n: string }>("SELECT count(*) AS n FROM nodes WHERE hostname = 'wl-race'");
    assert.equal(rows[0]!.n, res.MachineAuthorized ? '1' : '0', `the node exists exactly when approved: ${JSON.stringify(res)}`);
  });

  test('a restart of the instance holding the client loses no entry: approved at B after A restarts', async () => {
    const { c, r, id } = await waiting(a, 'wl-restart');
    a = await a.restart();
    assert.ok((await pendingIds(a)).includes(id), 'the restarted A still lists it');
    const answer = c.register({ followup: r.AuthURL });
    await followupWaiting(a);
    const done = await api(b, '/api/v1/auth/register', { authId: id, user: 'default' });
    assert.equal(done.status, 200, done.body);
    const res = await answer;
    assert.equal(res.MachineAuthorized, true, JSON.stringify(res));
  });

  test('an OIDC login started at A whose callback reaches B completes the machine waiting at A', async () => {
    const { c, r, id } = await waiting(a, 'wl-oidc');
    const answer = c.register({ followup: r.AuthURL });
    await followupWaiting(a);
    const cb = await reachCallback(`${a.url}/register/${id}`, 'alice', a.url);
    const row = await query<{ state_hash: string; sealed: Buffer }>('SELECT state_hash, sealed FROM ha_oidc_flows');
    assert.equal(row.length, 1, 'the sign-in is in the database');
    const state = new URL(cb.url).searchParams.get('state')!;
    assert.ok(!row[0]!.state_hash.includes(state) && !row[0]!.sealed.toString('latin1').includes(state), 'the state is not stored in clear');
    const atB = await fetch(cb.url.replace(a.url, b.url), { headers: { cookie: cb.cookie }, redirect: 'manual' });
    const html = await atB.text();
    assert.equal(atB.status, 200, html);
    assert.match(html, /wl-oidc is now on the tailnet as user alice/);
    const res = await answer;
    assert.equal(res.MachineAuthorized, true, JSON.stringify(res));
    assert.equal(a.server.tailnet.nodeByMachineKey(c.machineKey)?.registerMethod, 'oidc');
    // Used once: the same callback again, at either instance, is refused.
    for (const srv of [a, b]) {
      const again = await fetch(cb.url.replace(a.url, srv.url), { headers: { cookie: cb.cookie }, redirect: 'manual' });
      assert.equal(again.status, 400);
      assert.match(await again.text(), /unknown, already used or expired/);
    }
    assert.equal((await query('SELECT 1 FROM ha_oidc_flows')).length, 0);
  });
});
