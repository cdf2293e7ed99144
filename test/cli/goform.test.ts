// headscale's CLI output form (Go's encoding/json and yaml.v3 of the protobuf structs),
// checked field by field against what those encoders make of a v1.Node: protoc-gen-go tags
// every field `json:"<proto name>,omitempty"`, yaml.v3 keys by the lower-cased Go name.

import assert from 'node:assert/strict';
import { test } from 'vitest';
import { ApiKey, Node, toGo, toGoList, User } from '../../src/cli/goform.js';

const apiNode = {
  id: '7',
  machineKey: 'mkey:aa',
  nodeKey: 'nodekey:bb',
  discoKey: 'discokey:cc',
  ipAddresses: ['100.64.0.7'],
  name: 'desk',
  user: { id: '2', name: 'alice', createdAt: '2025-01-02T03:04:05.250Z', displayName: '', email: '', providerId: '', provider: '', profilePicUrl: '' },
  lastSeen: null,
  expiry: '2030-01-01T00:00:00Z',
  preAuthKey: null,
  createdAt: '2025-01-02T03:04:05Z',
  registerMethod: 'REGISTER_METHOD_CLI',
  givenName: 'desk',
  online: false,
  approvedRoutes: [],
  availableRoutes: ['10.0.0.0/8'],
  subnetRoutes: [],
  tags: [],
};

test('json: proto names in proto order, zero values left out, numbers for uint64 and enums, {seconds, nanos}', () => {
  const go = toGo(apiNode, Node, 'json');
  assert.deepEqual(Object.keys(go), ['id', 'machine_key', 'node_key', 'disco_key', 'ip_addresses', 'name', 'user', 'expiry', 'created_at', 'register_method', 'given_name', 'available_routes']);
  assert.equal(go['id'], 7);
  assert.equal(go['register_method'], 2);
  assert.deepEqual(go['expiry'], { seconds: 1893456000 });
  assert.deepEqual(go['user'], { id: 2, name: 'alice', created_at: { seconds: 1735787045, nanos: 250_000_000 } });
  assert.deepEqual(go['available_routes'], ['10.0.0.0/8']);
});

test('yaml: lower-cased Go field names, every field kept (nil as null, empty lists as [])', () => {
  const go = toGo(apiNode, Node, 'yaml');
  assert.deepEqual(Object.keys(go), [
    'id', 'machinekey', 'nodekey', 'discokey', 'ipaddresses', 'name', 'user', 'lastseen', 'expiry', 'preauthkey', 'createdat',
    'registermethod', 'givenname', 'online', 'approvedroutes', 'availableroutes', 'subnetroutes', 'tags',
  ]);
  assert.equal(go['lastseen'], null);
  assert.equal(go['preauthkey'], null);
  assert.deepEqual(go['approvedroutes'], []);
  assert.equal(go['online'], false);
  assert.deepEqual(go['createdat'], { seconds: 1735787045, nanos: 0 });
  assert.deepEqual(Object.keys(go['user'] as object), ['id', 'name', 'createdat', 'displayname', 'email', 'providerid', 'provider', 'profilepicurl']);
});

test('lists: a nil slice is null in JSON and [] in YAML; list-routes keeps []', () => {
  assert.equal(toGoList([], User, 'json'), null);
  assert.deepEqual(toGoList([], User, 'yaml'), []);
  assert.deepEqual(toGoList([], Node, 'json', true), []);
  const keys = toGoList([{ id: '1', prefix: 'hskey-api-abc-***', expiration: null, createdAt: '2025-01-01T00:00:00.000001Z', lastSeen: null }], ApiKey, 'json');
  assert.deepEqual(keys, [{ id: 1, prefix: 'hskey-api-abc-***', created_at: { seconds: 1735689600, nanos: 1000 } }]);
});
