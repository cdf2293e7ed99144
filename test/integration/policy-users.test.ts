// Users named by a policy before they exist: creating them through the API answers at once
// with the user, the policy then applies to them, and a policy that fails to rebuild after
// a user change leaves the previous one in force instead of failing the write.

import { describe, test } from 'vitest';
import assert from 'node:assert/strict';
import path from 'node:path';
import { compilePolicy, parsePolicy } from '../../src/acl/index.js';
import { CompiledPolicyView } from '../../src/policy/view.js';
import type { TailnetEvent } from '../../src/state/events.js';
import type { Tailnet } from '../../src/state/tailnet.js';
import { useServer } from '../helpers/fixture.js';
import { socketRequest } from '../helpers/socket.js';

const POLICY = `{
  "groups": {"group:eng": ["alice@", "bob@"]},
  "tagOwners": {"tag:ci": ["alice@"]},
  "acls": [
    {"action": "accept", "src": ["group:eng"], "dst": ["alice@:*"]},
    {"action": "accept", "src": ["carol@"], "dst": ["tag:ci:22"]},
  ],
  "ssh": [{"action": "accept", "src": ["group:eng"], "dst": ["autogroup:self"], "users": ["autogroup:nonroot"]}],
}`;

describe('users a policy names before they exist', () => {
  const f = useServer({
    files: { 'policy.hujson': POLICY },
    configure: (c, dir) => (c.policy = { mode: 'file', path: path.join(dir, 'policy.hujson') }),
  });

  test('POST /api/v1/user answers with the user, and the policy applies to them', async () => {
    for (const name of ['alice', 'bob', 'carol']) {
      const t0 = Date.now();
      const r = await socketRequest(f.srv.config.unix_socket, 'POST', '/api/v1/user', { name });
      assert.equal(r.status, 200, r.body);
      assert.equal(JSON.parse(r.body).user.name, name);
      assert.ok(Date.now() - t0 < 1000, `created ${name} in ${Date.now() - t0} ms`);
    }
    const a = await f.join('a1', { user: 'alice' });
    const b = await f.join('b1', { user: 'bob' });
    const c = await f.join('c1', { user: 'carol' });
    await a.waitFor((nm) => !!nm.peerByName('b1'), 3000, 'bob reaches alice, so alice sees bob');
    await b.waitFor((nm) => !!nm.peerByName('a1'), 3000, 'bob sees alice');
    assert.equal(c.netmap.peers.size, 0, 'carol may only reach tag:ci, which no node has');
  });
});

test('a rebuild that throws after a user change is contained: the write succeeds, the old policy stays', () => {
  const observers: Array<(e: TailnetEvent) => void> = [];
  // Only what the view asks of the tailnet before any node exists.
  const tailnet = { observe: (o: (e: TailnetEvent) => void) => observers.push(o), node: () => undefined, isOnline: () => false } as unknown as Tailnet;
  const first = compilePolicy(parsePolicy(POLICY), { nodes: [], users: [] });
  const errors: string[] = [];
  let rebuilds = 0;
  const view = new CompiledPolicyView(
    tailnet,
    first,
    () => {
      rebuilds++;
      throw new RangeError('Maximum call stack size exceeded');
    },
    (err) => errors.push(err.message),
  );
  // The user write emits; the observer must neither throw nor compile there.
  assert.doesNotThrow(() => observers.forEach((o) => o({ kind: 'userChanged', userId: 1 })));
  assert.equal(rebuilds, 0, 'no compile inside the write');
  const update = view.apply([{ kind: 'userChanged', userId: 1 }]);
  assert.equal(update.viewers, 'all');
  assert.equal(rebuilds, 1);
  assert.deepEqual(errors, ['Maximum call stack size exceeded']);
  assert.equal(view.current, first, 'the previous compiled policy stays in force');
  view.apply([]);
  assert.equal(rebuilds, 1, 'one failed rebuild per change, not per read');
});
