// Stock tailscaled joins with each kind of pre-auth key, sees its peers online, pings them
// directly and through the DERP map's relay, and shows MagicDNS names; a rename from the
// CLI reaches the peer. Cases 1 and 2 of the stock-client suite.

import assert from 'node:assert/strict';
import { afterAll as after, beforeAll as before, describe, test } from 'vitest';
import { skipOrFail, Tailnet, waitFor, type Daemon } from './harness.js';

const skip = skipOrFail();

describe('stock client: join, ping, MagicDNS', { skip }, () => {
  const tn = new Tailnet();
  let a: Daemon;
  let b: Daemon;

  before(async () => {
    await tn.start();
  });
  after(async () => {
    await tn.stop();
  });

  test('a reusable key joins two nodes; each sees the other online with its address', async () => {
    const key = await tn.authKey({ user: 'alice', reusable: true });
    a = await tn.node('alpha', { key });
    b = await tn.node('bravo', { key });
    const ipA = await a.ip4();
    const ipB = await b.ip4();
    assert.match(ipA, /^100\.64\.\d+\.\d+$/);
    assert.notEqual(ipA, ipB);
    const peer = await waitFor('bravo online at alpha', async () => {
      const p = await a.peer('bravo');
      return p?.Online ? p : undefined;
    });
    assert.deepEqual(peer.TailscaleIPs.filter((x: string) => x.includes('.')), [ipB]);
    const back = await waitFor('alpha online at bravo', async () => {
      const p = await b.peer('alpha');
      return p?.Online ? p : undefined;
    });
    assert.ok(back.TailscaleIPs.includes(ipA));
    const nodes = await tn.nodes();
    assert.equal(nodes.length, 2);
    assert.ok(nodes.every((n: { online: boolean }) => n.online), JSON.stringify(nodes));
  });

  test('ping both ways, directly', async () => {
    for (const [from, to] of [[a, 'bravo'], [b, 'alpha']] as const) {
      const out = await from.tsOk(['ping', '-c', '10', to], 40_000);
      assert.match(out, new RegExp(`pong from ${to} \\(100\\.64\\.\\d+\\.\\d+\\) via (?!DERP)`), out);
    }
  });

  test('a forced-DERP node reaches its peer through the relay in the DERP map', async () => {
    const key = await tn.authKey({ user: 'alice' });
    const c = await tn.node('charlie', { key, env: { TS_DEBUG_ALWAYS_USE_DERP: 'true' } });
    const st = await c.status();
    assert.equal(st.BackendState, 'Running');
    await waitFor('alpha online at charlie', async () => (await c.peer('alpha'))?.Online);
    const out = await c.tsOk(['ping', '--until-direct=false', '-c', '5', 'alpha'], 40_000);
    assert.match(out, /pong from alpha .* via DERP\(e2e\)/, out);
    // The relay's region is the node's home: it came from Switchboard's DERP map.
    const nc = await c.tsOk(['netcheck'], 30_000);
    assert.match(nc, /e2e/, nc);
  });

  test('a single-use key works once; the second use is refused', async () => {
    const key = await tn.authKey({ user: 'bob' });
    await tn.node('delta', { key });
    const e = await tn.daemon('echo');
    const r = await e.ts(['up', `--login-server=${tn.url}`, `--authkey=${key}`, '--hostname=echo', '--accept-dns=false', '--timeout=15s'], 30_000);
    assert.notEqual(r.code, 0, 'a used single-use key must not log a second node in');
    assert.ok(!(await tn.nodes()).some((n: { name: string }) => n.name === 'echo'));
  });

  test('an ephemeral key joins, and the node is removed after it leaves', async () => {
    const key = await tn.authKey({ user: 'bob', ephemeral: true });
    const f = await tn.node('foxtrot', { key });
    await waitFor('foxtrot online at alpha', async () => (await a.peer('foxtrot'))?.Online);
    const listed = (await tn.nodes()).find((n: { name: string }) => n.name === 'foxtrot');
    assert.ok(listed, 'the ephemeral node is listed while connected');
    // Logging out an ephemeral node deletes it at once, as Tailscale does.
    await f.tsOk(['logout']);
    await waitFor('foxtrot removed', async () => !(await tn.nodes()).some((n: { name: string }) => n.name === 'foxtrot'), 20_000, 500);
    await waitFor('foxtrot gone at alpha', async () => !(await a.peer('foxtrot')), 20_000);
  });

  test('a tagged key gives the node its tags, as the client reports them', async () => {
    const key = await tn.authKey({ tags: ['tag:server'] });
    const g = await tn.node('golf', { key });
    const self = (await g.status()).Self;
    assert.deepEqual(self.Tags, ['tag:server']);
    const p = await waitFor('golf at alpha', async () => a.peer('golf'));
    assert.deepEqual(p.Tags, ['tag:server']);
  });

  test('MagicDNS: names under base_domain, the DNS config the client shows', async () => {
    const st = await a.status();
    assert.equal(st.Self.DNSName, 'alpha.e2e.test.');
    assert.equal(st.MagicDNSSuffix, 'e2e.test');
    assert.equal((await a.peer('bravo')).DNSName, 'bravo.e2e.test.');
    const dns = await a.tsOk(['dns', 'status']);
    assert.match(dns, /MagicDNS: enabled/i, dns);
    assert.match(dns, /e2e\.test/, dns);
    const who = await a.tsOk(['whois', await b.ip4()]);
    assert.match(who, /bravo/, who);
    assert.match(who, /alice/, who);
  });

  test('a rename from the CLI reaches the peer', async () => {
    const id = (await tn.nodes()).find((n: { name: string }) => n.name === 'bravo').id;
    await tn.cliOk(['nodes', 'rename', '-i', String(id), 'bravo-renamed']);
    await waitFor('the new name at alpha', async () => (await a.peer('bravo-renamed'))?.DNSName === 'bravo-renamed.e2e.test.', 20_000);
    await waitFor('the new name at bravo itself', async () => (await b.status()).Self.DNSName === 'bravo-renamed.e2e.test.', 20_000);
    const out = await a.tsOk(['ping', '-c', '5', 'bravo-renamed'], 30_000);
    assert.match(out, /pong from bravo-renamed/);
  });
});
