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
  const teamDone = () => [36, 37, 38, 39].every((id) => got.get(id)!.length === 2);
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
  for (const [id, frames] of got) assert.deepEqual(frames, [36, 37, 38, 39].includes(id) ? ['policyChanged', 'nodeChanged'] : ['policyChanged'], `node ${id}`);
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
