// The admission pieces on their own: token buckets on a fake clock, address keys, and the
// admission bookkeeping on real loopback sockets.

import { test } from 'vitest';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { TokenBucket } from '../../src/limits/token-bucket.js';
import { addressKey, ProxySet } from '../../src/limits/address.js';
import { ConnectionAdmission, type Refusal } from '../../src/limits/admission.js';
import { fitConnectionLimit, openFileLimit } from '../../src/limits/fdlimit.js';
import { RateLimitedLog } from '../../src/util/ratelog.js';

test('a token bucket passes its burst, then its rate, and refills to full', () => {
  const b = new TokenBucket(10, 20, 0);
  let passed = 0;
  for (let i = 0; i < 100; i++) if (b.take(0)) passed++;
  assert.equal(passed, 20, 'burst');
  assert.equal(b.take(50), false, 'half a token after 50 ms');
  assert.equal(b.take(100), true, 'one token after 100 ms');
  assert.equal(b.take(100), false);
  assert.equal(b.isFull(1000), false);
  assert.equal(b.isFull(100 + 2000), true, 'full after burst/rate seconds');
  passed = 0;
  for (let i = 0; i < 100; i++) if (b.take(100_000)) passed++;
  assert.equal(passed, 20, 'never more than the burst, however long it waited');
});

test('address keys: IPv4 as is, mapped IPv4 unwrapped, IPv6 per /64', () => {
  assert.equal(addressKey('192.0.2.7'), '192.0.2.7');
  assert.equal(addressKey('::ffff:192.0.2.7'), '192.0.2.7');
  assert.equal(addressKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  assert.equal(addressKey('2001:db8:1:2:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64');
  assert.notEqual(addressKey('2001:db8:1:3::1'), addressKey('2001:db8:1:2::1'));
  assert.equal(addressKey('::1'), '::/64');
  assert.equal(addressKey(undefined), '?');
});

test('trusted proxies match addresses and prefixes, and refuse junk naming the entry', () => {
  const p = new ProxySet(['10.0.0.0/8', '192.0.2.1', 'fd00::/8']);
  assert.equal(p.has('10.9.8.7'), true);
  assert.equal(p.has('::ffff:10.9.8.7'), true);
  assert.equal(p.has('192.0.2.1'), true);
  assert.equal(p.has('192.0.2.2'), false);
  assert.equal(p.has('fd12::1'), true);
  assert.equal(p.has('fe80::1'), false);
  assert.equal(p.has(undefined), false);
  assert.throws(() => new ProxySet(['10.0.0.0/8', 'proxy.example']), /trusted_proxies\[1\]: invalid IP prefix "proxy.example"/);
});

test('connection limits fit under the open-file limit', () => {
  assert.equal(fitConnectionLimit(16_384, null), 16_384);
  assert.equal(fitConnectionLimit(16_384, 1024), 768);
  assert.equal(fitConnectionLimit(500, 1024), 500);
  assert.equal(fitConnectionLimit(0, 1024), 768, '"no limit" still has to fit');
  assert.equal(fitConnectionLimit(100, 10), 16);
  const l = openFileLimit();
  assert.ok(l === null || (Number.isInteger(l) && l > 0), `open-file limit ${l}`);
});

test('handshake rates: per address first, then overall; a proxy names its client', () => {
  let now = 0;
  const a = new ConnectionAdmission(
    {
      maxConnections: 0,
      maxConnectionsPerAddress: 0,
      maxPendingHandshakes: 0,
      handshakeTimeoutMs: 0,
      handshakesPerSecond: 10,
      handshakesPerSecondPerAddress: 2,
      trustedProxies: new ProxySet(['192.0.2.100']),
    },
    { now: () => now },
  );
  const results = (addr: string, n: number, xff?: string) =>
    Array.from({ length: n }, () => a.admitHandshake(addr, xff)?.reason ?? 'ok');
  assert.deepEqual(results('192.0.2.1', 6), ['ok', 'ok', 'ok', 'ok', 'handshake_rate_per_address', 'handshake_rate_per_address']);
  // Another address has its own bucket, until the overall one (burst 20) runs dry.
  let ok = 0;
  for (let i = 2; i < 40; i++) if (a.admitHandshake(`192.0.2.${i}`) === null) ok++;
  assert.equal(ok, 16, 'overall burst of 20, four of it already taken');
  assert.equal(a.admitHandshake('192.0.2.77')?.reason, 'handshake_rate');
  now += 2000;
  // Behind a trusted proxy the forwarded client counts; a client's own X-Forwarded-For is ignored elsewhere.
  assert.deepEqual(results('192.0.2.100', 5, 'spoofed, 198.51.100.1'), ['ok', 'ok', 'ok', 'ok', 'handshake_rate_per_address']);
  assert.equal(a.admitHandshake('192.0.2.100', '198.51.100.2'), null, 'another client behind the same proxy');
  assert.equal(a.admitHandshake('192.0.2.50', '198.51.100.3')?.reason ?? 'ok', 'ok');
  assert.deepEqual(results('192.0.2.50', 4, '198.51.100.4'), ['ok', 'ok', 'ok', 'handshake_rate_per_address'], 'untrusted: counted by its own address');
});

test('address buckets stay bounded under a flood of distinct addresses', () => {
  let now = 0;
  const a = new ConnectionAdmission(
    { maxConnections: 0, maxConnectionsPerAddress: 0, maxPendingHandshakes: 0, handshakeTimeoutMs: 0, handshakesPerSecond: 0, handshakesPerSecondPerAddress: 1 },
    { now: () => now },
  );
  for (let i = 0; i < 40_000; i++) a.admitHandshake(`2001:db8:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}::1`);
  const tracked = (a as unknown as { buckets: Map<string, unknown> }).buckets.size;
  assert.ok(tracked <= 16_384, `${tracked} buckets`);
  now += 10_000;
  // Idle buckets are pruned, so new addresses are tracked again.
  a.admitHandshake('2001:db8:ffff::1');
  a.admitHandshake('2001:db8:ffff::1');
  assert.equal(a.admitHandshake('2001:db8:ffff::1')?.reason, 'handshake_rate_per_address');
});

test('a rate-limited log writes the first line, then one count per interval', async () => {
  const lines: string[] = [];
  const l = new RateLimitedLog((x) => lines.push(x), 50, (n) => `${n} more`);
  for (let i = 0; i < 1000; i++) l.log(`refused ${i}`);
  assert.deepEqual(lines, ['refused 0']);
  await new Promise((r) => setTimeout(r, 80));
  assert.deepEqual(lines, ['refused 0', '999 more']);
  await new Promise((r) => setTimeout(r, 80));
  l.log('later');
  assert.deepEqual(lines, ['refused 0', '999 more', 'later']);
  l.log('x');
  l.close();
  assert.deepEqual(lines, ['refused 0', '999 more', 'later', '1 more']);
});

test('connection caps and the first-request timeout on real sockets', async () => {
  const refusals: Refusal[] = [];
  const a = new ConnectionAdmission(
    {
      maxConnections: 5,
      maxConnectionsPerAddress: 3,
      maxPendingHandshakes: 4,
      handshakeTimeoutMs: 300,
      handshakesPerSecond: 0,
      handshakesPerSecondPerAddress: 0,
    },
    { onRefused: (r) => refusals.push(r) },
  );
  const server = net.createServer((s) => {
    s.on('error', () => {});
    if (a.admit(s)) s.once('data', () => a.settle(s));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const timer = setInterval(() => a.sweep(), 50);
  const sockets: net.Socket[] = [];
  const dial = async (from: string) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress: from });
    sockets.push(s);
    s.on('error', () => {});
    // A refused connection may be reset before or after 'connect' reaches us.
    await new Promise<void>((resolve) => {
      s.once('connect', () => resolve());
      s.once('close', () => resolve());
    });
    return s;
  };
  // Not events.once: it rejects on the 'error' a reset brings.
  const closed = (s: net.Socket) => (s.destroyed ? Promise.resolve() : new Promise<void>((r) => s.once('close', () => r())));
  try {
    const own = await Promise.all([dial('127.0.0.2'), dial('127.0.0.2'), dial('127.0.0.2')]);
    own.forEach((s) => s.write('x')); // settled: no longer pending
    const fourth = await dial('127.0.0.2');
    await closed(fourth);
    assert.equal(refusals.at(-1)?.reason, 'max_connections_per_address');
    const others = await Promise.all([dial('127.0.0.3'), dial('127.0.0.4')]);
    const over = await dial('127.0.0.5');
    await closed(over);
    assert.equal(refusals.at(-1)?.reason, 'max_connections');
    assert.equal(a.openConnections, 5);
    // The two that never sent anything are dropped at their deadline; the settled ones stay.
    await Promise.all(others.map(closed));
    assert.equal(refusals.filter((r) => r.reason === 'handshake_timeout').length, 2);
    assert.ok(own.every((s) => !s.destroyed));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(a.openConnections, 3);
    assert.equal(a.pendingConnections, 0);
  } finally {
    clearInterval(timer);
    sockets.forEach((s) => s.destroy());
    server.close();
  }
});
