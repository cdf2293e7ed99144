// The policy in the map path, end to end: what streaming clients see follows the
// policy file, reloads reach them as deltas, and a refused policy changes nothing.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TailscaleClient } from '../../src/client/client.js';
import { AdminError } from '../../src/state/admin.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const ALICE_ONLY = `{
  // alice's machines reach each other; nobody else reaches anything
  "acls": [{"action": "accept", "src": ["alice@"], "dst": ["alice@:22,443"]}],
}`;
const EVERYONE = `{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}]}`;

async function joinAs(srv: TestServer, user: string, hostname: string, clients: TailscaleClient[]): Promise<TailscaleClient> {
  const t = srv.server.tailnet;
  const u = t.userByName(user) ?? (await t.createUser({ name: user }));
  const { key } = await t.createPreAuthKey({ userId: u.id, reusable: false, ephemeral: false, expiration: null, tags: [] });
  const c = new TailscaleClient({ serverUrl: srv.url, hostname });
  clients.push(c);
  assert.equal((await c.register({ authKey: key })).MachineAuthorized, true);
  await c.startStream();
  return c;
}

describe('policy file mode', () => {
  let srv: TestServer;
  let dir: string;
  let policyPath: string;
  const clients: TailscaleClient[] = [];

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-pol-'));
    policyPath = path.join(dir, 'policy.hujson');
    fs.writeFileSync(policyPath, ALICE_ONLY);
    srv = await startTestServer({ type: 'sqlite', path: path.join(dir, 'db.sqlite') }, (c) => {
      c.policy = { mode: 'file', path: policyPath };
    }, dir);
  });
  after(async () => {
    for (const c of clients) c.close();
    await srv.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('peers and packet filters follow the policy', async () => {
    const a1 = await joinAs(srv, 'alice', 'a1', clients);
    const a2 = await joinAs(srv, 'alice', 'a2', clients);
    const b1 = await joinAs(srv, 'bob', 'b1', clients);
    await a1.waitFor((nm) => !!nm.peerByName('a2'), 3000, 'a2 at a1');
    await a2.waitFor((nm) => !!nm.peerByName('a1'), 3000, 'a1 at a2');
    assert.equal(a1.netmap.peerByName('b1'), undefined, 'bob is not a peer of alice');
    assert.equal(b1.netmap.peers.size, 0, 'bob sees nobody');
    const rules = a1.netmap.filterRules();
    assert.equal(rules.length, 1);
    const a2addr = a2.netmap.self!.Addresses.map((p) => p.split('/')[0]);
    for (const ip of a2addr) assert.ok(rules[0]!.SrcIPs.includes(ip!), `a2's ${ip} may reach a1`);
    const [v4, v6] = a1.netmap.self!.Addresses.map((p) => p.split('/')[0]!);
    assert.deepEqual(rules[0]!.DstPorts, [
      { IP: v4, Ports: { First: 22, Last: 22 } },
      { IP: v4, Ports: { First: 443, Last: 443 } },
      { IP: v6, Ports: { First: 22, Last: 22 } },
      { IP: v6, Ports: { First: 443, Last: 443 } },
    ]);
    assert.deepEqual(b1.netmap.filterRules(), [], 'bob is reachable by nobody');
  });

  test('a rewritten file reaches streaming clients as a delta', async () => {
    const b1 = clients[2]!;
    fs.writeFileSync(policyPath, EVERYONE);
    await b1.waitFor((nm) => !!nm.peerByName('a1') && !!nm.peerByName('a2'), 5000, 'alice nodes at bob after reload');
    assert.equal(b1.netmap.filterRules()[0]!.DstPorts![0]!.IP, '*');
  });

  test('a refused policy leaves the previous one in force', async () => {
    const b1 = clients[2]!;
    const before = JSON.stringify(b1.netmap.filterRules());
    fs.writeFileSync(policyPath, '{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}], "bogus": 1}');
    assert.equal(srv.server.reloadPolicy(), false);
    assert.equal((await srv.server.policy.get()).policy, EVERYONE);
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(JSON.stringify(b1.netmap.filterRules()), before);
    assert.ok(b1.netmap.peerByName('a1'));
  });

  test('in file mode the policy cannot be set through the API', async () => {
    await assert.rejects(srv.server.policy.set(EVERYONE), (e: unknown) => e instanceof AdminError && /policy.mode: file/.test(e.message));
  });
});

describe('policy database mode', () => {
  let srv: TestServer;
  let dir: string;
  const clients: TailscaleClient[] = [];

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-pold-'));
    srv = await startTestServer({ type: 'sqlite', path: path.join(dir, 'db.sqlite') }, (c) => {
      c.policy = { mode: 'database', path: '' };
    }, dir);
  });
  after(async () => {
    for (const c of clients) c.close();
    await srv.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('set validates, stores, applies, and survives a restart', async () => {
    const a1 = await joinAs(srv, 'alice', 'a1', clients);
    const b1 = await joinAs(srv, 'bob', 'b1', clients);
    await a1.waitFor((nm) => !!nm.peerByName('b1'), 3000, 'allow-all before any policy');
    await assert.rejects(srv.server.policy.set('{"acls": [{"action": "drop"}]}'), (e: unknown) => e instanceof AdminError && e.status === 400);
    assert.equal((await srv.server.policy.get()).policy, '');
    await srv.server.policy.set(ALICE_ONLY);
    await a1.waitFor((nm) => !nm.peerByName('b1'), 3000, 'bob gone from alice');
    await b1.waitFor((nm) => nm.peers.size === 0, 3000, 'bob sees nobody');
    for (const c of clients) c.close();
    srv = await srv.restart();
    assert.equal((await srv.server.policy.get()).policy, ALICE_ONLY);
  });
});
