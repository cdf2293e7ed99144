// A stream owed several batches when its turn comes gets one delta for all of them.
// With the dispatch slice at 0 (one session per turn of the event loop) every burst of
// changes queues, so batches are folded together; after a burst of joins, endpoint
// changes, a policy change that moves peers between teams, a rename and a deletion,
// every client's netmap, built only from the deltas it got, must equal a fresh full map.

import { describe, test } from 'vitest';
import assert from 'node:assert/strict';
import type { TailscaleClient } from '../../src/client/client.js';
import type { NetMap } from '../../src/client/netmap.js';
import type { MapResponse, Node } from '../../src/tailcfg/types.js';
import { DEFAULT_SLICE_MS } from '../../src/control/sessions.js';
import { useServer } from '../helpers/fixture.js';

const policy = (teamB: string[]) =>
  JSON.stringify({
    groups: { 'group:a': ['alice@', 'bob@'].filter((u) => !teamB.includes(u)), 'group:b': ['carol@', ...teamB] },
    acls: [
      { action: 'accept', src: ['group:a'], dst: ['group:a:*'] },
      { action: 'accept', src: ['group:b'], dst: ['group:b:22,443'] },
    ],
  });

/** What a client acts on, from a netmap or a full map, in one comparable form. */
function view(self: Node | null, peers: Iterable<Node>, rules: unknown): unknown {
  const pick = (n: Node) => ({
    ID: n.ID,
    Name: n.Name,
    Key: n.Key,
    DiscoKey: n.DiscoKey,
    Addresses: n.Addresses,
    AllowedIPs: n.AllowedIPs,
    Endpoints: n.Endpoints,
    Online: n.Online,
    Tags: n.Tags,
    User: n.User,
    Cap: n.Cap,
  });
  return { self: self && { Name: self.Name, Addresses: self.Addresses }, peers: [...peers].sort((a, b) => a.ID - b.ID).map(pick), rules };
}
const fromNetmap = (nm: NetMap) => view(nm.self, nm.peers.values(), nm.filterRules());
const fromFull = (m: MapResponse) => view(m.Node ?? null, m.Peers ?? [], Object.values(m.PacketFilters ?? {}).flat());

describe('coalesced deltas', () => {
  const f = useServer({ configure: (c) => (c.policy = { mode: 'database', path: '' }) });

  test('streams that fall behind get their batches folded together, and end with exactly the state a full map shows', async () => {
    const server = f.srv.server;
    await server.policy.set(policy([]));
    const first: Array<[string, string]> = [
      ['a1', 'alice'],
      ['a2', 'alice'],
      ['a3', 'alice'],
      ['b1', 'bob'],
      ['b2', 'bob'],
      ['c1', 'carol'],
      ['c2', 'carol'],
      ['c3', 'carol'],
    ];
    const clients = new Map<string, TailscaleClient>();
    for (const [host, user] of first) clients.set(host, await f.join(host, { user }));

    server.dispatchSliceMs = 0;
    const before = server.coalescedBatches;
    const deleted = clients.get('c1')!;
    const deletedId = deleted.netmap.self!.ID;
    // The burst: nothing awaited in between, so batches pile up behind the one-session slices.
    const burst: Array<Promise<unknown>> = [];
    for (const [host, user] of [['a4', 'alice'], ['a5', 'alice'], ['c4', 'carol'], ['c5', 'carol']] as const) {
      burst.push(f.join(host, { user }).then((c) => clients.set(host, c)));
    }
    let port = 41000;
    for (const [host, c] of clients) {
      if (host === 'c1') continue;
      c.endpoints = [`127.0.0.1:${port++}`, `[::1]:${port++}`];
      burst.push(c.liteUpdate());
    }
    burst.push(server.policy.set(policy(['bob@'])));
    burst.push(server.tailnet.renameNode(clients.get('a2')!.netmap.self!.ID, 'a2-renamed'));
    burst.push(server.tailnet.deleteNode(deletedId));
    await Promise.all(burst);
    clients.delete('c1');

    // Every remaining client converges on its full map (the deltas still being served settle first).
    const deadline = Date.now() + 10_000;
    for (const [host, c] of clients) {
      for (;;) {
        const full = await c.fetchMap();
        const want = fromFull(full);
        if (JSON.stringify(fromNetmap(c.netmap)) === JSON.stringify(want)) break;
        if (Date.now() > deadline) assert.deepEqual(fromNetmap(c.netmap), want, `${host}: netmap from deltas against a full map`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    assert.ok(server.coalescedBatches > before, 'batches were folded together');

    // The outcome itself: bob's nodes moved to team b, a2 renamed, c1 gone everywhere.
    const names = (host: string) => [...clients.get(host)!.netmap.peers.values()].map((p) => p.Name.split('.')[0]).sort();
    assert.deepEqual(names('a1'), ['a2-renamed', 'a3', 'a4', 'a5']);
    assert.deepEqual(names('b1'), ['b2', 'c2', 'c3', 'c4', 'c5']);
    assert.deepEqual(names('c2'), ['b1', 'b2', 'c3', 'c4', 'c5']);
    for (const c of clients.values()) assert.ok(!c.netmap.peers.has(deletedId), 'the deleted node is gone');
    const port22 = clients.get('c2')!.netmap.filterRules().flatMap((r) => r.DstPorts ?? []).map((d) => d.Ports.First);
    assert.deepEqual([...new Set(port22)].sort((a, b) => a - b), [22, 443]);
    server.dispatchSliceMs = DEFAULT_SLICE_MS;
  });
});
