// Tags the client requests at login (Hostinfo.RequestTags, `tailscale up --advertise-tags`):
// granted exactly when tagOwners lets the key's user own each, refused otherwise with
// Tailscale's message and the reason, and a refused request spends no single-use key.

import { describe, test } from 'vitest';
import assert from 'node:assert/strict';
import path from 'node:path';
import { useServer } from '../helpers/fixture.js';

const POLICY = JSON.stringify({
  groups: { 'group:ops': ['alice@'] },
  tagOwners: { 'tag:web': ['alice@'], 'tag:db': ['group:ops'], 'tag:bobs': ['bob@'], 'tag:child': ['tag:web'] },
  acls: [{ action: 'accept', src: ['*'], dst: ['*:*'] }],
});

async function keyOf(f: ReturnType<typeof useServer>, user: string, opts: { reusable?: boolean; tags?: string[] } = {}): Promise<string> {
  const t = f.srv.server.tailnet;
  const u = t.userByName(user) ?? (await t.createUser({ name: user }));
  const { key } = await t.createPreAuthKey({ userId: u.id, reusable: opts.reusable ?? false, ephemeral: false, expiration: null, tags: opts.tags ?? [] });
  return key;
}

describe('requested tags under a policy', () => {
  const f = useServer({
    files: { 'policy.json': POLICY },
    configure: (c, dir) => {
      c.policy = { mode: 'file', path: path.join(dir, 'policy.json') };
    },
  });

  test("tags the key's user owns (directly and through a group) are granted: the node is tagged", async () => {
    const c = f.client('web1');
    c.hostinfo.RequestTags = ['tag:web', 'tag:db'];
    const r = await c.register({ authKey: await keyOf(f, 'alice') });
    assert.equal(r.Error, '');
    assert.equal(r.MachineAuthorized, true);
    const node = f.srv.server.tailnet.nodeByNodeKey(c.nodeKey)!;
    assert.deepEqual(node.tags, ['tag:db', 'tag:web']);
    await c.startStream();
    assert.deepEqual([...(c.netmap.self!.Tags ?? [])].sort(), ['tag:db', 'tag:web']);
  });

  test('a tag owned by someone else is refused with the reason, and the single-use key stays unspent', async () => {
    const key = await keyOf(f, 'alice');
    const c = f.client('sneaky');
    c.hostinfo.RequestTags = ['tag:web', 'tag:bobs'];
    const r = await c.register({ authKey: key });
    assert.equal(r.MachineAuthorized, false);
    assert.equal(r.Error, 'requested tags [tag:bobs] are invalid or not permitted (tag:bobs: user alice is not among its tagOwners)');
    assert.equal(f.srv.server.tailnet.nodeByNodeKey(c.nodeKey), undefined);
    // Same key, no tags asked: it still works.
    const again = f.client('honest');
    assert.equal((await again.register({ authKey: key })).MachineAuthorized, true);
  });

  test('a tag not in tagOwners is refused; so is a tag owned by a tag the key does not carry', async () => {
    const c = f.client('t1');
    c.hostinfo.RequestTags = ['tag:nowhere'];
    const r = await c.register({ authKey: await keyOf(f, 'alice') });
    assert.match(r.Error, /^requested tags \[tag:nowhere\] are invalid or not permitted \(tag:nowhere: not defined in tagOwners\)$/);
    const d = f.client('t2');
    d.hostinfo.RequestTags = ['tag:child'];
    assert.match((await d.register({ authKey: await keyOf(f, 'bob') })).Error, /tag:child: user bob is not among its tagOwners/);
  });

  test('a key tagged tag:web may also ask for tag:child (owned by tag:web), keeping its own tag', async () => {
    const c = f.client('child');
    c.hostinfo.RequestTags = ['tag:child'];
    const r = await c.register({ authKey: await keyOf(f, 'bob', { tags: ['tag:web'] }) });
    assert.equal(r.Error, '');
    assert.deepEqual(f.srv.server.tailnet.nodeByNodeKey(c.nodeKey)!.tags, ['tag:child', 'tag:web']);
  });
});

describe('requested tags without a policy', () => {
  const f = useServer();
  test('are refused: nothing owns a tag', async () => {
    const c = f.client('notags');
    c.hostinfo.RequestTags = ['tag:web'];
    const r = await c.register({ authKey: f.srv.bootstrap!.key });
    assert.equal(r.Error, 'requested tags [tag:web] are invalid or not permitted (tag:web: no policy is in force, so no tag has owners)');
  });
});

describe('requested tags at web login', () => {
  const f = useServer({
    files: { 'policy.json': POLICY },
    configure: (c, dir) => {
      c.policy = { mode: 'file', path: path.join(dir, 'policy.json') };
    },
  });
  const authIdOf = (url: string) => /\/register\/([^/]+)$/.exec(url)![1]!;
  const user = async (name: string) => f.srv.server.tailnet.userByName(name) ?? (await f.srv.server.tailnet.createUser({ name }));

  test('approved for a user who owns them: the node is tagged, as with a pre-auth key', async () => {
    const c = f.client('weblogin-web');
    c.hostinfo.RequestTags = ['tag:web'];
    const first = await c.register();
    const waiting = c.register({ followup: first.AuthURL });
    await f.srv.server.webLogin.register(authIdOf(first.AuthURL), await user('alice'));
    const done = await waiting;
    assert.equal(done.MachineAuthorized, true, done.Error);
    assert.deepEqual(f.srv.server.tailnet.nodeByMachineKey(c.machineKey)!.tags, ['tag:web']);
  });

  test('approved for a user who does not own them: refused with the reason, for the admin and the client; no node', async () => {
    const c = f.client('weblogin-sneaky');
    c.hostinfo.RequestTags = ['tag:bobs'];
    const first = await c.register();
    const waiting = c.register({ followup: first.AuthURL });
    await assert.rejects(
      f.srv.server.webLogin.register(authIdOf(first.AuthURL), await user('alice')),
      /requested tags \[tag:bobs\] are invalid or not permitted \(tag:bobs: user alice is not among its tagOwners\)/,
    );
    const done = await waiting;
    assert.equal(done.MachineAuthorized, false);
    assert.match(done.Error, /tag:bobs: user alice is not among its tagOwners/);
    assert.equal(f.srv.server.tailnet.nodeByMachineKey(c.machineKey), undefined);
  });
});
