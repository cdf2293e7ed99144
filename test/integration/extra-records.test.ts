// dns.extra_records_path: the file's records are in the first map, a change to the file
// reaches streaming clients, and a broken edit keeps the last good records.

import { test } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { useServer } from '../helpers/fixture.js';

const rec = (name: string, value: string, type = 'A') => ({ name, type, value });

const f = useServer({
  files: { 'records.json': JSON.stringify([rec('grafana.example.test', '100.64.0.10')]) },
  configure: (c, dir) => {
    c.dns.extra_records_path = path.join(dir, 'records.json');
  },
});

test('extra records from the file reach clients; edits are pushed; a bad edit keeps the last good ones', async () => {
  const c = f.client('dnsy');
  await c.register({ authKey: f.srv.bootstrap!.key });
  const first = await c.startStream();
  assert.deepEqual(first.DNSConfig?.ExtraRecords, [{ Name: 'grafana.example.test', Type: 'A', Value: '100.64.0.10' }]);

  const file = path.join(f.dir, 'records.json');
  // Editors save by writing a new file and renaming it over the old one.
  fs.writeFileSync(`${file}.tmp`, JSON.stringify([rec('grafana.example.test', '100.64.0.10'), rec('v6.example.test', 'fd7a:115c:a1e0::10', 'aaaa')]));
  fs.renameSync(`${file}.tmp`, file);
  await c.waitFor((nm) => (nm.dns?.ExtraRecords ?? []).length === 2, 5000, 'second record');
  assert.deepEqual(c.netmap.dns!.ExtraRecords![1], { Name: 'v6.example.test', Type: 'AAAA', Value: 'fd7a:115c:a1e0::10' });

  fs.writeFileSync(file, JSON.stringify([rec('bad.example.test', 'not-an-ip')]));
  assert.equal(f.srv.server.reloadExtraRecords(), false);
  assert.equal(c.netmap.dns!.ExtraRecords!.length, 2);
});
