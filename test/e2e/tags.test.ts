// Stock client: `tailscale up --advertise-tags` is granted exactly when the policy's
// tagOwners lets the key's user own the tags (the node shows them in its own status), and
// refused otherwise with the reason, which `tailscale up` shows; a re-login with
// --force-reauth can add a tag the user owns.

import assert from 'node:assert/strict';
import { afterAll as after, beforeAll as before, describe, test } from 'vitest';
import { skipOrFail, Tailnet, waitFor } from './harness.js';

const skip = skipOrFail();

const POLICY = JSON.stringify({
  groups: { 'group:ops': ['alice@'] },
  tagOwners: { 'tag:web': ['alice@'], 'tag:db': ['group:ops'], 'tag:bobs': ['bob@'] },
  acls: [{ action: 'accept', src: ['*'], dst: ['*:*'] }],
});

describe('stock client: --advertise-tags', { skip }, () => {
  const tn = new Tailnet({ policy: POLICY });

  before(async () => {
    await tn.start();
  });
  after(async () => {
    await tn.stop();
  });

  test('tags alice owns are granted: the node is tagged in its own status and in the CLI', async () => {
    const d = await tn.node('web', { user: 'alice', extra: ['--advertise-tags=tag:web'] });
    const st = await d.status();
    assert.deepEqual(st.Self.Tags, ['tag:web']);
    const listed = (await tn.nodes()).find((n: { givenName: string }) => n.givenName === 'web');
    assert.ok(listed, 'web is listed');
    assert.ok(JSON.stringify(listed).includes('tag:web'), JSON.stringify(listed));

    // A re-login asking for one more tag alice owns (through group:ops) adds it.
    await d.tsOk(['up', `--login-server=${tn.url}`, `--authkey=${await tn.authKey({ user: 'alice' })}`, '--hostname=web', '--accept-dns=false',
      '--force-reauth', '--advertise-tags=tag:web,tag:db', '--timeout=40s'], 50_000);
    await waitFor('both tags on web', async () => {
      const tags = (await d.status()).Self.Tags ?? [];
      return tags.length === 2 && tags.includes('tag:db') && tags.includes('tag:web');
    }, 30_000);
  });

  test("a tag bob owns is refused for alice's key: tailscale up fails and says why", async () => {
    const d = await tn.daemon('sneaky');
    const r = await d.ts(['up', `--login-server=${tn.url}`, `--authkey=${await tn.authKey({ user: 'alice' })}`, '--hostname=sneaky',
      '--accept-dns=false', '--advertise-tags=tag:bobs', '--timeout=30s'], 40_000);
    assert.notEqual(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, /requested tags \[tag:bobs\] are invalid or not permitted \(tag:bobs: user alice is not among its tagOwners\)/);
    const names = (await tn.nodes()).map((n: { givenName: string }) => n.givenName);
    assert.ok(!names.includes('sneaky'), names.join(', '));
  });
});
