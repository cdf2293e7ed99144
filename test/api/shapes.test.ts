// Pure parts of the API: protojson rendering, input parsing, route normalisation, routing.

import assert from 'node:assert/strict';
import { test } from 'vitest';
import { Input } from '../../src/api/input.js';
import { Router } from '../../src/api/router.js';
import { schemas } from '../../src/api/schemas.js';
import { normalizeRoutes } from '../../src/api/routes/nodes.js';
import { apiKeyJson, preAuthKeyJson, timestampJson } from '../../src/api/shapes.js';

test('timestamps print like protojson: no fraction when whole seconds', () => {
  assert.equal(timestampJson(new Date('2025-01-02T03:04:05.000Z')), '2025-01-02T03:04:05Z');
  assert.equal(timestampJson(new Date('2025-01-02T03:04:05.120Z')), '2025-01-02T03:04:05.120Z');
  assert.equal(timestampJson(null), null);
});

test('key listings mask secrets like headscale', () => {
  const d = new Date('2025-01-01T00:00:00Z');
  const k = { id: 7, prefix: 'abcdefghijkl', keyHash: 'h', userId: null, reusable: false, ephemeral: true, used: false, tags: ['tag:a'], expiration: null, createdAt: d };
  assert.deepEqual(preAuthKeyJson(k, null), {
    user: null, id: '7', key: 'hskey-auth-abcdefghijkl-***', reusable: false, ephemeral: true, used: false,
    expiration: null, createdAt: '2025-01-01T00:00:00Z', aclTags: ['tag:a'],
  });
  assert.equal(preAuthKeyJson(k, null, 'full').key, 'full');
  assert.deepEqual(apiKeyJson({ id: 3, prefix: 'abcdefghijkl', keyHash: 'h', expiration: d, lastSeen: null, createdAt: d }), {
    id: '3', prefix: 'hskey-api-abcdefghijkl-***', expiration: '2025-01-01T00:00:00Z', createdAt: '2025-01-01T00:00:00Z', lastSeen: null,
  });
});

test('Input follows protojson: camel or snake names, ids as strings or numbers, nulls as unset', () => {
  const i = Input.fromJsonText('{"display_name":"D","user":"12","n":3,"gone":null,"flag":true}');
  assert.equal(i.string('displayName'), 'D');
  assert.equal(i.id('user'), 12);
  assert.equal(i.id('n'), 3);
  assert.equal(i.string('gone'), undefined);
  assert.equal(i.bool('flag'), true);
  assert.throws(() => i.bool('user'), /"user" must be a boolean/);
  assert.throws(() => Input.fromJsonText('{"id":1.5}').id('id'), /"id" must be a non-negative integer/);
  assert.throws(() => Input.fromJsonText('{"t":"2025-01-01"}').timestamp('t'), /"t" must be an RFC 3339/);
  const q = Input.fromQuery(new URLSearchParams('disableExpiry=true&tags=a&tags=b'));
  assert.equal(q.bool('disableExpiry'), true);
  assert.deepEqual(q.strings('tags'), ['a', 'b']);
  assert.equal(Input.fromJsonText('').has('x'), false);
});

test('routes are validated, exit routes come in pairs', () => {
  assert.deepEqual(normalizeRoutes(['10.0.0.0/8', '::/0', '10.0.0.0/8', '']), ['10.0.0.0/8', '0.0.0.0/0', '::/0']);
  assert.throws(() => normalizeRoutes(['10.0.0.0']), /"routes".*not a CIDR/);
  assert.throws(() => normalizeRoutes(['10.0.0.0/33']), /"routes"/);
});

test('router prefers literal segments and reports allowed methods', async () => {
  const r = new Router();
  const a = async () => 'a';
  const b = async () => 'b';
  r.add('GET', '/api/v1/node/:id', schemas.getNode, a);
  r.add('POST', '/api/v1/node/register', schemas.registerNode, b);
  const m = r.match('POST', '/api/v1/node/register');
  assert.equal(m.kind === 'found' && m.fn, b);
  const g = r.match('GET', '/api/v1/node/5');
  assert.deepEqual(g.kind === 'found' && g.params, { id: '5' });
  assert.deepEqual(r.match('PUT', '/api/v1/node/5'), { kind: 'wrongMethod', allowed: ['GET'] });
  assert.deepEqual(r.match('GET', '/api/v1/else'), { kind: 'none' });
});
