// Prometheus metrics: the exposition parses, and the counters follow what clients do.

import { test } from 'vitest';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { useServer } from '../helpers/fixture.js';

const f = useServer({ configure: (c) => (c.metrics_listen_addr = '127.0.0.1:0') });

async function scrape(): Promise<Map<string, number>> {
  const res = await fetch(`${f.srv.server.metricsAddress}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const out = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    // prom-client writes a gauge with no samples yet (event-loop lag right after start) as
    // "Nan"; Prometheus parses NaN in any case (Go's ParseFloat).
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (-?[0-9.e+-]+|[Nn][Aa][Nn]|[+-]Inf)$/.exec(line);
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

test("/debug pages on the metrics listener, as headscale's", async () => {
  const base = f.srv.server.metricsAddress;
  const index = await (await fetch(`${base}/debug/`)).text();
  for (const p of ['notifier', 'policy', 'filter', 'ssh', 'derpmap']) assert.match(index, new RegExp(`/debug/${p} `));
  const notifier = await (await fetch(`${base}/debug/notifier`)).text();
  assert.match(notifier, /^\d+ connected\n/);
  assert.ok(Number(notifier.split(' ')[0]) >= 2, notifier);
  const filter = (await (await fetch(`${base}/debug/filter`)).json()) as Record<string, unknown[]>;
  const keys = Object.keys(filter);
  assert.ok(keys.length >= 2 && keys.every((k) => /^id:\d+  hostname:\S+ givenname:\S+$/.test(k)), keys.join(', '));
  assert.ok(Object.values(filter).every(Array.isArray));
  const derp = (await (await fetch(`${base}/debug/derpmap`)).json()) as { Regions: unknown };
  assert.equal(typeof derp.Regions, 'object');
  assert.equal((await fetch(`${base}/debug/policy`)).status, 200);
  assert.equal((await fetch(`${base}/debug/nothing`)).status, 404);
  // The control listener does not serve them.
  assert.equal((await fetch(`${f.srv.url}/debug/`)).status, 404);
});

test('docs/grafana-dashboard.json queries only metrics this server exposes', async () => {
  const file = fileURLToPath(new URL('../../../docs/grafana-dashboard.json', import.meta.url));
  const dash = JSON.parse(readFileSync(file, 'utf8')) as { panels: Array<{ targets?: Array<{ expr: string }> }> };
  const exprs = dash.panels.flatMap((p) => p.targets ?? []).map((t) => t.expr);
  assert.ok(exprs.length >= 15);
  const exposed = new Set([...(await scrape()).keys()].map((k) => k.replace(/\{.*$/, '')));
  for (const e of exprs) {
    const names = [...e.matchAll(/([a-z_][a-z0-9_]*)\{instance=~"\$instance"/g)].map((m) => m[1]!);
    assert.ok(names.length > 0, `no metric found in ${e}`);
    for (const n of names) assert.ok(exposed.has(n), `${n} (in ${e}) is not exposed`);
  }
});
