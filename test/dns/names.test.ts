import { test } from 'vitest';
import assert from 'node:assert/strict';
import { sanitizeHostname, magicDnsName, isValidLabel } from '../../src/dns/names.js';

test('hostnames become DNS labels the way Tailscale sanitises them', () => {
  const cases: Array<[string, string]> = [
    ['laptop', 'laptop'],
    ['My-Laptop', 'my-laptop'],
    ["Anna's MacBook Pro", 'annas-macbook-pro'],
    ['host.local', 'host'],
    ['host.localdomain', 'host'],
    ['router.lan', 'router'],
    ['web01.corp.example.com', 'web01-corp-example-com'],
    ['user@box', 'user-box'],
    ['snake_case_name', 'snake-case-name'],
    ['--edge--', 'edge'],
    ['  spaced  ', 'spaced'],
    ['café', 'caf'],
    ['über-host', 'ber-host'],
    ['a-é', 'a'],
    ['', 'node'],
    ['---', 'node'],
    ['日本語', 'node'],
  ];
  for (const [input, want] of cases) assert.equal(sanitizeHostname(input), want, `sanitizeHostname(${JSON.stringify(input)})`);
});

test('labels are cut to 63 characters and stay valid', () => {
  const long = 'a'.repeat(62) + '-b' + 'c'.repeat(10);
  const got = sanitizeHostname(long);
  assert.ok(got.length <= 63);
  assert.ok(isValidLabel(got), got);
  assert.equal(got, 'a'.repeat(62));
  for (const s of ['x'.repeat(100), 'A_B.C@D E', '-x-', '..a..b..']) assert.ok(isValidLabel(sanitizeHostname(s)), s);
});

test('isValidLabel', () => {
  assert.ok(isValidLabel('a'));
  assert.ok(isValidLabel('node-1'));
  assert.ok(!isValidLabel('Node'));
  assert.ok(!isValidLabel('-a'));
  assert.ok(!isValidLabel('a-'));
  assert.ok(!isValidLabel(''));
  assert.ok(!isValidLabel('a'.repeat(64)));
});

test('magicDnsName: FQDN with trailing dot', () => {
  assert.equal(magicDnsName('laptop', 'tail.example.net'), 'laptop.tail.example.net.');
  assert.equal(magicDnsName('laptop', 'tail.example.net.'), 'laptop.tail.example.net.');
  assert.equal(magicDnsName('laptop', ''), 'laptop.');
  assert.throws(() => magicDnsName('a'.repeat(63), `${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}`), /longer than 253/);
});
