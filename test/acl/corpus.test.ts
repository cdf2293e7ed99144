// Runs the whole Tailscale SaaS corpus; fails if the pass rate drops below what the engine
// reached, so regressions show up in CI.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { defaultCorpusDir, runCorpus, summarize } from '../../scripts/compat.js';

const FLOOR: Record<string, number> = {
  acl: 153, grant: 178, nodeattrs: 35, policytest: 42, routes: 72, ssh: 76, sshtest: 22, all: 578,
};

test('compat corpus pass counts do not regress', () => {
  // The corpus is part of the repository: missing is a failure, not a reason to skip.
  assert.ok(existsSync(defaultCorpusDir()), `${defaultCorpusDir()} is missing`);
  const sum = summarize(runCorpus(defaultCorpusDir()));
  for (const [cat, floor] of Object.entries(FLOOR)) {
    const got = sum.get(cat)?.pass ?? 0;
    assert.ok(got >= floor, `${cat}: ${got} passing, expected at least ${floor}`);
  }
});
