// The extra records file format: headscale's JSON list of {name, type, value}.

import { test } from 'vitest';
import assert from 'node:assert/strict';
import { parseExtraRecords } from '../../src/dns/extra-records.js';

test('parses records, upper-casing the type; empty file is no records', () => {
  assert.deepEqual(parseExtraRecords('[{"name":"a.example.test","type":"a","value":"100.64.0.1"}]', 'f.json'), [
    { name: 'a.example.test', type: 'A', value: '100.64.0.1' },
  ]);
  assert.deepEqual(parseExtraRecords('  \n', 'f.json'), []);
});

test('errors name the file, the record and the field', () => {
  const bad: Array<[string, RegExp]> = [
    ['{', /f\.json: not valid JSON/],
    ['{"name":"x"}', /expected a JSON list/],
    ['[1]', /record 0: expected/],
    ['[{"name":"a.test","type":"A","value":"100.64.0.1","ttl":5}]', /record 0: unknown field "ttl"/],
    ['[{"name":"a.test","type":"A","value":"100.64.0.1"},{"name":"-bad-","type":"A","value":"100.64.0.1"}]', /record 1: "name"/],
    ['[{"name":"a.test","type":"CNAME","value":"b.test"}]', /"type" "CNAME" is not supported/],
    ['[{"name":"a.test","type":"AAAA","value":"100.64.0.1"}]', /"value" "100\.64\.0\.1" is not an IPv6 address/],
  ];
  for (const [text, re] of bad) assert.throws(() => parseExtraRecords(text, 'f.json'), re, text);
});

test('config: dns.extra_records and dns.extra_records_path are mutually exclusive; the path resolves', async () => {
  const { loadConfig } = await import('../../src/config/load.js');
  const cwd = '/tmp';
  const both = {
    SWITCHBOARD_DNS_EXTRA_RECORDS: '[{"name":"a.example.test","type":"A","value":"100.64.0.1"}]',
    SWITCHBOARD_DNS_EXTRA_RECORDS_PATH: '/etc/switchboard/records.json',
  };
  assert.throws(() => loadConfig({ cwd, env: both }), /dns\.extra_records_path.*mutually exclusive/s);
  const { config } = loadConfig({ cwd, env: { SWITCHBOARD_DNS_EXTRA_RECORDS_PATH: '/etc/switchboard/records.json' } });
  assert.equal(config.dns.extra_records_path, '/etc/switchboard/records.json');
});
