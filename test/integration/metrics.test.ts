// Prometheus metrics: the exposition parses, and the counters follow what clients do.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { useServer } from '../helpers/fixture.js';

const f = useServer({ configure: (c) => (c.metrics_listen_addr = '127.0.0.1:0') });

async function scrape(): Promise<Map<string, number>> {
  const res = await fetch(`${f.srv.server.metricsAddress}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const out = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (-?[0-9.e+-]+|NaN|[+-]Inf)$/.exec(line);
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

test('prom-client: process metrics, map frames by type, propagation latency, HTTP, database and policy timings', async () => {
  const a = await f.join('m3');
  await f.join('m4');
  await a.waitFor((nm) => nm.peerByName('m4')?.Online === true, 3000, 'm4 online');
  // One API request, for the HTTP metrics (the unix socket needs no key).
  await new Promise<void>((resolve, reject) => {
    const req = http.request({ socketPath: f.srv.config.unix_socket, path: '/api/v1/user', method: 'GET' }, (res) => {
      res.resume();
      res.on('end', () => resolve());
    });
    req.on('error', reject);
    req.end();
  });
  const m = await scrape();
  assert.ok((m.get('process_resident_memory_bytes') ?? 0) > 0, 'default process metrics');
  assert.ok((m.get('nodejs_heap_size_used_bytes') ?? 0) > 0);
  assert.ok((m.get('headscale_mapresponse_sent_total{status="ok",type="full"}') ?? 0) >= 2);
  assert.ok((m.get('headscale_mapresponse_sent_total{status="ok",type="delta"}') ?? 0) >= 1);
  const propagated = m.get('switchboard_map_propagation_seconds_count') ?? 0;
  assert.ok(propagated >= 1, 'a change reached a stream');
  assert.equal(m.get('switchboard_map_propagation_seconds_bucket{le="+Inf"}'), propagated);
  assert.ok((m.get('switchboard_map_propagation_seconds_sum') ?? -1) >= 0);
  assert.ok((m.get('switchboard_node_registrations_total{method="authkey",result="ok"}') ?? 0) >= 2);
  assert.equal(m.get('switchboard_node_registrations_total{method="authkey",result="refused"}'), 1);
  assert.equal(m.get('headscale_http_requests_total{code="200",method="GET",path="/api/v1/user"}'), 1);
  assert.equal(m.get('headscale_http_duration_seconds_count{path="/api/v1/user"}'), 1);
  assert.ok((m.get('switchboard_db_operation_duration_seconds_count{op="createNode"}') ?? 0) >= 2, [...m.keys()].filter((k) => k.includes('db_op')).join(' '));
  assert.ok((m.get('switchboard_policy_compile_duration_seconds_count') ?? 0) >= 1);
  assert.ok((m.get('switchboard_noise_handshakes_total{result="ok"}') ?? 0) >= 5);
});
