// Stock tailscaled under a policy file: a policy that denies A→B hides B from A, a reload
// that allows it brings B back and the ping goes through; SSH policy and node capabilities
// reach the netmap; subnet routes approved by CLI and by autoApprovers reach the peer's
// AllowedIPs; an exit node; failover when the primary router stops. Cases 3 and 4.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { afterAll as after, beforeAll as before, describe, test } from 'vitest';
import { skipOrFail, Tailnet, waitFor, type Daemon } from './harness.js';

const skip = skipOrFail();

const tagOwners = { 'tag:a': ['autogroup:member'], 'tag:b': ['autogroup:member'], 'tag:router': ['autogroup:member'] };

function policy(acls: unknown[], extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ tagOwners, acls, ...extra }, null, 2);
}

const DENY = policy([{ action: 'accept', src: ['tag:a'], dst: ['tag:a:*'] }]);
const ALLOW = policy(
  [
    { action: 'accept', src: ['tag:a'], dst: ['tag:a:*', 'tag:b:*', '10.77.0.0/24:*', '10.88.0.0/24:*', 'autogroup:internet:*'] },
    { action: 'accept', src: ['tag:router'], dst: ['tag:router:*'] },
  ],
  {
    ssh: [{ action: 'accept', src: ['tag:a'], dst: ['tag:b'], users: ['root', 'e2e'] }],
    nodeAttrs: [{ target: ['tag:a'], attr: ['https://e2e.test/cap/demo'] }],
    autoApprovers: { routes: { '10.77.0.0/24': ['tag:router'] }, exitNode: ['tag:router'] },
  },
);

describe('stock client: policy, SSH, capabilities, routes', { skip }, () => {
  const tn = new Tailnet({ policy: DENY });
  let a: Daemon;
  let b: Daemon;

  before(async () => {
    await tn.start();
    a = await tn.node('alpha', { key: await tn.authKey({ tags: ['tag:a'] }) });
    b = await tn.node('bravo', { key: await tn.authKey({ tags: ['tag:b'] }) });
  });
  after(async () => {
    await tn.stop();
  });

  test('a policy that denies alpha→bravo: neither sees the other', async () => {
    // A node that alpha may see, joined after bravo: once it shows, alpha's map has had bravo's join too.
    await tn.node('alpha2', { key: await tn.authKey({ tags: ['tag:a'] }) });
    await waitFor('alpha2 at alpha', async () => (await a.peer('alpha2'))?.Online, 30_000);
    assert.equal(await a.peer('bravo'), undefined, 'bravo must not be a peer of alpha');
    assert.equal(await b.peer('alpha'), undefined, 'alpha must not be a peer of bravo');
    const r = await a.ts(['ping', '-c', '2', '--timeout=2s', await b.ip4()], 20_000);
    assert.notEqual(r.code, 0, `ping must fail: ${r.stdout}`);
  });

  test('a reload that allows it: bravo appears at alpha and the ping goes through', async () => {
    fs.writeFileSync(tn.policyPath, ALLOW);
    tn.server?.child.kill('SIGHUP');
    await waitFor('bravo at alpha', async () => (await a.peer('bravo'))?.Online, 30_000);
    await waitFor('alpha at bravo', async () => (await b.peer('alpha'))?.Online, 30_000);
    const out = await a.tsOk(['ping', '--until-direct=false', '-c', '3', 'bravo'], 30_000);
    assert.match(out, /pong from bravo/);
  });

  test('SSH policy and node capabilities are in the netmap', async () => {
    const nm = JSON.parse(await b.tsOk(['debug', 'netmap']));
    const rules = nm.SSHPolicy?.rules ?? nm.SSHPolicy?.Rules ?? [];
    assert.ok(rules.length > 0, `bravo (an SSH destination) gets SSH rules: ${JSON.stringify(nm.SSHPolicy)}`);
    const st = await a.status();
    const caps = Object.keys(st.Self.CapMap ?? {});
    assert.ok(caps.includes('https://e2e.test/cap/demo'), caps.join(', '));
  });

  test('subnet routes: advertised, approved by autoApprovers, in the peer\'s AllowedIPs; exit node', async () => {
    const r = await tn.node('router1', { key: await tn.authKey({ tags: ['tag:router'] }), extra: ['--advertise-routes=10.77.0.0/24', '--advertise-exit-node'] });
    assert.ok(r);
    const p = await waitFor('router1 with its route at alpha', async () => {
      const peer = await a.peer('router1');
      return peer?.PrimaryRoutes?.includes('10.77.0.0/24') ? peer : undefined;
    }, 30_000);
    assert.ok(p.AllowedIPs.includes('10.77.0.0/24'), JSON.stringify(p.AllowedIPs));
    await waitFor('router1 offered as an exit node', async () => (await a.peer('router1'))?.ExitNodeOption === true, 30_000);
  });

  test('subnet routes approved from the CLI; failover when the primary router stops', async () => {
    const r2 = await tn.node('router2', { key: await tn.authKey({ tags: ['tag:a'] }), extra: ['--advertise-routes=10.88.0.0/24'] });
    const node = (await tn.nodes()).find((n: { name: string }) => n.name === 'router2');
    assert.equal((await a.peer('router2'))?.PrimaryRoutes ?? null, null, 'not served before approval');
    await tn.cliOk(['nodes', 'approve-routes', '-i', String(node.id), '--routes', '10.88.0.0/24']);
    await waitFor('router2 serving 10.88.0.0/24 at alpha', async () => (await a.peer('router2'))?.PrimaryRoutes?.includes('10.88.0.0/24'), 30_000);
    // A second router for 10.77.0.0/24 takes over when the first one's daemon stops.
    const r3 = await tn.node('router3', { key: await tn.authKey({ tags: ['tag:router'] }), extra: ['--advertise-routes=10.77.0.0/24'] });
    assert.ok(r3);
    const first = tn.daemons.find((d) => d.name === 'router1')!;
    await first.stop('SIGKILL');
    await waitFor('router3 primary for 10.77.0.0/24 at alpha', async () => (await a.peer('router3'))?.PrimaryRoutes?.includes('10.77.0.0/24'), 70_000, 1_000);
    assert.ok(r2);
  });
});
