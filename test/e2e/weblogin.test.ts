// The stock client logs in without a key: `tailscale up --login-server URL` prints the
// AuthURL, the page behind it names the machine, an administrator approves it with the
// real CLI, and the waiting `tailscale up` finishes; the node is online and reaches its
// peer. `--force-reauth` then goes through the same login and keeps the node.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { afterAll as after, beforeAll as before, describe, test } from 'vitest';
import { skipOrFail, Tailnet, upInBackground, waitFor, type Daemon } from './harness.js';

const skip = skipOrFail();

const AUTH_URL = /(http:\/\/127\.0\.0\.1:8080\/register\/(hskey-authreq-[0-9a-f]{24}))/;

describe('stock client: web login', { skip }, () => {
  const tn = new Tailnet();
  let a: Daemon;
  let b: Daemon;

  before(async () => {
    await tn.start();
  });
  after(async () => {
    await tn.stop();
  });

  test('tailscale up without a key prints the AuthURL; `auth register` with the real CLI brings the node up', async () => {
    a = await tn.node('alpha', { user: 'alice' });
    await tn.user('carol');
    b = await tn.daemon('bravo');
    const up = upInBackground(b, tn.url, ['--hostname=bravo']);
    const [, url, id] = await waitFor('the AuthURL from tailscale up', async () => AUTH_URL.exec(up.output()), 40_000);
    // The client's own status carries the same link.
    const st = await b.status();
    assert.equal(st.BackendState, 'NeedsLogin');
    assert.equal(st.AuthURL, url);

    // The page, fetched from inside the namespace where the server listens.
    const page = spawnSync('ip', ['netns', 'exec', tn.ns, 'curl', '-sS', '-D', '-', url!], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(page.status, 0, page.stderr);
    assert.match(page.stdout, /^HTTP\/1\.1 200/);
    assert.match(page.stdout, /content-type: text\/html; charset=utf-8/i);
    assert.ok(page.stdout.includes('bravo'), 'the page names the machine');
    assert.ok(page.stdout.includes(`--auth-id ${id}`), 'the page shows the approve command');

    const pending = await tn.cliJson(['auth', 'list']);
    assert.deepEqual(pending.map((p: { authId: string; hostname: string }) => [p.authId, p.hostname]), [[id, 'bravo']]);
    assert.equal(up.output().includes('Success'), false);
    const out = await tn.cliOk(['auth', 'register', '--user', 'carol', '--auth-id', id!]);
    assert.match(out, /Node bravo registered/);
    assert.equal(await up.done, 0, `tailscale up exits 0 once approved\n${up.output()}`);

    const after = await b.status();
    assert.equal(after.BackendState, 'Running');
    const nodes = await tn.nodes();
    const node = nodes.find((n: { givenName: string }) => n.givenName === 'bravo');
    assert.equal(node.user.name, 'carol');
    assert.equal(node.registerMethod, 'REGISTER_METHOD_CLI');
    await waitFor('alpha online at bravo', async () => (await b.peer('alpha'))?.Online);
    await waitFor('bravo online at alpha', async () => (await a.peer('bravo'))?.Online);
    const ping = await b.tsOk(['ping', '-c', '10', 'alpha'], 40_000);
    assert.match(ping, /pong from alpha/);
  });

  test('--force-reauth goes through the login again and keeps the node: same address, name and id', async () => {
    const before = (await tn.nodes()).find((n: { givenName: string }) => n.givenName === 'bravo');
    const ip = await b.ip4();
    const up = upInBackground(b, tn.url, ['--hostname=bravo', '--force-reauth']);
    const [, , id] = await waitFor('a new AuthURL from tailscale up --force-reauth', async () => AUTH_URL.exec(up.output()), 40_000);
    const pending = await tn.cliJson(['auth', 'list']);
    assert.equal(pending[0].knownNode, 'bravo', 'the registration is of a known machine');
    await tn.cliOk(['auth', 'approve', '--auth-id', id!]);
    assert.equal(await up.done, 0, up.output());
    assert.equal(await b.ip4(), ip);
    const nodes = await tn.nodes();
    assert.equal(nodes.length, 2, 'no duplicate node');
    const now = nodes.find((n: { givenName: string }) => n.givenName === 'bravo');
    assert.equal(now.id, before.id);
    assert.notEqual(now.nodeKey, before.nodeKey, 'the client logged in with a new node key');
    await waitFor('bravo online at alpha', async () => (await a.peer('bravo'))?.Online);
  });

  test('a rejected login ends tailscale up with the reason and adds no node', async () => {
    const c = await tn.daemon('charlie');
    const up = upInBackground(c, tn.url, ['--hostname=charlie']);
    const [, , id] = await waitFor('the AuthURL for charlie', async () => AUTH_URL.exec(up.output()), 40_000);
    await tn.cliOk(['auth', 'reject', '--auth-id', id!]);
    // The client shows the reason (tailscaled's login-state health warning), and is not logged in.
    await waitFor(
      'the rejection reaches the client',
      async () => /rejected by an administrator/.test(up.output()) || (await c.status()).Health?.some((h: string) => /rejected by an administrator/.test(h)),
      40_000,
    );
    assert.notEqual((await c.status()).BackendState, 'Running');
    assert.equal((await tn.nodes()).length, 2);
    assert.ok(!(await tn.nodes()).some((n: { givenName: string }) => n.givenName === 'charlie'));
  });
});
