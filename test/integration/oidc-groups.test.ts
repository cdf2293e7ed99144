// OIDC groups in the policy (oidc.groups): a user's provider groups, stored at each login,
// make them a member of the policy groups the policy declares; a later login with other
// groups changes the policy, and the streamed maps of the nodes concerned follow. A real
// oidc-provider on loopback, the fetch browser, our own control client streaming maps.

import { afterAll, beforeAll, describe, test } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TailscaleClient } from '../../src/client/client.js';
import { oidcConfig, signIn, startProvider, type Account, type TestProvider } from '../helpers/oidc.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const ACCOUNTS: Record<string, Account> = {
  erin: { email: 'erin@corp.example', email_verified: true, preferred_username: 'erin', name: 'Erin', groups: ['eng', 'all-staff'] },
  finn: { email: 'finn@corp.example', email_verified: true, preferred_username: 'finn', name: 'Finn', groups: ['Platform Team'] },
};

// group:eng has a static member (ops) and gets erin through the provider; "all-staff" is
// not declared, so it makes erin a member of nothing. tag:ci is owned by group:eng.
const POLICY = `{
  "groups": {"group:eng": ["ops@"], "group:platform": []},
  "tagOwners": {"tag:ci": ["group:eng"]},
  "acls": [
    {"action": "accept", "src": ["group:eng"], "dst": ["group:eng:*"]},
    {"action": "accept", "src": ["group:platform"], "dst": ["ops@:22"]},
  ],
}`;

describe('OIDC groups as policy group members', () => {
  let idp: TestProvider;
  let srv: TestServer;
  const clients: TailscaleClient[] = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-oidc-groups-'));

  beforeAll(async () => {
    fs.writeFileSync(path.join(dir, 'policy.hujson'), POLICY);
    idp = await startProvider('http://127.0.0.1:8080/oidc/callback', ACCOUNTS);
    srv = await startTestServer(
      { type: 'sqlite', path: path.join(dir, 'db.sqlite') },
      (c) => {
        oidcConfig(idp.issuer, { groups: { enabled: true, claim: 'groups', prefix: '', map: {} } })(c);
        c.policy = { mode: 'file', path: path.join(dir, 'policy.hujson') };
      },
      dir,
    );
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await srv?.stop();
    await idp?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function client(hostname: string, serverUrl = srv.url): TailscaleClient {
    const c = new TailscaleClient({ serverUrl, hostname });
    clients.push(c);
    return c;
  }

  async function joinWithKey(hostname: string, user: string): Promise<TailscaleClient> {
    const t = srv.server.tailnet;
    const u = t.userByName(user) ?? (await t.createUser({ name: user }));
    const { key } = await t.createPreAuthKey({ userId: u.id, reusable: false, ephemeral: false, expiration: null, tags: [] });
    const c = client(hostname);
    assert.equal((await c.register({ authKey: key })).MachineAuthorized, true);
    await c.startStream();
    return c;
  }

  /** Registers a new machine through OIDC as `account`; returns it streaming. */
  async function joinWithOidc(hostname: string, account: string): Promise<TailscaleClient> {
    const c = client(hostname);
    const r = await c.register();
    const waiting = c.register({ followup: r.AuthURL });
    const res = await signIn(r.AuthURL.replace('http://127.0.0.1:8080', srv.url), account, srv.url);
    assert.equal(res.status, 200, await res.text());
    assert.equal((await waiting).MachineAuthorized, true);
    await c.startStream();
    return c;
  }

  test('provider groups join declared policy groups; a login with other groups changes the maps', async () => {
    const ops = await joinWithKey('ops-box', 'ops');
    assert.equal(ops.netmap.peers.size, 0, 'ops is alone in group:eng so far');

    const laptop = await joinWithOidc('erin-laptop', 'erin');
    const erin = srv.server.tailnet.userByName('erin')!;
    assert.deepEqual(erin.oidcGroups, ['all-staff', 'eng'], 'the claim is stored on the user');
    await ops.waitFor((nm) => !!nm.peerByName('erin-laptop'), 5000, 'erin (group:eng through the provider) to appear to ops');
    await laptop.waitFor((nm) => !!nm.peerByName('ops-box'), 5000, 'ops to appear to erin');
    assert.deepEqual(srv.server.policy.view.refusedTags(erin.id, [], ['tag:ci']), [], 'group:eng owns tag:ci, erin may use it');

    // erin moves teams at the provider; her next login (another machine) says so.
    ACCOUNTS.erin!.groups = ['sales'];
    await joinWithOidc('erin-desktop', 'erin');
    assert.deepEqual(srv.server.tailnet.userByName('erin')!.oidcGroups, ['sales']);
    await ops.waitFor((nm) => !nm.peerByName('erin-laptop') && !nm.peerByName('erin-desktop'), 5000, 'erin to leave ops\'s map');
    await laptop.waitFor((nm) => !nm.peerByName('ops-box'), 5000, 'ops to leave erin\'s map');
    assert.equal(srv.server.policy.view.refusedTags(erin.id, [], ['tag:ci']).length, 1, 'no longer a tag owner');

    // And back: membership follows each login, both ways.
    ACCOUNTS.erin!.groups = ['eng'];
    await joinWithOidc('erin-tablet', 'erin');
    await ops.waitFor((nm) => !!nm.peerByName('erin-laptop') && !!nm.peerByName('erin-tablet'), 5000, 'erin to come back');
  });

  test('the stored groups survive a restart', async () => {
    srv = await srv.restart();
    const t = srv.server.tailnet;
    const opsNode = [...t.allNodes()].find((n) => n.hostname === 'ops-box')!;
    const erinNode = [...t.allNodes()].find((n) => n.hostname === 'erin-laptop')!;
    assert.ok(srv.server.policy.view.canSee(opsNode.id, erinNode.id), 'erin is still in group:eng after the restart');
  });

  test('a provider group the policy spells differently joins it through oidc.groups.map', async () => {
    const mapped = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-oidc-map-'));
    fs.writeFileSync(path.join(mapped, 'policy.hujson'), POLICY);
    const other = await startTestServer(
      { type: 'sqlite', path: path.join(mapped, 'db.sqlite') },
      (c) => {
        oidcConfig(idp.issuer, { groups: { enabled: true, claim: 'groups', prefix: '', map: { 'Platform Team': 'group:platform' } } })(c);
        c.policy = { mode: 'file', path: path.join(mapped, 'policy.hujson') };
      },
      mapped,
    );
    try {
      const t = other.server.tailnet;
      const ops = await t.createUser({ name: 'ops' });
      const { key } = await t.createPreAuthKey({ userId: ops.id, reusable: false, ephemeral: false, expiration: null, tags: [] });
      const box = client('ops-box', other.url);
      await box.register({ authKey: key });
      const c = client('finn-pc', other.url);
      const r = await c.register();
      const res = await signIn(r.AuthURL.replace('http://127.0.0.1:8080', other.url), 'finn', other.url);
      assert.equal(res.status, 200, await res.text());
      const finnNode = t.nodeByMachineKey(c.machineKey)!;
      const opsNode = t.nodeByMachineKey(box.machineKey)!;
      // group:platform may reach ops on port 22, so finn's node sees ops-box and the rule.
      assert.ok(other.server.policy.view.canSee(finnNode.id, opsNode.id), 'finn is in group:platform through the map');
      const filter = other.server.policy.view.packetFilter(opsNode.id);
      assert.ok(
        filter.some((r) => r.SrcIPs.includes(finnNode.ipv4!) && (r.DstPorts ?? []).some((d) => d.Ports.First === 22)),
        `ops-box accepts finn on port 22: ${JSON.stringify(filter)}`,
      );
    } finally {
      await other.stop();
      fs.rmSync(mapped, { recursive: true, force: true });
    }
  });
});
