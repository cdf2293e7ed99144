// Prometheus metrics: the exposition parses, and the counters follow what clients do.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useServer } from '../helpers/fixture.js';

const f = useServer({ configure: (c) => (c.metrics_listen_addr = '127.0.0.1:0') });

async function scrape(): Promise<Map<string, number>> {
  const res = await fetch(`${f.srv.server.metricsAddress}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const out = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-z_]+(?:\{[^}]*\})?) (-?[0-9.e+]+)$/.exec(line);
    assert.ok(m, `not an exposition line: ${JSON.stringify(line)}`);
    out.set(m[1]!, Number(m[2]));
  }
  return out;
}

test('counters and gauges follow registrations, streams and refusals', async () => {
  const before = await scrape();
  assert.equal(before.get('switchboard_nodes'), 0);
  const a = await f.join('m1');
  await f.join('m2');
  const refused = f.client('nokey');
  assert.match((await refused.register({ authKey: 'hskey-auth-nope' })).Error, /invalid/);
  await a.waitFor((nm) => nm.peerByName('m2')?.Online === true, 3000, 'm2 online');
  const after = await scrape();
  assert.equal(after.get('switchboard_nodes'), 2);
  assert.equal(after.get('switchboard_nodes_online'), 2);
  assert.equal(after.get('switchboard_map_sessions'), 2);
  assert.equal(after.get('switchboard_registrations_total{result="ok"}'), 2);
  assert.equal(after.get('switchboard_registrations_total{result="refused"}'), 1);
  assert.equal(after.get('switchboard_map_requests_total{kind="stream"}'), 2);
  assert.ok((after.get('switchboard_noise_handshakes_total{result="ok"}') ?? 0) >= 3);
  assert.ok((after.get('switchboard_map_frames_total') ?? 0) >= 3, 'first maps plus at least one delta');
  assert.ok((after.get('switchboard_map_bytes_total') ?? 0) > 0);
});
