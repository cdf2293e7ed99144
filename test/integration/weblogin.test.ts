// Interactive (web) login with our own client over real Noise and HTTP/2: the AuthURL, the
// long-polled follow-up, the registration page, the admin API and CLI deciding it, expiry,
// rejection, re-authentication and the cap on waiting registrations.

import { describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import YAML from 'yaml';
import { testBackends } from '../helpers/databases.js';
import { useServer } from '../helpers/fixture.js';
import type { TailscaleClient } from '../../src/client/client.js';
import type { RegisterResponse } from '../../src/tailcfg/types.js';

const run = promisify(execFile);
const BIN = path.resolve(import.meta.dirname, '../../../bin/switchboard.js');

function authId(r: RegisterResponse): string {
  assert.equal(r.Error, '');
  assert.equal(r.MachineAuthorized, false);
  const m = /^http:\/\/127\.0\.0\.1:8080\/register\/(hskey-authreq-[0-9a-f]{24})$/.exec(r.AuthURL);
  assert.ok(m, `AuthURL ${JSON.stringify(r.AuthURL)} is <server_url>/register/<id>`);
  return m[1]!;
}

/** Resolves to 'pending' if `p` has not settled within `ms`. */
async function within<T>(p: Promise<T>, ms: number): Promise<T | 'pending'> {
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([p, new Promise<'pending'>((res) => (timer = setTimeout(() => res('pending'), ms)))]);
  clearTimeout(timer);
  return r;
}

for (const backend of testBackends()) describe(`web login (${backend.name})`, () => {
  const f = useServer({
    db: () => backend.storeOpts(),
    configure: (c) => {
      c.tuning.register_cache_max_entries = 4;
    },
  });
  const api = (method: string, p: string, body?: unknown) =>
    fetch(`${f.url}${p}`, {
      method,
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  let apiKey = '';
  // The real CLI as a subprocess, on the server's unix socket, without our test environment.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SWITCHBOARD_') && !k.startsWith('HEADSCALE_')));
  const cli = (...args: string[]) => run(process.execPath, [BIN, '-c', path.join(f.dir, 'cli.yaml'), ...args], { env });

  test('a client without a key gets a link; the follow-up waits until `auth register` (the real CLI) decides', async () => {
    fs.writeFileSync(
      path.join(f.dir, 'cli.yaml'),
      YAML.stringify({
        unix_socket: f.srv.config.unix_socket,
        noise: { private_key_path: f.srv.config.noise.private_key_path },
        prefixes: { v4: '100.64.0.0/10' },
        dns: { base_domain: 'example.test', override_local_dns: false },
        database: { type: 'sqlite', sqlite: { path: './unused.sqlite' } },
      }),
    );
    apiKey = (await cli('apikeys', 'create')).stdout.trim();
    assert.match(apiKey, /^hskey-api-/);
    await cli('users', 'create', 'alice');

    const c = f.client('laptop');
    const first = await c.register();
    const id = authId(first);
    // Asking again (tailscale up twice) keeps the same registration: no second entry.
    assert.equal(authId(await c.register()), id);
    assert.equal(f.srv.server.webLogin.pending.undecided, 1);

    const page = await fetch(`${f.url}/register/${id}`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type')!, /^text\/html; charset=utf-8/);
    assert.match(page.headers.get('content-security-policy')!, /default-src 'none'/);
    const html = await page.text();
    assert.ok(html.includes('laptop'), 'the page names the machine');
    assert.ok(html.includes(c.machineKey), 'the page shows the machine key');
    assert.ok(html.includes(`switchboard auth register --user &lt;USER&gt; --auth-id ${id}`), 'the page shows the exact command');
    assert.doesNotMatch(html, /<script|<link|src=/i, 'no scripts or external assets');

    const listed = await cli('auth', 'list', '-o', 'json');
    const pending = JSON.parse(listed.stdout) as Array<{ authId: string; hostname: string; machineKey: string }>;
    assert.deepEqual(pending.map((p) => [p.authId, p.hostname, p.machineKey]), [[id, 'laptop', c.machineKey]]);

    const waiting = c.register({ followup: first.AuthURL });
    assert.equal(await within(waiting, 300), 'pending', 'the follow-up waits for a decision');
    const out = await cli('auth', 'register', '--user', 'alice', '--auth-id', id);
    assert.match(out.stdout, /Node laptop registered/);
    const done = await waiting;
    assert.equal(done.MachineAuthorized, true);
    assert.equal(done.Login.LoginName, 'alice');
    const node = f.srv.server.tailnet.nodeByMachineKey(c.machineKey)!;
    assert.equal(node.registerMethod, 'cli');
    assert.equal(node.nodeKey, c.nodeKey);
    const first_map = await c.startStream();
    assert.equal(first_map.Node!.Name, 'laptop.switchboard.internal.');
    assert.equal((await f.srv.server.webLogin.pending.list()).length, 0, 'decided registrations are no longer listed');
    // The link now says it is done; deciding again is refused.
    assert.match(await (await fetch(`${f.url}/register/${id}`)).text(), /has been registered/);
    const again = await api('POST', '/api/v1/auth/register', { user: 'alice', authId: id });
    assert.equal(again.status, 409);
  });

  test('re-authentication of a known machine keeps its node: same id, address and name', async () => {
    const c = f.clients[0]!;
    const before = f.srv.server.tailnet.nodeByMachineKey(c.machineKey)!;
    c.stopStream();
    const r = await c.rotateNodeKey(); // what `tailscale up --force-reauth` sends
    const id = authId(r);
    const html = await (await fetch(`${f.url}/register/${id}`)).text();
    assert.ok(html.includes(`switchboard auth approve --auth-id ${id}`), 'a known machine can be approved for its owner');
    const waiting = c.register({ followup: r.AuthURL });
    // Over the API this time, with the JSON field names headscale's clients send.
    const res = await api('POST', '/api/v1/auth/approve', { authId: id });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {});
    assert.equal((await waiting).MachineAuthorized, true);
    const after = f.srv.server.tailnet.nodeByMachineKey(c.machineKey)!;
    assert.equal(after.id, before.id);
    assert.equal(after.ipv4, before.ipv4);
    assert.equal(after.givenName, before.givenName);
    assert.equal(after.nodeKey, c.nodeKey);
    assert.equal(f.srv.server.tailnet.nodeCount(), [...f.srv.server.tailnet.allNodes()].length);
    assert.equal([...f.srv.server.tailnet.allNodes()].filter((n) => n.machineKey === c.machineKey).length, 1, 'no duplicate');
  });

  test('an expired key: the client is told to make a new one, logs in again, and keeps its node with a fresh expiry', async () => {
    const t = f.srv.server.tailnet;
    const c = f.clients[0]!;
    const before = t.nodeByMachineKey(c.machineKey)!;
    await t.expireNode(before.id);
    const told = await c.register();
    assert.equal(told.NodeKeyExpired, true);
    assert.equal(told.Error, '');
    const r = await c.rotateNodeKey(); // what the client does next (regen)
    const id = authId(r);
    await f.srv.server.webLogin.approve(id);
    const back = await c.register({ followup: r.AuthURL });
    assert.equal(back.MachineAuthorized, true);
    assert.equal(back.Login.LoginName, 'alice', 'approve keeps the owner');
    const after = t.nodeByMachineKey(c.machineKey)!;
    assert.equal(after.id, before.id);
    assert.equal(after.ipv4, before.ipv4);
    assert.ok(after.expiry === null || after.expiry.getTime() > Date.now(), 'no longer expired');
  });

  test('the older POST /api/v1/node/register?user=&key= registers a pending machine too', async () => {
    const c = f.client('desktop');
    const id = authId(await c.register());
    const bad = await api('POST', `/api/v1/node/register?user=nobody&key=${id}`);
    assert.equal(bad.status, 404);
    assert.match(((await bad.json()) as { message: string }).message, /user "nobody" not found/);
    const res = await api('POST', `/api/v1/node/register?user=alice&key=${id}`);
    assert.equal(res.status, 200);
    const { node } = (await res.json()) as { node: { givenName: string; registerMethod: string; user: { name: string } } };
    assert.equal(node.givenName, 'desktop');
    assert.equal(node.registerMethod, 'REGISTER_METHOD_CLI');
    assert.equal(node.user.name, 'alice');
    // The client learns it on its next follow-up (it was not waiting this time).
    assert.equal((await c.register({ followup: `http://127.0.0.1:8080/register/${id}` })).MachineAuthorized, true);
  });

  test('a rejected registration ends the waiting follow-up with an error and creates no node', async () => {
    const c = f.client('intruder');
    const r = await c.register();
    const id = authId(r);
    const waiting = c.register({ followup: r.AuthURL });
    await cli('auth', 'reject', '--auth-id', id);
    const done = await waiting;
    assert.match(done.Error, /rejected/);
    assert.equal(done.MachineAuthorized, false);
    assert.equal(f.srv.server.tailnet.nodeByMachineKey(c.machineKey), undefined);
    // A later follow-up hears the same; approving afterwards is refused.
    assert.match((await c.register({ followup: r.AuthURL })).Error, /rejected/);
    const late = await api('POST', '/api/v1/auth/register', { user: 'alice', authId: id });
    assert.equal(late.status, 409);
  });

  test('unknown and malformed auth ids: 404 and 400, on the page, the API and the CLI', async () => {
    const unknown = 'hskey-authreq-' + '0'.repeat(24);
    assert.equal((await fetch(`${f.url}/register/${unknown}`)).status, 404);
    const bad = await fetch(`${f.url}/register/%3Cscript%3E`);
    assert.equal(bad.status, 400);
    assert.doesNotMatch(await bad.text(), /<script>/);
    assert.equal((await api('POST', '/api/v1/auth/approve', { authId: unknown })).status, 404);
    const malformed = await api('POST', '/api/v1/auth/reject', { authId: 'nope' });
    assert.equal(malformed.status, 400);
    assert.match(((await malformed.json()) as { message: string }).message, /must start with "hskey-authreq-"/);
    assert.equal((await api('POST', '/api/v1/auth/register', { user: 'alice' })).status, 400);
    await assert.rejects(cli('auth', 'approve', '--auth-id', unknown), (err: { stderr: string }) => /no pending registration/.test(err.stderr));
    // approve of a new machine says to pick an owner.
    const c = f.client('newbie');
    const id = authId(await c.register());
    const res = await api('POST', '/api/v1/auth/approve', { authId: id });
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { message: string }).message, /auth register --user/);
    await f.srv.server.webLogin.reject(id);
  });

  test('the page escapes what the client sent: a hostile hostname is shown as text', async () => {
    const evil = '<script>alert(1)</script>"\'&<img src=x>';
    const c = f.client(evil);
    const id = authId(await c.register());
    const html = await (await fetch(`${f.url}/register/${id}`)).text();
    assert.ok(!html.includes('<script>') && !html.includes('<img'), 'no markup from the client');
    assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;&lt;img src=x&gt;'), 'the name is there, escaped');
    await f.srv.server.webLogin.reject(id);
  });

  test('a follow-up of a link from elsewhere (another machine, garbage) just gets a fresh link', async () => {
    const a = f.client('one');
    const b = f.client('two');
    const ra = await a.register();
    const idB = authId(await b.register({ followup: ra.AuthURL }));
    assert.notEqual(idB, authId(ra));
    assert.notEqual(authId(await b.register({ followup: 'not a url' })), '');
    await f.srv.server.webLogin.reject(authId(ra));
    await f.srv.server.webLogin.reject(idB);
  });

  test('a client that gives up releases its waiting follow-up', async () => {
    const c = f.client('impatient');
    const r = await c.register();
    const pending = f.srv.server.webLogin.pending;
    const giveUp = new AbortController();
    const waiting = c.register({ followup: r.AuthURL, signal: giveUp.signal }).catch((err: Error) => err);
    for (let i = 0; pending.waiting === 0 && i < 100; i++) await new Promise((res) => setTimeout(res, 10));
    assert.equal(pending.waiting, 1);
    giveUp.abort();
    const ended = await waiting;
    assert.ok(ended instanceof Error, `the request failed: ${JSON.stringify(ended)}`);
    for (let i = 0; pending.waiting > 0 && i < 100; i++) await new Promise((res) => setTimeout(res, 10));
    assert.equal(pending.waiting, 0, 'the server stopped waiting for the closed stream');
  });

  test('the number of waiting registrations is capped; a full cache refuses new machines clearly', async () => {
    const web = f.srv.server.webLogin;
    const made: TailscaleClient[] = [];
    while ((await web.pending.list()).length < 4) {
      const c = f.client(`flood-${made.length}`);
      authId(await c.register());
      made.push(c);
    }
    const over = await f.client('one-too-many').register();
    assert.equal(over.AuthURL, '');
    assert.match(over.Error, /too many registrations are waiting for approval \(4, tuning\.register_cache_max_entries\)/);
    // A machine already waiting still gets its own link back.
    assert.equal(authId(await made[0]!.register()).length, 38);
    for (const e of await web.pending.list()) await web.reject(e.id);
    assert.equal((await web.pending.list()).length, 0);
  });
});

describe('web login expiry', () => {
  const f = useServer({
    configure: (c) => {
      c.tuning.register_cache_expiration_ms = 400;
    },
  });

  test('a restart ends a waiting follow-up with a transient error; afterwards the old link gets a fresh one', async () => {
    const c = f.client('restarting');
    const r = await c.register();
    const id = authId(r);
    const waiting = c.register({ followup: r.AuthURL }).then(
      (res) => res,
      (err: Error) => err,
    );
    for (let i = 0; f.srv.server.webLogin.pending.waiting === 0 && i < 100; i++) await new Promise((res) => setTimeout(res, 10));
    await f.restart();
    const ended = await waiting;
    assert.ok(ended instanceof Error, `not a RegisterResponse the client would show as a refusal: ${JSON.stringify(ended)}`);
    assert.match(ended.message, /503|shutting down|closed|GOAWAY/);
    c.close();
    const fresh = authId(await c.register({ followup: r.AuthURL }));
    assert.notEqual(fresh, id, 'nothing survived the restart');
  });

  test('an expired registration ends the follow-up, which then gets a fresh link; the old one is gone', async () => {
    const c = f.client('slow');
    const r = await c.register();
    const id = authId(r);
    const t0 = Date.now();
    const next = await c.register({ followup: r.AuthURL });
    assert.ok(Date.now() - t0 >= 300, 'the follow-up waited for the registration to expire');
    const fresh = authId(next);
    assert.notEqual(fresh, id);
    assert.equal((await fetch(`${f.url}/register/${id}`)).status, 404);
    await assert.rejects(f.srv.server.webLogin.register(id, f.srv.server.tailnet.listUsers()[0]!), /no pending registration/);
    assert.equal(f.srv.server.tailnet.nodeByMachineKey(c.machineKey), undefined);
  });

});
