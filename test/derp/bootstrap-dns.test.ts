// /bootstrap-dns content: every DERP node host name with its addresses; a name that fails
// or hangs is left out; answers are cached; concurrent requests share one lookup round.

import { test } from 'vitest';
import assert from 'node:assert/strict';
import { BootstrapDns } from '../../src/derp/server/bootstrap-dns.js';
import type { DERPMap } from '../../src/tailcfg/types.js';

const map: DERPMap = {
  Regions: {
    '1': { RegionID: 1, RegionCode: 'a', RegionName: 'A', Nodes: [{ Name: '1a', RegionID: 1, HostName: 'b.example' }, { Name: '1b', RegionID: 1, HostName: 'a.example' }] },
    '2': { RegionID: 2, RegionCode: 'b', RegionName: 'B', Nodes: [{ Name: '2a', RegionID: 2, HostName: 'broken.example' }, { Name: '2b', RegionID: 2, HostName: 'slow.example' }] },
  },
};

test('names resolve into sorted JSON; failures and timeouts are left out; the answer is cached', async () => {
  let lookups = 0;
  const dns = new BootstrapDns(() => map, async (name) => {
    lookups++;
    if (name === 'broken.example') throw new Error('NXDOMAIN');
    if (name === 'slow.example') return new Promise(() => {});
    return name === 'a.example' ? ['192.0.2.1', '2001:db8::1'] : ['192.0.2.2'];
  }, 50);
  const [one, two] = await Promise.all([dns.answer(), dns.answer()]);
  assert.equal(one, '{"a.example":["192.0.2.1","2001:db8::1"],"b.example":["192.0.2.2"]}');
  assert.equal(two, one);
  assert.equal(lookups, 4, 'one round for both requests');
  assert.equal(await dns.answer(), one);
  assert.equal(lookups, 4, 'cached');
});
