// The policy in the map path, end to end: what streaming clients see follows the
// policy file, reloads reach them as deltas, and a refused policy changes nothing.

import { describe, test } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { AdminError } from '../../src/state/admin.js';
import { useServer } from '../helpers/fixture.js';

const ALICE_ONLY = `{
  // alice's machines reach each other; nobody else reaches anything
  "acls": [{"action": "accept", "src": ["alice@"], "dst": ["alice@:22,443"]}],
}`;
const EVERYONE = `{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}]}`;

describe('policy file mode', () => {
  const f = useServer({
    files: { 'policy.hujson': ALICE_ONLY },
    configure: (c, dir) => {
      c.policy = { mode: 'file', path: path.join(dir, 'policy.hujson') };
    },
  });
  const clients = f.clients;
  const policyPath = () => path.join(f.dir, 'policy.hujson');

  test('peers and packet filters follow the policy', async () => {
    const a1 = await f.join('a1', { user: 'alice' });
    const a2 = await f.join('a2', { user: 'alice' });
    const b1 = await f.join('b1', { user: 'bob' });
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
    fs.writeFileSync(policyPath(), EVERYONE);
    await b1.waitFor((nm) => !!nm.peerByName('a1') && !!nm.peerByName('a2'), 5000, 'alice nodes at bob after reload');
    assert.equal(b1.netmap.filterRules()[0]!.DstPorts![0]!.IP, '*');
  });

  test('a refused policy leaves the previous one in force', async () => {
    const b1 = clients[2]!;
    const before = JSON.stringify(b1.netmap.filterRules());
    fs.writeFileSync(policyPath(), '{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}], "bogus": 1}');
    assert.equal(f.srv.server.reloadPolicy(), false);
    assert.equal((await f.srv.server.policy.get()).policy, EVERYONE);
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(JSON.stringify(b1.netmap.filterRules()), before);
    assert.ok(b1.netmap.peerByName('a1'));
  });

  test('in file mode the policy cannot be set through the API', async () => {
    await assert.rejects(f.srv.server.policy.set(EVERYONE), (e: unknown) => e instanceof AdminError && /policy.mode: file/.test(e.message));
  });
});

describe('policy database mode', () => {
  const f = useServer({
    configure: (c) => {
      c.policy = { mode: 'database', path: '' };
    },
  });

  test('set validates, stores, applies, and survives a restart', async () => {
    const a1 = await f.join('a1', { user: 'alice' });
    const b1 = await f.join('b1', { user: 'bob' });
    await a1.waitFor((nm) => !!nm.peerByName('b1'), 3000, 'allow-all before any policy');
    await assert.rejects(f.srv.server.policy.set('{"acls": [{"action": "drop"}]}'), (e: unknown) => e instanceof AdminError && e.status === 400);
    assert.equal((await f.srv.server.policy.get()).policy, '');
    await f.srv.server.policy.set(ALICE_ONLY);
    await a1.waitFor((nm) => !nm.peerByName('b1'), 3000, 'bob gone from alice');
    await b1.waitFor((nm) => nm.peers.size === 0, 3000, 'bob sees nobody');
    for (const c of f.clients) c.close();
    await f.restart();
    assert.equal((await f.srv.server.policy.get()).policy, ALICE_ONLY);
  });
});
