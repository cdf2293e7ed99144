// Admission limits on the real server: hostile connections from one loopback address are
// capped, timed out and rate-limited, while another address still gets /health and joins.
// Linux routes all of 127.0.0.0/8 to loopback, so each "attacker" binds its own source.

import { describe, test } from 'vitest';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createInitiation } from '../../src/noise/control-handshake.js';
import { generateKeyPair } from '../../src/noise/keys.js';
import { useServer, type ServerFixture } from '../helpers/fixture.js';

function dialer(f: ServerFixture) {
  const sockets: net.Socket[] = [];
  const port = () => Number(new URL(f.url).port);
  return {
    sockets,
    /** Resolves once connected or already gone (a refused socket may be reset first). */
    async dial(from: string): Promise<net.Socket> {
      const s = net.connect({ port: port(), host: '127.0.0.1', localAddress: from });
      sockets.push(s);
      s.on('error', () => {});
      await new Promise<void>((r) => {
        s.once('connect', () => r());
        s.once('close', () => r());
      });
      return s;
    },
    closeAll: () => sockets.forEach((s) => s.destroy()),
  };
}

/** Not events.once, which rejects on the 'error' a reset brings. */
const closed = (s: net.Socket, ms = 5000) =>
  new Promise<boolean>((resolve) => {
    if (s.destroyed) return resolve(true);
    const t = setTimeout(() => resolve(false), ms);
    s.once('close', () => {
      clearTimeout(t);
      resolve(true);
    });
  });

/** Sends one ts2021 upgrade from `from` and returns the status line's code (0: no answer). */
async function upgrade(f: ServerFixture, from: string, initiation: Buffer, extra = ''): Promise<{ status: number; head: string }> {
  const s = net.connect({ port: Number(new URL(f.url).port), host: '127.0.0.1', localAddress: from });
  s.on('error', () => {});
  const chunks: Buffer[] = [];
  s.on('data', (d: Buffer) => {
    chunks.push(d);
    if (Buffer.concat(chunks).includes('\r\n\r\n')) s.destroy();
  });
  s.write(
    `POST /ts2021 HTTP/1.1\r\nHost: x\r\nUpgrade: tailscale-control-protocol\r\nConnection: upgrade\r\n` +
      `X-Tailscale-Handshake: ${initiation.toString('base64')}\r\n${extra}\r\n`,
  );
  await closed(s);
  const head = Buffer.concat(chunks).toString('latin1');
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), head };
}

async function scrape(f: ServerFixture): Promise<string> {
  return (await fetch(`${f.srv.server.metricsAddress}/metrics`)).text();
}

/**
 * The per-address bucket of the suite below (2 a second, a burst of 4): past the burst only
 * what refilled while the loop ran may pass, so a slow machine is not a failure, and on any
 * machine that sends the requests faster than they refill some are refused.
 */
function assertBucket(statuses: number[], elapsedMs: number): void {
  const passed = statuses.filter((s) => s === 101).length;
  const refilled = Math.floor((elapsedMs / 1000) * 2);
  assert.ok(statuses.every((s) => s === 101 || s === 429), `only 101 or 429: ${statuses}`);
  assert.ok(passed <= 4 + refilled, `at most the burst and what refilled in ${Math.round(elapsedMs)} ms: ${statuses}`);
  if (4 + refilled < statuses.length) assert.ok(passed < statuses.length, `some refused: ${statuses}`);
}

describe('connection limits', () => {
  const f = useServer({
    configure: (c) => {
      c.metrics_listen_addr = '127.0.0.1:0';
      c.limits.max_connections_per_address = 4;
      c.limits.max_pending_handshakes = 6;
      c.limits.handshake_timeout = '1s';
      c.limits.handshake_timeout_ms = 1000;
      c.limits.handshakes_per_second_per_address = 2;
      c.limits.handshakes_per_second = 50;
      c.trusted_proxies = ['127.0.0.9'];
    },
  });

  test('one address cannot hold more than its share, and others are served meanwhile', async () => {
    const d = dialer(f);
    try {
      const held = await Promise.all([1, 2, 3, 4].map(() => d.dial('127.0.0.2')));
      const fifth = await d.dial('127.0.0.2');
      assert.ok(await closed(fifth, 1000), 'the fifth connection from one address is refused at once');
      assert.ok(held.every((s) => !s.destroyed));
      const res = await fetch(`${f.url}/health`);
      assert.equal(res.status, 200, '/health from another address');
      assert.match(await scrape(f), /switchboard_connections_refused_total\{reason="max_connections_per_address"\} [1-9]/);
    } finally {
      d.closeAll();
    }
  });

  test('connections that never finish a request are dropped at handshake_timeout', async () => {
    const d = dialer(f);
    try {
      const silent = await d.dial('127.0.0.3');
      const slow = await d.dial('127.0.0.3');
      slow.write('POST /ts2021 HTTP/1.1\r\nHost: x\r\n'); // headers never end
      const t0 = Date.now();
      assert.ok(await closed(silent, 4000), 'silent connection dropped');
      assert.ok(await closed(slow, 4000), 'slow-header connection dropped');
      assert.ok(Date.now() - t0 < 3500, `dropped after ${Date.now() - t0} ms`);
      assert.match(await scrape(f), /switchboard_connections_refused_total\{reason="handshake_timeout"\} [2-9]/);
    } finally {
      d.closeAll();
    }
  });

  test('at the pending cap the longest-waiting connection makes room; a client that speaks is never starved', async () => {
    const d = dialer(f);
    try {
      const idle: net.Socket[] = [];
      for (const a of ['127.0.0.4', '127.0.0.5', '127.0.0.6']) for (let i = 0; i < 2; i++) idle.push(await d.dial(a));
      const newcomer = await d.dial('127.0.0.7');
      assert.ok(await closed(idle[0]!, 1000), 'the oldest silent connection is dropped');
      assert.ok(!newcomer.destroyed, 'the newcomer is admitted');
      assert.match(await scrape(f), /switchboard_connections_refused_total\{reason="max_pending_handshakes"\} [1-9]/);
      // Churning silent connections cannot keep a real request out.
      let n = 0;
      const churn = setInterval(() => void d.dial(`127.0.0.${11 + (n++ % 4)}`), 2);
      try {
        for (let i = 0; i < 5; i++) assert.equal((await fetch(`${f.url}/health`)).status, 200);
      } finally {
        clearInterval(churn);
      }
    } finally {
      d.closeAll();
    }
  });

  test('handshakes beyond the per-address rate get 429; a replayed initiation is bounded the same way', async () => {
    const init = createInitiation(generateKeyPair().privateKey, f.srv.server.publicKey, 113).initiationBytes;
    const statuses: number[] = [];
    let retryAfter = '';
    const started = performance.now();
    for (let i = 0; i < 10; i++) {
      const r = await upgrade(f, '127.0.0.8', init); // the same bytes each time: a replay
      statuses.push(r.status);
      if (r.status === 429) retryAfter = /retry-after: (\d+)/i.exec(r.head)?.[1] ?? '';
    }
    assert.deepEqual(statuses.slice(0, 4), [101, 101, 101, 101], 'the burst passes');
    assertBucket(statuses, performance.now() - started);
    assert.equal(retryAfter, '1');
    const fresh = createInitiation(generateKeyPair().privateKey, f.srv.server.publicKey, 113).initiationBytes;
    assert.equal((await upgrade(f, '127.0.0.10', fresh)).status, 101, 'another address is not held back');
    assert.match(await scrape(f), /switchboard_connections_refused_total\{reason="handshake_rate_per_address"\} [6-9]/);
  });

  test('behind a trusted proxy, X-Forwarded-For names the client that is rate-limited', async () => {
    const init = () => createInitiation(generateKeyPair().privateKey, f.srv.server.publicKey, 113).initiationBytes;
    const a: number[] = [];
    const started = performance.now();
    for (let i = 0; i < 6; i++) a.push((await upgrade(f, '127.0.0.9', init(), 'X-Forwarded-For: 198.51.100.1\r\n')).status);
    assert.deepEqual(a.slice(0, 4), [101, 101, 101, 101], 'the burst passes');
    assertBucket(a, performance.now() - started);
    assert.equal((await upgrade(f, '127.0.0.9', init(), 'X-Forwarded-For: 198.51.100.2\r\n')).status, 101, 'another client of the proxy');
    // The proxy's own connections are not capped per address.
    const d = dialer(f);
    try {
      const many = await Promise.all([1, 2, 3, 4, 5].map(() => d.dial('127.0.0.9')));
      await new Promise((r) => setTimeout(r, 100));
      assert.ok(many.every((s) => !s.destroyed), 'five connections from the proxy');
    } finally {
      d.closeAll();
    }
  });

  test('a real client still joins and streams after all of the above', async () => {
    const c = await f.join('survivor');
    assert.equal(c.netmap.self?.Name.split('.')[0], 'survivor');
  });
});
