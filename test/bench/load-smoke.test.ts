// The load generator end to end at a small size: simulated nodes against `switchboard
// serve` as a child process, a join storm and endpoint churn, every change seen by every
// team peer. Catches a generator (or server) change that breaks the benchmark itself.

import { test } from 'vitest';
import assert from 'node:assert/strict';
import { benchLoad } from '../../bench/load/load.js';

test('60 simulated nodes: a join storm and endpoint churn reach every team peer', async () => {
  const r = await benchLoad({ nodes: 60, groupSize: 20, workers: 1, profiles: ['join-storm', 'steady'], steadySeconds: 3, churnPerSecond: 5 });
  assert.equal(r.setup.steadyNodes, 54, 'every node of the setup sees its whole team online');
  assert.ok(r.joinStorm, 'the storm ran');
  assert.equal(r.joinStorm.failed, 0);
  assert.equal(r.joinStorm.visibleAtAllPeersMs.missed, 0);
  assert.equal(r.joinStorm.visibleAtAllPeersMs.n, 6);
  assert.equal(r.joinStorm.registerMs.n, 6, "every joiner's register answer was timed");
  assert.equal(r.joinStorm.fromDialMs.n, 6);
  assert.ok(r.joinStorm.fromDialMs.p50 >= r.joinStorm.visibleAtAllPeersMs.p50, 'from the first dial is never sooner than from the register request');
  assert.ok(r.steady && r.steady.endpointChanges > 0, 'endpoints changed');
  assert.equal(r.steady.endpointToAllPeersMs.missed, 0);
  assert.equal(r.steady.endpointToAllPeersMs.n, r.steady.endpointChanges);
  assert.ok(r.final.serverRssMB > 0 && r.final.digestEntries === 60 * 19, `digest entries ${r.final.digestEntries}`);
});
