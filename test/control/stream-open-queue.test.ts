// Map stream opens wait their turn (src/control/stream-open-queue.ts): in arrival order, a
// slice per turn of the event loop, a shorter one while handshakes wait. The clock is the
// test's: each open "takes" 2 ms of it, so the slices are counted, not timed.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { StreamOpenQueue } from '../../src/control/stream-open-queue.js';

const turn = () => new Promise((r) => setImmediate(r));

function fleet(busy: () => boolean) {
  let t = 0;
  const ran: number[] = [];
  const q = new StreamOpenQueue({ now: () => t, busy });
  const done = Array.from({ length: 12 }, (_, i) =>
    q.run(() => {
      t += 2;
      ran.push(i);
    }),
  );
  return { q, ran, done };
}

test('opens run in arrival order, a 10 ms slice per turn while nothing more urgent waits', async () => {
  const { q, ran, done } = fleet(() => false);
  assert.deepEqual(ran, [], 'nothing runs in the caller’s turn');
  await turn();
  assert.deepEqual(ran, [0, 1, 2, 3, 4]);
  await Promise.all(done);
  assert.deepEqual(ran, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  assert.equal(q.length, 0);
});

test('while handshakes wait, opens take a short slice per turn and still all complete', async () => {
  let waiting = true;
  const { ran, done } = fleet(() => waiting);
  await turn();
  assert.deepEqual(ran, [0, 1]);
  await turn();
  assert.deepEqual(ran, [0, 1, 2, 3]);
  waiting = false;
  await turn();
  assert.deepEqual(ran, [0, 1, 2, 3, 4, 5, 6, 7, 8]);
  await Promise.all(done);
  assert.equal(ran.length, 12);
});

test('an open that throws rejects its own promise only', async () => {
  const q = new StreamOpenQueue();
  const ran: string[] = [];
  const bad = q.run(() => {
    throw new Error('no such node');
  });
  const good = q.run(() => void ran.push('next'));
  await assert.rejects(bad, /no such node/);
  await good;
  assert.deepEqual(ran, ['next']);
});
