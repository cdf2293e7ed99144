// The load generator's reconnect model and its server-restart profiles at a small size:
// the real server killed (SIGKILL) and stopped (SIGTERM), started again on the same
// database, and every simulated node back with a fresh full map and its team online.

import { test } from 'vitest';
import assert from 'node:assert/strict';
import { benchLoad } from '../../bench/load/load.js';
import { backoffDelayMs } from '../../bench/load/node.js';

test("the simulated nodes back off as tailscaled's util/backoff does: n² × 10 ms, capped at 30 s, ±50 %", () => {
  assert.equal(backoffDelayMs(1, 0), 5);
  assert.equal(backoffDelayMs(1, 0.5), 10);
  assert.equal(backoffDelayMs(4, 0.5), 160);
  assert.equal(backoffDelayMs(10, 0.5), 1000);
  assert.equal(backoffDelayMs(54, 0.5), 29_160);
  assert.equal(backoffDelayMs(55, 0.5), 30_000);
  assert.equal(backoffDelayMs(1000, 0), 15_000);
  assert.ok(backoffDelayMs(1000, 0.999999) < 45_000);
});

test('40 simulated nodes come back after a SIGKILL and after a SIGTERM of the server', async () => {
  const r = await benchLoad({ nodes: 40, groupSize: 10, workers: 1, profiles: ['server-restart', 'server-restart-term'] });
  for (const s of [r.serverRestart, r.serverRestartTerm]) {
    assert.ok(s, 'both restarts ran');
    assert.equal(s.steadyNodes, 40, `${s.signal}: every node streams and sees its team online (${JSON.stringify(s.nodePhases)})`);
    assert.equal(s.reconnectFirstMapMs.n, 40, `${s.signal}: every node got a first map from the new server`);
    assert.ok(s.listenSeconds > 0 && s.listenSeconds <= s.startSeconds, `${s.signal}: listening (${s.listenSeconds} s) before answering (${s.startSeconds} s)`);
  }
  assert.equal(r.serverRestart!.signal, 'SIGKILL');
  assert.equal(r.serverRestartTerm!.signal, 'SIGTERM');
});
