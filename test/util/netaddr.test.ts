import { test } from 'vitest';
import assert from 'node:assert/strict';
import {
  parseAddress,
  formatAddress,
  canonicalAddress,
  parsePrefix,
  maskPrefix,
  formatPrefix,
  prefixContains,
  prefixCovers,
  prefixSize,
  prefixAddresses,
  ipv6Nibbles,
  splitHostPort,
  isHostname,
  isIP,
} from '../../src/util/netaddr.js';

test('IPv4 parsing is strict', () => {
  assert.equal(parseAddress('100.64.0.1')?.value, 0x64400001n);
  for (const bad of ['100.64.0', '100.64.0.256', '01.2.3.4', '1.2.3.4.5', '1.2.3.-4', ' 1.2.3.4']) assert.equal(parseAddress(bad), null, bad);
});

test('IPv6 parsing and RFC 5952 formatting', () => {
  const cases: Array<[string, string]> = [
    ['fd7a:115c:a1e0::1', 'fd7a:115c:a1e0::1'],
    ['FD7A:115C:A1E0:0000:0000:0000:0000:0001', 'fd7a:115c:a1e0::1'],
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['::ffff:192.0.2.1', '::ffff:c000:201'],
    ['0:0:1:0:0:0:1:0', '0:0:1::1:0'],
  ];
  for (const [input, want] of cases) assert.equal(canonicalAddress(input), want, input);
  for (const bad of ['1:2:3:4:5:6:7:8:9', '1::2::3', ':::', 'fe80::1%eth0', '12345::', '1:2:3:4:5:6:7', '::1.2.3']) assert.equal(parseAddress(bad), null, bad);
  assert.equal(formatAddress(1n, 6), '::1');
});

test('prefixes: parse, mask, contain, size, iterate', () => {
  const p = parsePrefix('100.64.0.0/10');
  assert.equal(formatPrefix(p), '100.64.0.0/10');
  assert.equal(formatPrefix(maskPrefix(parsePrefix('100.64.1.7/24'))), '100.64.1.0/24');
  assert.ok(prefixContains(p, parseAddress('100.127.255.255')!));
  assert.ok(!prefixContains(p, parseAddress('100.128.0.0')!));
  assert.ok(!prefixContains(p, parseAddress('fd7a:115c:a1e0::1')!));
  assert.ok(prefixCovers(p, parsePrefix('100.64.0.0/16')));
  assert.ok(!prefixCovers(parsePrefix('100.64.0.0/16'), p));
  assert.equal(prefixSize(parsePrefix('fd7a:115c:a1e0::/48')), 1n << 80n);
  const first = [...prefixAddresses(parsePrefix('100.64.0.0/30'))].map((v) => formatAddress(v, 4));
  assert.deepEqual(first, ['100.64.0.0', '100.64.0.1', '100.64.0.2', '100.64.0.3']);
  const it = prefixAddresses(parsePrefix('fd7a:115c:a1e0::/48'), parseAddress('fd7a:115c:a1e0::ffff')!.value);
  assert.equal(formatAddress(it.next().value as bigint, 6), 'fd7a:115c:a1e0::ffff');
  assert.equal(formatAddress(it.next().value as bigint, 6), 'fd7a:115c:a1e0::1:0');
  assert.throws(() => parsePrefix('100.64.0.0/33'));
});

test('ipv6Nibbles', () => {
  assert.equal(ipv6Nibbles(parseAddress('fd7a:115c:a1e0::')!.value).slice(0, 12).join(''), 'fd7a115ca1e0');
  assert.equal(ipv6Nibbles(1n).length, 32);
});

test('splitHostPort and isHostname', () => {
  assert.deepEqual(splitHostPort('127.0.0.1:8080'), { host: '127.0.0.1', port: 8080 });
  assert.deepEqual(splitHostPort('[::1]:443'), { host: '::1', port: 443 });
  assert.deepEqual(splitHostPort(':3478'), { host: '', port: 3478 });
  assert.deepEqual(splitHostPort('localhost:80'), { host: 'localhost', port: 80 });
  for (const bad of ['127.0.0.1', '::1:80', '[::1]', '[::1]80', 'host:http', 'host:70000', 'bad_host:80', '[1.2.3.4]:80']) assert.equal(splitHostPort(bad), null, bad);
  assert.ok(isHostname('hs.example.org'));
  assert.ok(isHostname('hs.example.org.'));
  assert.ok(!isHostname('-a.example'));
  assert.ok(!isHostname('a..b'));
  assert.ok(isIP('::') && isIP('1.2.3.4') && !isIP('1.2.3.4/32'));
});
