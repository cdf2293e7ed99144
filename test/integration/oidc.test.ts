// OIDC login against a real OpenID provider (oidc-provider) on loopback, over real HTTP:
// our client gets an AuthURL, the "browser" (fetch, redirects followed by hand, cookies kept)
// signs in at the provider's own login and consent forms, comes back to /oidc/callback, and
// the waiting registration completes for the right user. Refusals leave no node behind.

import { afterAll, beforeAll, describe, test } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { oidcConfig, reachCallback, signIn, startProvider, type Account } from '../helpers/oidc.js';
import { TailscaleClient } from '../../src/client/client.js';

const ACCOUNTS: Record<string, Account> = {
  alice: { email: 'alice@corp.example', email_verified: true, preferred_username: 'alice', name: 'Alice Liddell', groups: ['eng'] },
  bob: { email: 'bob@other.example', email_verified: true, preferred_username: 'bob', name: 'Bob', groups: ['eng'] },
  carol: { email: 'carol@corp.example', email_verified: true, preferred_username: 'carol', name: 'Carol', groups: ['sales'] },
  dave: { email: 'dave@corp.example', email_verified: false, preferred_username: 'dave', name: 'Dave', groups: ['eng'] },
  gina: { email: 'gina@corp.example', email_verified: true, preferred_username: 'gina', name: 'Gina', groups: ['eng'] },
  hank: { email: 'hank@corp.example', email_verified: true, preferred_username: 'hank', name: 'Hank', groups: ['eng'] },
  ivan: { email: 'ivan@corp.example', email_verified: true, preferred_username: 'ivan', name: 'Ivan', groups: ['eng'] },
  judy: { email: 'judy@corp.example', email_verified: true, preferred_username: 'judy', name: 'Judy', groups: ['eng'] },
};

describe('OIDC login with oidc-provider', () => {
  let idp: Awaited<ReturnType<typeof startProvider>>;
  let srv: TestServer;
  const clients: TailscaleClient[] = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-oidc-'));

  beforeAll(async () => {
    idp = await startProvider('http://127.0.0.1:8080/oidc/callback', ACCOUNTS);
    srv = await startTestServer(
      { type: 'sqlite', path: path.join(dir, 'db.sqlite') },
      oidcConfig(idp.issuer, { allowed_domains: ['corp.example'], allowed_groups: ['eng'], expiry: '1h', expiry_ms: 3_600_000 }),
      dir,
    );
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await srv?.stop();
    await idp?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function pending(hostname: string) {
    const c = new TailscaleClient({ serverUrl: srv.url, hostname });
    clients.push(c);
    const r = await c.register();
    assert.equal(r.MachineAuthorized, false);
    const m = /\/register\/([^/]+)$/.exec(r.AuthURL);
    assert.ok(m);
    return { c, r, id: m[1]! };
  }

  test('the registration link redirects to the provider; signing in registers the node for that user', async () => {
    const { c, r, id } = await pending('alice-laptop');
    const first = await fetch(`${srv.url}/register/${id}`, { redirect: 'manual' });
    assert.equal(first.status, 302);
    const to = new URL(first.headers.get('location')!);
    assert.equal(to.origin, idp.issuer);
    assert.equal(to.searchParams.get('code_challenge_method'), 'S256');
    assert.ok(to.searchParams.get('state') && to.searchParams.get('nonce'));
    assert.equal(to.searchParams.get('redirect_uri'), 'http://127.0.0.1:8080/oidc/callback');

    assert.match(first.headers.get('set-cookie')!, /^switchboard_oidc_state=[^;]+; Path=\/oidc\/callback; HttpOnly; SameSite=Lax/);
    const waiting = c.register({ followup: r.AuthURL });
    const done = await signIn(`${srv.url}/register/${id}`, 'alice', srv.url);
    const html = await done.text();
    assert.equal(done.status, 200, html);
    assert.match(html, /alice-laptop is now on the tailnet as user alice/);
    const answer = await waiting;
    assert.equal(answer.MachineAuthorized, true);
    const node = srv.server.tailnet.nodeByMachineKey(c.machineKey)!;
    assert.equal(node.registerMethod, 'oidc');
    const user = srv.server.tailnet.user(node.userId!)!;
    assert.equal(user.name, 'alice');
    assert.equal(user.email, 'alice@corp.example');
    assert.equal(user.displayName, 'Alice Liddell');
    assert.equal(user.provider, 'oidc');
    assert.equal(user.providerId, `${idp.issuer}/alice`);
    const left = node.expiry!.getTime() - Date.now();
    assert.ok(left > 3_500_000 && left <= 3_600_000, `oidc.expiry applies (${left} ms left)`);

    // A second machine of the same person lands under the same user, not a new one, and
    // what the provider now says about them (a new display name) is taken.
    ACCOUNTS.alice!.name = 'Alice Pleasance Liddell';
    const second = await pending('alice-desktop');
    assert.equal((await signIn(`${srv.url}/register/${second.id}`, 'alice', srv.url)).status, 200);
    assert.equal(srv.server.tailnet.nodeByMachineKey(second.c.machineKey)!.userId, user.id);
    assert.equal([...srv.server.tailnet.allUsers()].filter((u) => u.provider === 'oidc').length, 1);
    assert.equal(srv.server.tailnet.user(user.id)!.displayName, 'Alice Pleasance Liddell');
  });

  for (const [account, why] of [
    ['bob', /email domain &quot;other\.example&quot; is not in oidc\.allowed_domains/],
    ['carol', /none of oidc\.allowed_groups/],
    ['dave', /not verified/],
  ] as const) {
    test(`${account} is refused with a clear page and no node (${why.source})`, async () => {
      const { c, id } = await pending(`${account}-pc`);
      const res = await signIn(`${srv.url}/register/${id}`, account, srv.url);
      assert.equal(res.status, 403);
      assert.match(await res.text(), why);
      assert.equal(srv.server.tailnet.nodeByMachineKey(c.machineKey), undefined);
      assert.equal(srv.server.tailnet.userByName(account), undefined);
    });
  }

  test('a callback with an unknown state, without the state cookie, or replayed, is refused', async () => {
    const bad = await fetch(`${srv.url}/oidc/callback?code=abc&state=forged`);
    assert.equal(bad.status, 400);
    assert.match(await bad.text(), /unknown, already used or expired/);

    // A real callback without the browser's state cookie (sent to someone else) is refused.
    const other = await pending('elsewhere-box');
    const stolen = await reachCallback(`${srv.url}/register/${other.id}`, 'alice', srv.url);
    const noCookie = await fetch(stolen.url);
    assert.equal(noCookie.status, 400);
    assert.match(await noCookie.text(), /not started in this browser/);
    assert.equal(srv.server.tailnet.nodeByMachineKey(other.c.machineKey), undefined);

    // A real callback, used once, then replayed with the same cookie.
    const { c, id } = await pending('replay-box');
    const cb = await reachCallback(`${srv.url}/register/${id}`, 'alice', srv.url);
    const ok = await fetch(cb.url, { headers: { cookie: cb.cookie } });
    assert.equal(ok.status, 200, await ok.text());
    assert.ok(srv.server.tailnet.nodeByMachineKey(c.machineKey));
    const replay = await fetch(cb.url, { headers: { cookie: cb.cookie } });
    assert.equal(replay.status, 400);
    assert.match(await replay.text(), /unknown, already used or expired/);
  });

  test('a provider user whose name a local user already has is refused with a page saying what to do; nothing written', async () => {
    const local = await srv.server.tailnet.createUser({ name: 'gina' });
    const { c, id } = await pending('gina-pc');
    const res = await signIn(`${srv.url}/register/${id}`, 'gina', srv.url);
    assert.equal(res.status, 409);
    const html = await res.text();
    assert.match(html, /the user name &quot;gina&quot; is already taken by a user that is not linked to this sign-in/);
    assert.match(html, /switchboard users rename/);
    assert.equal(srv.server.tailnet.nodeByMachineKey(c.machineKey), undefined);
    assert.deepEqual(
      [...srv.server.tailnet.allUsers()].filter((u) => u.name === 'gina').map((u) => [u.id, u.provider]),
      [[local.id, '']],
      'the local user is untouched and no second one was made',
    );
  });

  test('a user made for a login whose registration then fails is not left behind', async () => {
    // No policy, so no tag has owners: the requested tag ends the registration after the
    // user was made for it.
    const c = new TailscaleClient({ serverUrl: srv.url, hostname: 'hank-ci' });
    clients.push(c);
    c.hostinfo.RequestTags = ['tag:ci'];
    const r = await c.register();
    const id = /\/register\/([^/]+)$/.exec(r.AuthURL)![1]!;
    const res = await signIn(`${srv.url}/register/${id}`, 'hank', srv.url);
    assert.equal(res.status, 400);
    assert.match(await res.text(), /requested tags \[tag:ci\] are invalid or not permitted/);
    assert.equal(srv.server.tailnet.nodeByMachineKey(c.machineKey), undefined);
    assert.equal(srv.server.tailnet.userByName('hank'), undefined, 'the user made for this login was removed');
    assert.equal((await c.register({ followup: r.AuthURL })).Error.includes('tag:ci'), true, 'the client is told why');
  });

  for (const [what, account, spoil, status, why] of [
    ['rejected by an administrator', 'ivan', (s: TestServer, id: string) => s.server.webLogin.reject(id), 409, /was already rejected/],
    [
      'expired',
      'judy',
      // As if its time ran out: the entry's expiry moves into the past.
      async (s: TestServer, id: string) => void ((await s.server.webLogin.pending.get(id))!.expiresAt = new Date(Date.now() - 1)),
      404,
      /no pending registration with auth id .* run `tailscale up` again/,
    ],
  ] as const) {
    test(`a registration ${what} between the redirect and the callback is refused; no user, no node`, async () => {
      const { c, id } = await pending(`${account}-box`);
      const cb = await reachCallback(`${srv.url}/register/${id}`, account, srv.url);
      await spoil(srv, id);
      const res = await fetch(cb.url, { headers: { cookie: cb.cookie } });
      assert.equal(res.status, status);
      assert.match((await res.text()).replace(/&#39;|&quot;/g, "'"), why);
      assert.equal(srv.server.tailnet.nodeByMachineKey(c.machineKey), undefined);
      assert.equal(srv.server.tailnet.userByName(account), undefined);
    });
  }

  test('the callback of an unknown registration link: the page says so', async () => {
    const res = await fetch(`${srv.url}/register/hskey-authreq-000000000000000000000000`, { redirect: 'manual' });
    assert.equal(res.status, 404);
    assert.match(await res.text(), /unknown or has expired/);
  });
});

describe('OIDC with use_expiry_from_token', () => {
  test('the node key expires with the ID token, not after oidc.expiry', async () => {
    const idp = await startProvider('http://127.0.0.1:8080/oidc/callback', ACCOUNTS);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-oidc-exp-'));
    const srv = await startTestServer(
      { type: 'sqlite', path: path.join(dir, 'db.sqlite') },
      oidcConfig(idp.issuer, { use_expiry_from_token: true }),
      dir,
    );
    const c = new TailscaleClient({ serverUrl: srv.url, hostname: 'tok' });
    try {
      const r = await c.register();
      const res = await signIn(r.AuthURL.replace('http://127.0.0.1:8080', srv.url), 'carol', srv.url);
      assert.equal(res.status, 200, await res.text());
      const node = srv.server.tailnet.nodeByMachineKey(c.machineKey)!;
      // oidc-provider's ID tokens live one hour; oidc.expiry (180d) would be far later.
      const left = node.expiry!.getTime() - Date.now();
      assert.ok(left > 3_500_000 && left <= 3_600_000, `token expiry applies (${left} ms left)`);
    } finally {
      c.close();
      await srv.stop();
      await idp.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('OIDC discovery failure', () => {
  test('only_start_if_oidc_is_available: true refuses to start; false starts without OIDC', async () => {
    const dead = http.createServer();
    await new Promise<void>((res) => dead.listen(0, '127.0.0.1', res));
    const issuer = `http://127.0.0.1:${(dead.address() as AddressInfo).port}`;
    await new Promise((res) => dead.close(res)); // nothing listens there now
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-oidc-down-'));
    try {
      await assert.rejects(
        startTestServer({ type: 'sqlite', path: path.join(dir, 'a.sqlite') }, oidcConfig(issuer, { only_start_if_oidc_is_available: true }), dir),
        /oidc: discovery at http:\/\/127\.0\.0\.1:\d+ failed/,
      );
      const srv = await startTestServer({ type: 'sqlite', path: path.join(dir, 'b.sqlite') }, oidcConfig(issuer, { only_start_if_oidc_is_available: false }), dir);
      try {
        assert.equal(srv.server.oidc, null);
        const c = new TailscaleClient({ serverUrl: srv.url, hostname: 'x' });
        const r = await c.register();
        const page = await fetch(r.AuthURL.replace('http://127.0.0.1:8080', srv.url), { redirect: 'manual' });
        assert.equal(page.status, 200, 'without OIDC the page shows the admin command');
        c.close();
      } finally {
        await srv.stop();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
