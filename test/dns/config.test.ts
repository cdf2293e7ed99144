import { test } from 'vitest';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { buildDNSConfig, reverseZones } from '../../src/dns/config.js';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import type { DNSConfig } from '../../src/tailcfg/types.js';
import { CAPTURES_1_80_3 } from '../helpers/captures.js';

const FIXTURE = path.join(CAPTURES_1_80_3, 'node1', 'map-response-1-full.json');

function dns(over: Partial<Config['dns']>): Config['dns'] {
  const { config } = loadConfig({ env: {} });
  return { ...config.dns, ...over };
}

const DEFAULT_PREFIXES = { v4: '100.64.0.0/10', v6: 'fd7a:115c:a1e0::/48' };

test('MagicDNS routes match what headscale sent a real tailscale 1.80.3 client', () => {
  const fixture = JSON.parse(readFileSync(FIXTURE, 'utf8')) as { DNSConfig: DNSConfig };
  const got = buildDNSConfig(dns({ base_domain: 'oracle.internal', nameservers: { global: [], split: {} }, override_local_dns: false }), DEFAULT_PREFIXES);
  assert.deepEqual(got, fixture.DNSConfig);
});

test('resolvers: override_local_dns picks Resolvers or FallbackResolvers; DoH URLs pass through', () => {
  const global = ['1.1.1.1', 'https://dns.nextdns.io/abc123'];
  const on = buildDNSConfig(dns({ nameservers: { global, split: {} } }), DEFAULT_PREFIXES)!;
  assert.deepEqual(on.Resolvers, [{ Addr: '1.1.1.1' }, { Addr: 'https://dns.nextdns.io/abc123' }]);
  assert.equal(on.FallbackResolvers, undefined);
  const off = buildDNSConfig(dns({ override_local_dns: false, nameservers: { global, split: {} } }), DEFAULT_PREFIXES)!;
  assert.equal(off.Resolvers, undefined);
  assert.deepEqual(off.FallbackResolvers, [{ Addr: '1.1.1.1' }, { Addr: 'https://dns.nextdns.io/abc123' }]);
});

test('split DNS routes, search domains after base_domain, extra records', () => {
  const c = buildDNSConfig(
    dns({
      base_domain: 'ts.example',
      search_domains: ['corp.example', 'ts.example'],
      nameservers: { global: ['9.9.9.9'], split: { 'corp.example': ['10.0.0.53', '10.0.0.54'] } },
      extra_records: [{ name: 'grafana.ts.example', type: 'A', value: '100.64.0.3' }],
    }),
    { v4: '100.64.0.0/24', v6: null },
  )!;
  assert.deepEqual(c.Routes, { 'corp.example': [{ Addr: '10.0.0.53' }, { Addr: '10.0.0.54' }], '0.64.100.in-addr.arpa': [] });
  assert.deepEqual(c.Domains, ['ts.example', 'corp.example']);
  assert.equal(c.Proxied, true);
  assert.deepEqual(c.ExtraRecords, [{ Name: 'grafana.ts.example', Type: 'A', Value: '100.64.0.3' }]);
});

test('without MagicDNS: no reverse routes, not proxied; nothing at all gives undefined', () => {
  const c = buildDNSConfig(dns({ magic_dns: false, base_domain: '', nameservers: { global: ['9.9.9.9'], split: {} } }), DEFAULT_PREFIXES)!;
  assert.deepEqual(c, { Resolvers: [{ Addr: '9.9.9.9' }] });
  assert.equal(buildDNSConfig(dns({ magic_dns: false, base_domain: '', override_local_dns: false, nameservers: { global: [], split: {} } }), DEFAULT_PREFIXES), undefined);
});

test('reverse zones derived from other prefixes', () => {
  assert.deepEqual(reverseZones('100.64.0.0/16'), ['64.100.in-addr.arpa']);
  assert.deepEqual(reverseZones('100.100.0.0/15'), ['100.100.in-addr.arpa', '101.100.in-addr.arpa']);
  assert.deepEqual(reverseZones('100.64.1.0/24'), ['1.64.100.in-addr.arpa']);
  // Below /24 only whole-address zones exist: one per address.
  const v26 = reverseZones('100.64.1.128/26');
  assert.equal(v26.length, 64);
  assert.equal(v26[0], '128.1.64.100.in-addr.arpa');
  assert.equal(v26[63], '191.1.64.100.in-addr.arpa');
  const v10 = reverseZones('100.64.0.0/10');
  assert.equal(v10.length, 64);
  assert.equal(v10[0], '64.100.in-addr.arpa');
  assert.equal(v10[63], '127.100.in-addr.arpa');
  assert.deepEqual(reverseZones('fd7a:115c:a1e0::/48'), ['0.e.1.a.c.5.1.1.a.7.d.f.ip6.arpa']);
  assert.deepEqual(reverseZones('fd7a:115c:a1e0:ab12::/64'), ['2.1.b.a.0.e.1.a.c.5.1.1.a.7.d.f.ip6.arpa']);
  assert.deepEqual(reverseZones('fd7a:115c:a1e0:8000::/50'), [
    '8.0.e.1.a.c.5.1.1.a.7.d.f.ip6.arpa',
    '9.0.e.1.a.c.5.1.1.a.7.d.f.ip6.arpa',
    'a.0.e.1.a.c.5.1.1.a.7.d.f.ip6.arpa',
    'b.0.e.1.a.c.5.1.1.a.7.d.f.ip6.arpa',
  ]);
  assert.deepEqual(reverseZones('100.64.0.7/32'), ['7.0.64.100.in-addr.arpa']);
});

test('buildDNSConfig uses the configured prefixes, not the default ones', () => {
  const c = buildDNSConfig(dns({}), { v4: '100.96.0.0/12', v6: 'fd7a:115c:a1e0:1::/64' })!;
  const zones = Object.keys(c.Routes!);
  assert.equal(zones.length, 16 + 1);
  assert.ok(zones.includes('96.100.in-addr.arpa') && zones.includes('111.100.in-addr.arpa'));
  assert.ok(!zones.includes('64.100.in-addr.arpa'));
  assert.ok(zones.includes('1.0.0.0.0.e.1.a.c.5.1.1.a.7.d.f.ip6.arpa'));
});
