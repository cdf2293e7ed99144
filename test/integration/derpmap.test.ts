// The DERP map from derp.paths reaches clients in their first map, and a changed file
// reaches streaming clients on the next refresh (derp.auto_update_enabled).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TailscaleClient } from '../../src/client/client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const region = (id: number, host: string) =>
  `regions:\n  ${id}:\n    regionid: ${id}\n    regioncode: r${id}\n    regionname: Region ${id}\n    nodes:\n      - name: ${id}a\n        regionid: ${id}\n        hostname: ${host}\n        ipv4: 127.0.0.1\n        stunport: 3478\n        derpport: 443\n`;

let srv: TestServer;
let dir: string;
let file: string;
const clients: TailscaleClient[] = [];

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-derp-'));
  file = path.join(dir, 'derp.yaml');
  fs.writeFileSync(file, region(900, 'derp1.example.test'));
  srv = await startTestServer({ type: 'sqlite', path: path.join(dir, 'db.sqlite') }, (c) => {
    c.derp.paths = [file];
    c.derp.auto_update_enabled = true;
    c.derp.update_frequency = '200ms';
    c.derp.update_frequency_ms = 200;
  }, dir);
});
after(async () => {
  for (const c of clients) c.close();
  await srv.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the DERP map file reaches clients, and so does a change to it', async () => {
  const c = new TailscaleClient({ serverUrl: srv.url, hostname: 'derpy' });
  clients.push(c);
  await c.register({ authKey: srv.bootstrap!.key });
  const first = await c.startStream();
  assert.deepEqual(Object.keys(first.DERPMap!.Regions), ['900']);
  assert.equal(first.DERPMap!.Regions['900']!.Nodes[0]!.HostName, 'derp1.example.test');
  fs.writeFileSync(file, region(900, 'derp1.example.test') + region(901, 'derp2.example.test').replace('regions:\n', ''));
  await c.waitFor((nm) => Object.keys(nm.derpMap?.Regions ?? {}).length === 2, 5000, 'second region');
  assert.equal(c.netmap.derpMap!.Regions['901']!.RegionCode, 'r901');
});
