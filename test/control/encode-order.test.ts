// Deltas encoded on worker threads come back later than they were built (src/mapresponse/
// encode-pool.ts): a session still writes them in the order built, sessions with identical
// deltas share one encoding, and a closed session writes nothing that was still encoding.
// Real zstd on a real worker for the end-to-end order; a held encoder to choose the order.
import { afterAll as after, test } from 'vitest';
import assert from 'node:assert/strict';
import { decompress } from 'zstd-napi';
import { MapSession, SessionHub, type FrameSink } from '../../src/control/sessions.js';
import type { MapBuilder, StreamState } from '../../src/mapresponse/builder.js';
import { encodeFrame, type Compression } from '../../src/mapresponse/encode.js';
import { FrameEncoder, type FrameEncoding } from '../../src/mapresponse/encode-pool.js';
import type { PolicyUpdate, PolicyView } from '../../src/mapresponse/policyview.js';
import type { TailnetEvent } from '../../src/state/events.js';
import type { Tailnet } from '../../src/state/tailnet.js';

type Listener = (events: TailnetEvent[], eventAt?: number) => void;

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

/** Each delta names its batch; `perNode` makes every session's delta its own (as a node's filter does). */
function builderOf(perNode: boolean): MapBuilder {
  return {
    delta(state: StreamState, events: readonly TailnetEvent[]): string {
      return JSON.stringify({ batch: events.map((e) => (e as { nodeId?: number }).nodeId ?? e.kind).join(), ...(perNode ? { me: state.nodeId } : {}) });
    },
    forget() {},
  } as unknown as MapBuilder;
}

const everyone = (n: number) => ({
  apply: (): PolicyUpdate => ({ viewers: 'all', peers: new Set() }),
  visiblePeers: (id: number) => Array.from({ length: n }, (_, k) => k).filter((k) => k !== id),
}) as unknown as PolicyView;

/** An encoder that answers only when told, in any order. */
class HeldEncoder implements FrameEncoding {
  held: Array<{ json: string | Uint8Array; done: (f: Buffer) => void }> = [];
  encode(json: string | Uint8Array, compression: Compression, done: (frame: Buffer) => void): void {
    this.held.push({ json, done: () => done(encodeFrame(json, compression)) });
  }
}

function sinkOf(frames: unknown[], compression: Compression): FrameSink {
  return {
    write: (f) => {
      const body = f.subarray(4);
      frames.push(JSON.parse((compression === 'zstd' ? decompress(body) : body).toString()));
      return true;
    },
    buffered: () => 0,
    close: () => {},
  };
}

const turn = () => new Promise((r) => setImmediate(r));
const encoders: FrameEncoder[] = [];
after(() => encoders.forEach((e) => e.close()));

test('deltas whose encodings come back in reverse are written in the order they were built', () => {
  const events = new Events();
  const enc = new HeldEncoder();
  const hub = new SessionHub(events as unknown as Tailnet, builderOf(true), () => everyone(2), (m) => assert.fail(m));
  const frames: unknown[] = [];
  hub.add(new MapSession(0, { nodeId: 0 } as StreamState, sinkOf(frames, 'none'), 'none', 0, () => {}, undefined, undefined, undefined, enc));
  for (let i = 1; i <= 3; i++) events.emit({ kind: 'nodeChanged', nodeId: 100 + i } as TailnetEvent);
  assert.equal(enc.held.length, 3);
  assert.equal(frames.length, 0, 'nothing is written before its frame is back');
  enc.held[2]!.done(Buffer.alloc(0));
  enc.held[1]!.done(Buffer.alloc(0));
  assert.equal(frames.length, 0, 'later deltas wait for the first');
  enc.held[0]!.done(Buffer.alloc(0));
  assert.deepEqual(frames, [101, 102, 103].map((b) => ({ batch: String(b), me: 0 })));
});

test('sessions with identical deltas share one encoding, each written when it is back', () => {
  const events = new Events();
  const enc = new HeldEncoder();
  const hub = new SessionHub(events as unknown as Tailnet, builderOf(false), () => everyone(5), (m) => assert.fail(m));
  const got: unknown[][] = [];
  for (let id = 0; id < 5; id++) {
    const frames: unknown[] = [];
    got.push(frames);
    hub.add(new MapSession(id, { nodeId: id } as StreamState, sinkOf(frames, 'none'), 'none', 0, () => {}, undefined, undefined, undefined, enc));
  }
  events.emit({ kind: 'nodeChanged', nodeId: 7 } as TailnetEvent);
  assert.equal(enc.held.length, 1, 'five identical deltas, one encoding');
  assert.ok(got.every((f) => f.length === 0));
  enc.held[0]!.done(Buffer.alloc(0));
  assert.ok(got.every((f) => f.length === 1 && (f[0] as { batch: string }).batch === '7'));
});

test('a session closed while its deltas are encoding writes none of them', () => {
  const events = new Events();
  const enc = new HeldEncoder();
  const hub = new SessionHub(events as unknown as Tailnet, builderOf(true), () => everyone(2), (m) => assert.fail(m));
  const frames: unknown[] = [];
  const s = new MapSession(0, { nodeId: 0 } as StreamState, sinkOf(frames, 'none'), 'none', 0, () => {}, undefined, undefined, undefined, enc);
  hub.add(s);
  events.emit({ kind: 'nodeChanged', nodeId: 1 } as TailnetEvent);
  s.close('test');
  enc.held[0]!.done(Buffer.alloc(0));
  assert.deepEqual(frames, []);
});

test('on a real worker with zstd, every session gets every batch once, in order, across many turns', async () => {
  const events = new Events();
  const encoder = new FrameEncoder({ workers: 1 });
  encoders.push(encoder);
  const n = 30;
  const hub = new SessionHub(events as unknown as Tailnet, builderOf(true), () => everyone(n), (m) => assert.fail(m), 0);
  const got: unknown[][] = [];
  for (let id = 0; id < n; id++) {
    const frames: unknown[] = [];
    got.push(frames);
    hub.add(new MapSession(id, { nodeId: id } as StreamState, sinkOf(frames, 'zstd'), 'zstd', 0, () => {}, undefined, undefined, undefined, encoder));
  }
  const batches = 20;
  for (let b = 0; b < batches; b++) {
    events.emit({ kind: 'nodeChanged', nodeId: 1000 + b } as TailnetEvent);
    if (b % 3 === 0) await turn();
  }
  for (let i = 0; i < 500 && (hub.pending > 0 || encoder.inFlight > 0); i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(encoder.inFlight, 0);
  got.forEach((frames, id) => {
    // Coalescing may fold batches together; what a session is told, in order, is every batch once.
    const told = frames.flatMap((f) => String((f as { batch: string }).batch).split(','));
    assert.deepEqual(told, Array.from({ length: batches }, (_, b) => String(1000 + b)), `session ${id}`);
    assert.ok(frames.every((f) => (f as { me: number }).me === id));
  });
});

test('deltas built while the first map is encoding are written after it', () => {
  const events = new Events();
  const enc = new HeldEncoder();
  const hub = new SessionHub(events as unknown as Tailnet, builderOf(true), () => everyone(2), (m) => assert.fail(m));
  const frames: unknown[] = [];
  const s = new MapSession(0, { nodeId: 0 } as StreamState, sinkOf(frames, 'none'), 'none', 0, () => {}, undefined, undefined, undefined, enc);
  hub.add(s);
  s.start(Buffer.from(JSON.stringify({ first: true })));
  events.emit({ kind: 'nodeChanged', nodeId: 5 } as TailnetEvent);
  assert.equal(enc.held.length, 2);
  enc.held[1]!.done(Buffer.alloc(0));
  assert.deepEqual(frames, [], 'the delta waits for the first map');
  enc.held[0]!.done(Buffer.alloc(0));
  assert.deepEqual(frames, [{ first: true }, { batch: '5', me: 0 }]);
});
