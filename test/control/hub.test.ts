// SessionHub serves a batch a slice of sessions per turn of the event loop: every session
// still gets every batch that concerns it exactly once and in order, and a small batch
// dispatched while a large one is being served reaches its sessions without waiting.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { MapSession, SessionHub, type FrameSink } from '../../src/control/sessions.js';
import type { MapBuilder, StreamState } from '../../src/mapresponse/builder.js';
import type { PolicyUpdate, PolicyView } from '../../src/mapresponse/policyview.js';
import type { TailnetEvent } from '../../src/state/events.js';
import type { Tailnet } from '../../src/state/tailnet.js';

type Listener = (events: TailnetEvent[], eventAt?: number) => void;

/** The event source of a Tailnet: batches are handed to the hub as emitted. */
class Events {
  listener: Listener | null = null;
  subscribe(l: Listener): () => void {
    this.listener = l;
    return () => (this.listener = null);
  }
  emit(...events: TailnetEvent[]): void {
    this.listener!(events);
  }
}

/** Each delta names the batch it answers (its events' kinds) so the order can be checked. */
const builder = {
  delta(_state: StreamState, events: readonly TailnetEvent[]): string {
    return JSON.stringify({ batch: events.map((e) => e.kind).join() });
  },
  forget() {},
} as unknown as MapBuilder;

const N = 40;
// Node i's peers: its team of 4 (visibility is symmetric).
const team = (id: number) => Array.from({ length: 4 }, (_, k) => Math.floor(id / 4) * 4 + k).filter((p) => p !== id);
const view = {
  apply: (events: readonly TailnetEvent[]): PolicyUpdate => ({
    viewers: events.some((e) => e.kind === 'policyChanged') ? 'all' : new Set(),
    peers: new Set(),
  }),
  visiblePeers: team,
} as unknown as PolicyView;

function setup(sliceMs: number) {
  const events = new Events();
  const hub = new SessionHub(events as unknown as Tailnet, builder, () => view, (m) => assert.fail(m), sliceMs);
  const got = new Map<number, string[]>();
  for (let id = 0; id < N; id++) {
    const frames: string[] = [];
    got.set(id, frames);
    const sink: FrameSink = {
      write: (f) => {
        frames.push((JSON.parse(f.subarray(4).toString()) as { batch: string }).batch);
        return true;
      },
      buffered: () => 0,
      close: () => {},
    };
    hub.add(new MapSession(id, { nodeId: id } as StreamState, sink, 'none', 0, () => {}));
  }
  return { events, hub, got };
}

const turn = () => new Promise((r) => setImmediate(r));

test('a policy batch is served over several turns, and a small batch meanwhile keeps every session in order', async () => {
  const { events, hub, got } = setup(0);
  events.emit({ kind: 'policyChanged' }); // batch 1: every session, one per turn
  assert.equal(hub.pending, 1, 'the policy batch did not finish in one turn');
  const reached = [...got.values()].filter((f) => f.length).length;
  assert.ok(reached >= 1 && reached < N, `first slice reached ${reached} of ${N}`);
  // Batch 2: node 37 changes; its team (36, 38, 39) and itself are concerned.
  events.emit({ kind: 'nodeChanged', nodeId: 37 } as TailnetEvent);
  // A session not reached by the policy batch yet gets both batches folded into one delta.
  const teamDone = () => [36, 37, 38, 39].every((id) => got.get(id)!.join() === 'policyChanged,nodeChanged');
  let turns = 0;
  while (!teamDone() && turns < 10) {
    await turn();
    turns++;
  }
  assert.ok(teamDone(), 'the change reached its four sessions within a few turns');
  const waiting = [...got.values()].filter((f) => f.length === 0).length;
  assert.ok(waiting > N / 2, `the change did not wait for the policy batch (${waiting} sessions still without it)`);
  for (let i = 0; i < 10 * N && hub.pending; i++) await turn();
  assert.equal(hub.pending, 0);
  for (const [id, frames] of got) assert.equal(frames.join(), [36, 37, 38, 39].includes(id) ? 'policyChanged,nodeChanged' : 'policyChanged', `node ${id}`);
  assert.ok(
    [36, 37, 38, 39].some((id) => got.get(id)!.length === 1),
    'a team session still owed the policy batch got it and the change as one delta',
  );
});

test('batches queued behind each other reach a session as one delta, events in order', async () => {
  const { events, hub, got } = setup(0);
  // Node 1 changes three times before the hub's first yield; its team (0, 2, 3) is served a session per turn.
  events.emit({ kind: 'nodeChanged', nodeId: 1 } as TailnetEvent);
  events.emit({ kind: 'nodePatched', nodeId: 1, patch: {} } as TailnetEvent);
  events.emit({ kind: 'nodeRemoved', nodeId: 1 } as TailnetEvent);
  for (let i = 0; i < 20 && hub.pending; i++) await turn();
  assert.equal(hub.pending, 0);
  let folded = 0;
  // Node 1's own session is closed by its removal; its peers get all three.
  for (const id of [0, 2, 3]) {
    assert.equal(got.get(id)!.join(), 'nodeChanged,nodePatched,nodeRemoved', `node ${id}`);
    if (got.get(id)!.length < 3) folded++;
  }
  assert.ok(folded >= 2, `${folded} sessions got the three batches in fewer frames`);
  assert.equal(hub.coalesced > 0, true);
  for (let id = 4; id < N; id++) assert.deepEqual(got.get(id), [], `node ${id} is not concerned`);
});

test('a batch that serves its sessions everything they are owed leaves the scheduled turn nothing to do', async () => {
  const { events, hub, got } = setup(0);
  events.emit({ kind: 'nodeChanged', nodeId: 5 } as TailnetEvent); // one session served, a turn scheduled
  hub.sliceMs = 1000;
  events.emit({ kind: 'nodeChanged', nodeId: 6 } as TailnetEvent); // same team: serves all four, both batches
  assert.equal(hub.pending, 0);
  await turn();
  await turn();
  for (const id of [4, 5, 6, 7]) assert.equal(got.get(id)!.join(), 'nodeChanged,nodeChanged', `node ${id}`);
});

test('with the default slice a small tailnet is served in the dispatching turn', async () => {
  const { events, hub, got } = setup(1000);
  events.emit({ kind: 'policyChanged' });
  assert.equal(hub.pending, 0);
  for (const frames of got.values()) assert.deepEqual(frames, ['policyChanged']);
});

test('closing the hub drops batches still being served', async () => {
  const { events, hub, got } = setup(0);
  events.emit({ kind: 'policyChanged' });
  hub.closeAll('test');
  const before = [...got.values()].reduce((a, f) => a + f.length, 0);
  for (let i = 0; i < 5; i++) await turn();
  assert.equal(hub.pending, 0);
  assert.equal([...got.values()].reduce((a, f) => a + f.length, 0), before);
});

const hold = (ms: number) => {
  const until = performance.now() + ms;
  while (performance.now() < until); // the event loop held, as by other work
};

test('the hub reports itself behind once a membership batch has waited 50 ms, and not once it is served', async () => {
  const { events, hub } = setup(0);
  events.emit({ kind: 'nodeAdded', nodeId: 9 } as TailnetEvent);
  assert.equal(hub.behind, false, 'a batch just queued');
  hold(60);
  assert.equal(hub.behind, true);
  for (let i = 0; i < 10 * N && hub.pending; i++) await turn();
  assert.equal(hub.pending, 0);
  assert.equal(hub.behind, false);
});

test('patches waiting (online, endpoints) do not make the hub behind: held back they coalesce', async () => {
  const { events, hub } = setup(0);
  events.emit({ kind: 'nodePatched', nodeId: 9, patch: { online: true } } as TailnetEvent);
  hold(60);
  assert.ok(hub.pending > 0, 'the patch batch is still owed');
  assert.equal(hub.behind, false);
  events.emit({ kind: 'policyChanged' });
  assert.equal(hub.behind, false, 'a policy batch just queued');
  hold(60);
  assert.equal(hub.behind, true, 'the policy batch has waited');
  for (let i = 0; i < 10 * N && hub.pending; i++) await turn();
  assert.equal(hub.behind, false);
});
