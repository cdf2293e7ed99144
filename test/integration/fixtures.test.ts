// Replays what a real tailscaled v1.80.3 sent (test/fixtures/tailscale-1.80.3)
// byte for byte through our Noise channel, and checks our answers have the shape
// that client accepted.

import { beforeAll as before, describe, test } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { TailscaleClient } from '../../src/client/client.js';
import { readMapFrames } from '../../src/client/frames.js';
import type { MapResponse } from '../../src/tailcfg/types.js';
import { CAPTURES_1_80_3 } from '../helpers/captures.js';
import { useServer } from '../helpers/fixture.js';

const FIXTURES = path.join(CAPTURES_1_80_3, 'node1');
const fixture = (name: string) => fs.readFileSync(path.join(FIXTURES, name), 'utf8');

describe('real tailscaled v1.80.3 requests', () => {
  const f = useServer();
  let client: TailscaleClient;

  before(async () => {
    // node:http2's client: the streaming test below reaches into its session, and this keeps
    // some integration coverage through an HTTP/2 implementation independent of ours.
    client = f.client('node1', { http2: 'node' });
    // The captured requests carry node1's node key; registering it binds that key to our machine.
    const req = JSON.parse(fixture('map-request-1-lite-hostinfo.json')) as { NodeKey: string };
    const r = await client.post('/machine/register', {
      Version: 113,
      NodeKey: req.NodeKey,
      Auth: { AuthKey: f.srv.bootstrap!.key },
      Hostinfo: { Hostname: 'node1' },
    });
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body.toString()).MachineAuthorized, true);
  });

  test('lite updates are accepted with 200 and recorded', async () => {
    for (const name of ['map-request-1-lite-hostinfo.json', 'map-request-3-lite-endpoints.json', 'map-request-4-lite-endpoints.json']) {
      const r = await client.post('/machine/map', fixture(name));
      assert.equal(r.status, 200, `${name}: ${r.body.toString()}`);
    }
    const body = JSON.parse(fixture('map-request-4-lite-endpoints.json')) as { NodeKey: string; Endpoints: string[]; DiscoKey: string };
    const node = f.srv.server.tailnet.nodeByNodeKey(body.NodeKey)!;
    assert.deepEqual(node.endpoints, body.Endpoints);
    assert.equal(node.discoKey, body.DiscoKey);
    assert.equal(node.hostinfo.Hostname, 'node1');
  });

  test('the streaming poll answers with the fields the client acted on', async () => {
    await client.connect();
    const session = (client as unknown as { session: import('node:http2').ClientHttp2Session }).session;
    const req = session.request({ ':method': 'POST', ':path': '/machine/map' });
    req.end(fixture('map-request-2-stream.json'));
    const frames = readMapFrames(req, true);
    const first = (await frames.next()).value as MapResponse;
    req.close();
    const accepted = JSON.parse(fixture('map-response-1-full.json')) as MapResponse;
    for (const key of ['Node', 'DERPMap', 'DNSConfig', 'Domain', 'PacketFilters', 'UserProfiles', 'ControlTime'] as const) {
      assert.ok(first[key] !== undefined, `first map has ${key}`);
    }
    // Every Node field the real client got, we send too (values differ per server).
    for (const key of ['ID', 'StableID', 'Name', 'User', 'Key', 'KeyExpiry', 'Machine', 'DiscoKey', 'Addresses', 'AllowedIPs', 'Hostinfo', 'Created', 'MachineAuthorized', 'CapMap']) {
      assert.ok(key in accepted.Node!, `fixture has ${key}`);
      assert.ok(key in first.Node!, `our Node has ${key}`);
    }
    assert.equal(first.Node!.Key, (JSON.parse(fixture('map-request-2-stream.json')) as { NodeKey: string }).NodeKey);
    assert.match(first.Node!.Machine, /^mkey:[0-9a-f]{64}$/);
    assert.match(first.Node!.KeyExpiry, /^\d{4}-\d\d-\d\dT/);
    assert.deepEqual(first.PacketFilters!.base, [{ SrcIPs: ['*'], DstPorts: [{ IP: '*', Ports: { First: 0, Last: 65535 } }] }]);
  });
});
