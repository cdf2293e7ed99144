// The control listener on Fastify: the answers it gave as a hand-written node:http handler
// (ts2021 without an upgrade, /key's 405, unknown upgrades), the WebSocket refusal that
// happens before @fastify/websocket accepts, and the OpenAPI document of /api/v1.

import { test } from 'vitest';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import WebSocket from 'ws';
import { apiRoutes } from '../../src/api/index.js';
import { useServer } from '../helpers/fixture.js';

const f = useServer({});

function rawUpgrade(path: string, upgrade: string): Promise<string> {
  const u = new URL(f.srv.url);
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(u.port), u.hostname, () => {
      s.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: ${upgrade}\r\nContent-Length: 0\r\n\r\n`);
    });
    let text = '';
    s.on('data', (d) => (text += d.toString('latin1')));
    s.on('end', () => resolve(text));
    s.on('error', reject);
  });
}

test('plain requests to /ts2021 and /key get the explanations they got before', async () => {
  const r = await fetch(`${f.srv.url}/ts2021`);
  assert.equal(r.status, 400);
  assert.match(await r.text(), /requires an HTTP upgrade/);
  const p = await fetch(`${f.srv.url}/ts2021`, { method: 'POST' });
  assert.equal(p.status, 400);
  const k = await fetch(`${f.srv.url}/key?v=113`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1' });
  assert.equal(k.status, 405);
  assert.equal(k.headers.get('allow'), 'GET, HEAD');
  const ok = await fetch(`${f.srv.url}/key?v=113`);
  assert.equal(ok.status, 200);
  assert.match((await ok.json()).publicKey, /^mkey:[0-9a-f]{64}$/);
  const bad = await fetch(`${f.srv.url}/key?v=12`);
  assert.equal(bad.status, 400);
  const nf = await fetch(`${f.srv.url}/nowhere`);
  assert.equal(nf.status, 404);
  assert.equal(await nf.text(), 'not found\n');
});

test('upgrades: unknown paths 404, a ts2021 upgrade without a handshake 400, on the raw socket', async () => {
  assert.match(await rawUpgrade('/elsewhere', 'tailscale-control-protocol'), /^HTTP\/1\.1 404 /);
  const r = await rawUpgrade('/ts2021', 'tailscale-control-protocol');
  assert.match(r, /^HTTP\/1\.1 400 /);
  assert.match(r, /missing X-Tailscale-Handshake header/);
});

test('a WebSocket upgrade of /ts2021 without the subprotocol is refused before it is accepted', async () => {
  const ws = new WebSocket(`${f.srv.url.replace('http', 'ws')}/ts2021`, ['chat']);
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    ws.on('unexpected-response', (_req, r) => resolve(r));
    ws.on('open', () => reject(new Error('accepted')));
    ws.on('error', () => {});
  });
  assert.equal(res.statusCode, 400);
  ws.terminate();
});

test('/api/v1/openapi.json documents every API route with its schemas, without an API key', async () => {
  const r = await fetch(`${f.srv.url}/api/v1/openapi.json`);
  assert.equal(r.status, 200);
  const doc = (await r.json()) as { openapi: string; paths: Record<string, Record<string, any>> };
  assert.match(doc.openapi, /^3\./);
  const t = f.srv.server.tailnet;
  const routes = apiRoutes({ admin: t, apiKeys: null as never }).all();
  assert.ok(routes.length >= 25);
  for (const route of routes) {
    const path = route.pattern.replace(/:(\w+)/g, '{$1}');
    const op = doc.paths[path]?.[route.method.toLowerCase()];
    assert.ok(op, `${route.method} ${path} is documented`);
    assert.match(op.operationId, /^(HeadscaleService|Switchboard)_[A-Z]\w+$/);
    assert.ok(op.responses['200'], `${route.method} ${path} documents its reply`);
  }
  assert.ok(!doc.paths['/key'] && !doc.paths['/ts2021'], 'only the API is documented');
  const created = doc.paths['/api/v1/preauthkey']!.post;
  const props = created.requestBody.content['application/json'].schema.properties;
  assert.deepEqual(Object.keys(props).sort(), ['aclTags', 'ephemeral', 'expiration', 'reusable', 'user']);
  const sw = await fetch(`${f.srv.url}/swagger`, { redirect: 'manual' });
  assert.equal(sw.status, 302);
  assert.equal(sw.headers.get('location'), '/api/v1/openapi.json');
});
