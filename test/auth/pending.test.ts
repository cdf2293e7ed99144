// The pending-registration cache on its own, with a clock the test moves: expiry, the cap on
// undecided entries, one entry per machine, and waiters woken by every way an entry ends.

import { test } from 'vitest';
import assert from 'node:assert/strict';
import { authIdProblem, newAuthId, PendingFull, PendingRegistrations } from '../../src/auth/pending.js';

function cache(maxEntries = 2, ttlMs = 1000) {
  let now = 1_000_000;
  const c = new PendingRegistrations({ ttlMs, maxEntries, now: () => now });
  const reg = (machine: string, nodeKey = `nodekey:${machine}`) =>
    c.begin({ machineKey: `mkey:${machine}`, nodeKey, hostinfo: null, hostname: machine, ephemeral: false, requestedExpiry: null });
  return { c, reg, advance: (ms: number) => (now += ms) };
}

test('auth ids have headscale form and are checked strictly', () => {
  const id = newAuthId();
  assert.match(id, /^hskey-authreq-[0-9a-f]{24}$/);
  assert.equal(authIdProblem(id), null);
  assert.match(authIdProblem('hskey-authreq-XYZ')!, /followed by 24 letters, digits/);
  assert.match(authIdProblem('foo')!, /must start with/);
  assert.match(authIdProblem(id + '0')!, /followed by 24 letters, digits/);
  // headscale's own ids (URL-safe base64) are accepted, so its `debug create-node --key` values work.
  assert.equal(authIdProblem('hskey-authreq-Ab9_-zZ0aB9_-zZ0aB9_-zZ0'), null);
  assert.match(authIdProblem('hskey-authreq-Ab9_-zZ0aB9_-zZ0aB9_-zZ/')!, /followed by 24/);
});

test('one entry per machine: asking again refreshes it (new node key, later expiry) instead of adding one', () => {
  const { c, reg, advance } = cache();
  const a = reg('a');
  advance(600);
  const again = reg('a', 'nodekey:new');
  assert.equal(again.id, a.id);
  assert.equal(again.nodeKey, 'nodekey:new');
  advance(600); // past the first expiry, not the refreshed one
  assert.ok(c.get(a.id));
  assert.equal(c.size, 1);
  c.close();
});

test('the cap counts undecided entries; a full cache refuses with PendingFull, and decided ones free room', () => {
  const { c, reg } = cache(2);
  const a = reg('a');
  reg('b');
  assert.throws(() => reg('c'), (e: unknown) => e instanceof PendingFull && /\(2, tuning\.register_cache_max_entries\)/.test(e.message));
  assert.ok(c.decide(a.id, { kind: 'rejected', reason: 'no' }));
  assert.equal(c.decide(a.id, { kind: 'approved', nodeId: 1 }), false, 'decided once');
  assert.ok(reg('c'));
  assert.deepEqual(c.list().map((e) => e.hostname), ['b', 'c']);
  c.close();
});

test('expired entries are gone, and free their room', () => {
  const { c, reg, advance } = cache(1, 1000);
  const a = reg('a');
  advance(1000);
  assert.equal(c.get(a.id), undefined);
  assert.ok(reg('b'));
  c.close();
});

test('waiters wake on a decision, on an abort and on close', async () => {
  const { c, reg } = cache(4, 60_000);
  const a = reg('a');
  const w1 = c.wait(a.id);
  const w2 = c.wait(a.id);
  assert.equal(c.waiting, 2);
  c.decide(a.id, { kind: 'approved', nodeId: 7 });
  assert.deepEqual(await w1, { kind: 'approved', nodeId: 7 });
  assert.deepEqual(await w2, { kind: 'approved', nodeId: 7 });
  assert.deepEqual(await c.wait(a.id), { kind: 'approved', nodeId: 7 }, 'a late waiter gets the verdict at once');

  const b = reg('b');
  const ac = new AbortController();
  const w3 = c.wait(b.id, ac.signal);
  ac.abort();
  assert.deepEqual(await w3, { kind: 'aborted' });
  assert.equal(c.waiting, 0);

  assert.deepEqual(await c.wait('hskey-authreq-' + '0'.repeat(24)), { kind: 'expired' });
  const w4 = c.wait(b.id);
  c.close();
  assert.deepEqual(await w4, { kind: 'closed' });
  assert.deepEqual(await c.wait(b.id), { kind: 'closed' });
});

test('a waiter on a real clock ends when its entry expires', async () => {
  const c = new PendingRegistrations({ ttlMs: 50, maxEntries: 1 });
  const e = c.begin({ machineKey: 'mkey:a', nodeKey: 'nodekey:a', hostinfo: null, hostname: 'a', ephemeral: false, requestedExpiry: null });
  const keepAlive = setTimeout(() => {}, 5000); // the cache's timers are unref'd
  const t0 = Date.now();
  assert.deepEqual(await c.wait(e.id), { kind: 'expired' });
  assert.ok(Date.now() - t0 >= 45);
  clearTimeout(keepAlive);
  c.close();
});

test('a claimed entry is decided only with its token; releasing it makes it decidable again', () => {
  const { c, reg } = cache();
  const a = reg('a');
  const token = c.claim(a.id)!;
  assert.ok(token);
  assert.equal(c.claim(a.id), null, 'one claim at a time');
  assert.equal(c.decide(a.id, { kind: 'rejected', reason: 'no' }), false, 'an unclaimed decision loses to the claim');
  assert.equal(c.decide(a.id, { kind: 'rejected', reason: 'no' }, 'wrong'), false);
  c.release(a.id, token);
  const again = c.claim(a.id)!;
  assert.equal(c.decide(a.id, { kind: 'approved', nodeId: 7 }, again), true);
  assert.deepEqual(c.get(a.id)!.verdict, { kind: 'approved', nodeId: 7 });
  assert.equal(c.claim(a.id), null, 'a decided entry cannot be claimed');
  assert.equal(c.decide(a.id, { kind: 'rejected', reason: 'late' }), false, 'decided once');
});
