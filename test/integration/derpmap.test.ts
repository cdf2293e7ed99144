// The DERP map from derp.paths reaches clients in their first map, and a changed file
// reaches streaming clients on the next refresh (derp.auto_update_enabled).

import { test } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { useServer } from '../helpers/fixture.js';

const region = (id: number, host: string) =>
  `regions:\n  ${id}:\n    regionid: ${id}\n    regioncode: r${id}\n    regionname: Region ${id}\n    nodes:\n      - name: ${id}a\n        regionid: ${id}\n        hostname: ${host}\n        ipv4: 127.0.0.1\n        stunport: 3478\n        derpport: 443\n`;

const f = useServer({
  files: { 'derp.yaml': region(900, 'derp1.example.test') },
  configure: (c, dir) => {
    c.derp.paths = [path.join(dir, 'derp.yaml')];
    c.derp.auto_update_enabled = true;
    c.derp.update_frequency = '200ms';
    c.derp.update_frequency_ms = 200;
  },
});

test('the DERP map file reaches clients, and so does a change to it', async () => {
  const c = f.client('derpy');
  await c.register({ authKey: f.srv.bootstrap!.key });
  const first = await c.startStream();
  assert.deepEqual(Object.keys(first.DERPMap!.Regions), ['900']);
  assert.equal(first.DERPMap!.Regions['900']!.Nodes[0]!.HostName, 'derp1.example.test');
  fs.writeFileSync(path.join(f.dir, 'derp.yaml'), region(900, 'derp1.example.test') + region(901, 'derp2.example.test').replace('regions:\n', ''));
  await c.waitFor((nm) => Object.keys(nm.derpMap?.Regions ?? {}).length === 2, 5000, 'second region');
  assert.equal(c.netmap.derpMap!.Regions['901']!.RegionCode, 'r901');
});
