// A node's coming online reaches the event listeners (map streams) batched over a short
// window (src/state/tailnet.ts, ONLINE_LINGER_MS), so a reconnecting fleet makes a few
// large deltas; any other event about that node takes the held-back one along first, so
// each node's events keep their order. Real SQLite (and PostgreSQL when set up).
import { describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { Tailnet } from '../../src/state/tailnet.js';
import type { TailnetEvent } from '../../src/state/events.js';
import { testBackends } from '../helpers/databases.js';

const opts = { prefixV4: '100.64.0.0/10', prefixV6: null, allocation: 'sequential' as const };
const hex = (seed: number) => seed.toString(16).padStart(2, '0').repeat(32);

async function node(t: Tailnet, userId: number, n: number) {
  return t.addNode({
    machineKey: `mkey:${hex(n)}`,
    nodeKey: `nodekey:${hex(n + 100)}`,
    discoKey: `discokey:${hex(n + 200)}`,
    endpoints: [],
    hostinfo: { Hostname: `n${n}` },
    hostname: `n${n}`,
    userId,
    registerMethod: 'authkey',
    tags: [],
    authKeyId: null,
    ephemeral: false,
    expiry: null,
    lastSeen: null,
    approvedRoutes: [],
  });
}

const describeEvent = (e: TailnetEvent) => `${e.kind}:${'nodeId' in e ? e.nodeId : ''}${e.kind === 'nodePatched' ? ':' + Object.keys(e.patch).join(',') : ''}`;

for (const backend of testBackends()) {
  describe(`online events linger (${backend.name})`, () => {
    test('streams coming up share one later batch; another node’s change is not held', async () => {
      const { store, cleanup } = await backend.makeStore();
      try {
        const t = await Tailnet.load(store, opts);
        const u = await t.createUser({ name: 'alice' });
        const [a, b, c] = [await node(t, u.id, 1), await node(t, u.id, 2), await node(t, u.id, 3)];
        await new Promise((r) => setImmediate(r)); // the set-up's own events are out
        const batches: string[][] = [];
        let seen: () => void = () => {};
        t.subscribe((events) => {
          batches.push(events.map(describeEvent));
          seen();
        });
        const online = t.isOnline(a.id);
        t.streamOpened(a.id);
        t.streamOpened(b.id);
        assert.equal(online, false);
        assert.equal(t.isOnline(a.id), true, 'online at once for whoever asks');
        await t.renameNode(c.id, 'c-renamed');
        const all = () => batches.flat();
        while (!all().includes(`nodePatched:${b.id}:online`)) await new Promise<void>((r) => (seen = r));
        const renamed = batches.findIndex((x) => x.some((e) => e.endsWith(`:${c.id}`)));
        const cameUp = batches.findIndex((x) => x.includes(`nodePatched:${a.id}:online`));
        assert.ok(renamed >= 0 && cameUp > renamed, `the rename went ahead of the held-back online events: ${JSON.stringify(batches)}`);
        assert.deepEqual(batches[cameUp], [`nodePatched:${a.id}:online`, `nodePatched:${b.id}:online`], 'one batch for both');
      } finally {
        await cleanup();
      }
    });

    test('a change to a node whose online event is held takes that event along, in order', async () => {
      const { store, cleanup } = await backend.makeStore();
      try {
        const t = await Tailnet.load(store, opts);
        const u = await t.createUser({ name: 'bob' });
        const a = await node(t, u.id, 11);
        await new Promise((r) => setImmediate(r)); // the set-up's own events are out
        const batches: string[][] = [];
        let seen: () => void = () => {};
        t.subscribe((events) => {
          batches.push(events.map(describeEvent));
          seen();
        });
        t.streamOpened(a.id);
        await t.renameNode(a.id, 'a-renamed');
        while (batches.length === 0) await new Promise<void>((r) => (seen = r));
        const first = batches[0]!;
        assert.equal(first[0], `nodePatched:${a.id}:online`, JSON.stringify(batches));
        assert.ok(first.length >= 2 && first.slice(1).every((e) => e.endsWith(`:${a.id}`) || e.includes(`:${a.id}:`)), JSON.stringify(batches));
      } finally {
        await cleanup();
      }
    });

    test('a capability version learnt for the first time travels with the coming online; a later change goes at once', async () => {
      const { store, cleanup } = await backend.makeStore();
      try {
        const t = await Tailnet.load(store, opts);
        const u = await t.createUser({ name: 'carol' });
        const a = await node(t, u.id, 21);
        const b = await node(t, u.id, 22);
        await new Promise((r) => setImmediate(r));
        const batches: string[][] = [];
        let seen: () => void = () => {};
        t.subscribe((events) => {
          batches.push(events.map(describeEvent));
          seen();
        });
        // A map request: the client's version, then its stream; another node changes meanwhile.
        t.setCapVersion(a.id, 113);
        t.streamOpened(a.id);
        await t.renameNode(b.id, 'b-renamed');
        while (!batches.flat().includes(`nodePatched:${a.id}:online`)) await new Promise<void>((r) => (seen = r));
        const held = batches.find((x) => x.includes(`nodePatched:${a.id}:online`))!;
        assert.deepEqual(held, [`nodePatched:${a.id}:cap`, `nodePatched:${a.id}:online`], JSON.stringify(batches));
        assert.ok(batches.indexOf(held) > 0, 'the other node’s rename was not held');
        // The client upgraded: not held, so it goes ahead of the rename that follows it.
        const before = batches.length;
        t.setCapVersion(a.id, 120);
        await t.renameNode(b.id, 'b-again');
        const later = () => batches.slice(before).flat();
        while (!later().some((e) => e.endsWith(`:${b.id}`))) await new Promise<void>((r) => (seen = r));
        assert.equal(later()[0], `nodePatched:${a.id}:cap`, JSON.stringify(batches));
      } finally {
        await cleanup();
      }
    });
  });
}
