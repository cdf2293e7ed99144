// Golden request/response pairs for every /api/v1 path and method headscale v0.29.2 serves
// (its gen/openapiv2 headscale.swagger.json), plus Switchboard's own, in one table.
//
// Requests are written as headscale's grpc-gateway clients send them (protojson: camelCase
// names, uint64 as decimal strings, Timestamps in RFC 3339, query parameters by JSON name).
// Replies are checked against the proto messages (proto/headscale/v1/*.proto) in the form
// headscale's gateway emits: grpc-gateway's default marshaler sets EmitUnpopulated, so every
// field is present — unset messages and Timestamps as null, empty lists as [], zero
// numbers and "" — uint64 as strings, enums by name; errors are google.rpc.Status
// {code, message, details}. A reply with a field too many, too few or of the wrong JSON
// type fails, and so does a route of ours missing from the table or a table row we lack.

import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { apiRoutes } from '../../src/api/index.js';
import { addNode, call, startStack, type Stack } from './harness.js';

// ---- proto3 JSON types --------------------------------------------------------------------

type Scalar = 'string' | 'bool' | 'uint64' | 'int32' | 'Timestamp' | 'Struct';
type FieldType = Scalar | { enum: readonly string[] } | { message: Message } | { repeated: FieldType };
type Message = Readonly<Record<string, FieldType>>;

const repeated = (t: FieldType): FieldType => ({ repeated: t });
const msg = (m: Message): FieldType => ({ message: m });

// proto/headscale/v1/user.proto
const User: Message = {
  id: 'uint64',
  name: 'string',
  createdAt: 'Timestamp',
  displayName: 'string',
  email: 'string',
  providerId: 'string',
  provider: 'string',
  profilePicUrl: 'string',
};
// preauthkey.proto
const PreAuthKey: Message = {
  user: msg(User),
  id: 'uint64',
  key: 'string',
  reusable: 'bool',
  ephemeral: 'bool',
  used: 'bool',
  expiration: 'Timestamp',
  createdAt: 'Timestamp',
  aclTags: repeated('string'),
};
// node.proto (fields 9 and 14-20 are reserved)
const RegisterMethod = { enum: ['REGISTER_METHOD_UNSPECIFIED', 'REGISTER_METHOD_AUTH_KEY', 'REGISTER_METHOD_CLI', 'REGISTER_METHOD_OIDC'] } as const;
const Node: Message = {
  id: 'uint64',
  machineKey: 'string',
  nodeKey: 'string',
  discoKey: 'string',
  ipAddresses: repeated('string'),
  name: 'string',
  user: msg(User),
  lastSeen: 'Timestamp',
  expiry: 'Timestamp',
  preAuthKey: msg(PreAuthKey),
  createdAt: 'Timestamp',
  registerMethod: RegisterMethod,
  givenName: 'string',
  online: 'bool',
  approvedRoutes: repeated('string'),
  availableRoutes: repeated('string'),
  subnetRoutes: repeated('string'),
  tags: repeated('string'),
};
// apikey.proto
const ApiKey: Message = { id: 'uint64', prefix: 'string', expiration: 'Timestamp', createdAt: 'Timestamp', lastSeen: 'Timestamp' };
// google/rpc/status.proto, as grpc-gateway writes errors
const Status: Message = { code: 'int32', message: 'string', details: repeated('Struct') };

const Empty: Message = {};
const NodeReply: Message = { node: msg(Node) };
const UserReply: Message = { user: msg(User) };
const PolicyReply: Message = { policy: 'string', updatedAt: 'Timestamp' };

// Switchboard's own messages (no headscale counterpart).
const PendingRegistration: Message = {
  authId: 'string',
  machineKey: 'string',
  nodeKey: 'string',
  hostname: 'string',
  knownNode: 'string',
  createdAt: 'Timestamp',
  expiresAt: 'Timestamp',
};
const AuditEvent: Message = { id: 'string', createdAt: 'Timestamp', actor: 'string', action: 'string', target: 'string', detail: 'Struct' };

/** protojson's Timestamp: Z-normalised, with 0, 3, 6 or 9 fractional digits. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3}|\.\d{6}|\.\d{9})?Z$/;

function checkField(v: unknown, t: FieldType, where: string): void {
  if (typeof t === 'string') {
    switch (t) {
      case 'string':
        return assert.equal(typeof v, 'string', `${where}: string expected, got ${JSON.stringify(v)}`);
      case 'bool':
        return assert.equal(typeof v, 'boolean', `${where}: bool expected, got ${JSON.stringify(v)}`);
      case 'uint64':
        // protojson writes 64-bit integers as decimal strings.
        return assert.ok(typeof v === 'string' && /^(0|[1-9]\d*)$/.test(v), `${where}: uint64 as a decimal string expected, got ${JSON.stringify(v)}`);
      case 'int32':
        return assert.ok(Number.isInteger(v), `${where}: int32 as a JSON number expected, got ${JSON.stringify(v)}`);
      case 'Timestamp':
        return assert.ok(v === null || (typeof v === 'string' && RFC3339.test(v)), `${where}: RFC 3339 Timestamp or null expected, got ${JSON.stringify(v)}`);
      case 'Struct':
        return assert.ok(v !== null && typeof v === 'object' && !Array.isArray(v), `${where}: object expected, got ${JSON.stringify(v)}`);
    }
  }
  if ('enum' in t) return assert.ok(typeof v === 'string' && t.enum.includes(v), `${where}: one of ${t.enum.join(', ')} expected, got ${JSON.stringify(v)}`);
  if ('repeated' in t) {
    // EmitUnpopulated: an empty list is [], never null or missing.
    assert.ok(Array.isArray(v), `${where}: list expected, got ${JSON.stringify(v)}`);
    v.forEach((item, i) => checkField(item, t.repeated, `${where}[${i}]`));
    return;
  }
  if (v === null) return; // an unset message
  checkMessage(v, t.message, where);
}

function checkMessage(v: unknown, m: Message, where = 'reply'): void {
  assert.ok(v !== null && typeof v === 'object' && !Array.isArray(v), `${where}: object expected, got ${JSON.stringify(v)}`);
  assert.deepEqual(Object.keys(v).sort(), Object.keys(m).sort(), `${where}: fields`);
  for (const [k, t] of Object.entries(m)) checkField((v as Record<string, unknown>)[k], t, `${where}.${k}`);
}

// ---- the table ----------------------------------------------------------------------------

interface Request {
  /** The path with its parameters filled in, query string included. */
  path: string;
  body?: unknown;
}

interface Golden {
  /** headscale's operationId (HeadscaleService_X), or Switchboard_X for ours. */
  op: string;
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** The path as the swagger document spells it. */
  path: string;
  request: (w: World) => Promise<Request> | Request;
  status?: number;
  reply: Message;
  /** Checks on values, beyond the shape. */
  verify?: (body: any, w: World) => void | Promise<void>;
}

/** What the rows share: objects created by earlier rows or by `prepare`. */
interface World {
  s: Stack;
  ids: Record<string, string>;
}

const later = new Date(Date.now() + 3600_000);
const laterIso = later.toISOString().replace('.000Z', 'Z');
const authId = (c: string) => `hskey-authreq-${c.repeat(24)}`;

const TABLE: Golden[] = [
  // users
  {
    op: 'HeadscaleService_CreateUser',
    method: 'POST',
    path: '/api/v1/user',
    request: () => ({ path: '/api/v1/user', body: { name: 'golden', displayName: 'Golden User', email: 'golden@example.com', pictureUrl: 'https://example.com/g.png' } }),
    reply: UserReply,
    verify: (b, w) => {
      assert.deepEqual([b.user.name, b.user.displayName, b.user.email, b.user.profilePicUrl, b.user.provider], ['golden', 'Golden User', 'golden@example.com', 'https://example.com/g.png', '']);
      w.ids['user'] = b.user.id;
    },
  },
  {
    op: 'HeadscaleService_ListUsers',
    method: 'GET',
    path: '/api/v1/user',
    request: (w) => ({ path: `/api/v1/user?id=${w.ids['user']}` }),
    reply: { users: repeated(msg(User)) },
    verify: (b) => assert.deepEqual(b.users.map((u: { name: string }) => u.name), ['golden']),
  },
  {
    op: 'HeadscaleService_RenameUser',
    method: 'POST',
    path: '/api/v1/user/{oldId}/rename/{newName}',
    request: async (w) => {
      const u = await w.s.tailnet.createUser({ name: 'to-rename' });
      return { path: `/api/v1/user/${u.id}/rename/renamed` };
    },
    reply: UserReply,
    verify: (b) => assert.equal(b.user.name, 'renamed'),
  },
  {
    op: 'HeadscaleService_DeleteUser',
    method: 'DELETE',
    path: '/api/v1/user/{id}',
    request: async (w) => ({ path: `/api/v1/user/${(await w.s.tailnet.createUser({ name: 'to-delete' })).id}` }),
    reply: Empty,
  },

  // pre-auth keys
  {
    op: 'HeadscaleService_CreatePreAuthKey',
    method: 'POST',
    path: '/api/v1/preauthkey',
    request: (w) => ({ path: '/api/v1/preauthkey', body: { user: w.ids['user'], reusable: true, ephemeral: false, expiration: laterIso, aclTags: [] } }),
    reply: { preAuthKey: msg(PreAuthKey) },
    verify: (b, w) => {
      assert.match(b.preAuthKey.key, /^hskey-auth-/, 'the full key, once');
      assert.equal(b.preAuthKey.user.id, w.ids['user']);
      assert.equal(b.preAuthKey.expiration, laterIso);
      assert.equal(b.preAuthKey.used, false);
      w.ids['preauthkey'] = b.preAuthKey.id;
    },
  },
  {
    op: 'HeadscaleService_ListPreAuthKeys',
    method: 'GET',
    path: '/api/v1/preauthkey',
    request: () => ({ path: '/api/v1/preauthkey' }),
    reply: { preAuthKeys: repeated(msg(PreAuthKey)) },
    verify: (b, w) => {
      const k = b.preAuthKeys.find((x: { id: string }) => x.id === w.ids['preauthkey']);
      assert.ok(k);
      assert.match(k.key, /^hskey-auth-[^-]+-\*\*\*$/, 'listings mask the secret');
    },
  },
  {
    op: 'HeadscaleService_ExpirePreAuthKey',
    method: 'POST',
    path: '/api/v1/preauthkey/expire',
    request: (w) => ({ path: '/api/v1/preauthkey/expire', body: { id: w.ids['preauthkey'] } }),
    reply: Empty,
  },
  {
    op: 'HeadscaleService_DeletePreAuthKey',
    method: 'DELETE',
    path: '/api/v1/preauthkey',
    request: (w) => ({ path: `/api/v1/preauthkey?id=${w.ids['preauthkey']}` }),
    reply: Empty,
  },

  // pending registrations: debug create-node, auth register/approve/reject, node register
  {
    op: 'HeadscaleService_DebugCreateNode',
    method: 'POST',
    path: '/api/v1/debug/node',
    request: () => ({ path: '/api/v1/debug/node', body: { user: 'golden', key: authId('a'), name: 'debug-node', routes: ['10.1.0.0/16'] } }),
    reply: NodeReply,
    verify: (b) => {
      assert.deepEqual([b.node.id, b.node.name, b.node.user.name, b.node.registerMethod], ['0', 'debug-node', 'golden', 'REGISTER_METHOD_UNSPECIFIED']);
      assert.deepEqual(b.node.availableRoutes, ['10.1.0.0/16']);
    },
  },
  {
    op: 'Switchboard_ListPendingRegistrations',
    method: 'GET',
    path: '/api/v1/auth/pending',
    request: () => ({ path: '/api/v1/auth/pending' }),
    reply: { registrations: repeated(msg(PendingRegistration)) },
    verify: (b) => assert.deepEqual(b.registrations.map((r: { authId: string }) => r.authId), [authId('a')]),
  },
  {
    op: 'HeadscaleService_AuthRegister',
    method: 'POST',
    path: '/api/v1/auth/register',
    request: () => ({ path: '/api/v1/auth/register', body: { user: 'golden', authId: authId('a') } }),
    reply: NodeReply,
    verify: (b, w) => {
      assert.equal(b.node.name, 'debug-node');
      assert.equal(b.node.registerMethod, 'REGISTER_METHOD_CLI');
      assert.equal(b.node.user.id, w.ids['user']);
      w.ids['registered'] = b.node.id;
    },
  },
  {
    op: 'HeadscaleService_AuthApprove',
    method: 'POST',
    path: '/api/v1/auth/approve',
    request: async (w) => {
      // The machine registered above logs in again (same machine key, new node key).
      const known = w.s.tailnet.getNode(Number(w.ids['registered']));
      const e = await w.s.webLogin!.begin({ machineKey: known.machineKey, nodeKey: `nodekey:${'7'.repeat(64)}`, hostinfo: null, ephemeral: false, expiry: null });
      return { path: '/api/v1/auth/approve', body: { authId: e.id } };
    },
    reply: Empty,
  },
  {
    op: 'HeadscaleService_AuthReject',
    method: 'POST',
    path: '/api/v1/auth/reject',
    request: async (w) => {
      const e = await w.s.webLogin!.begin({ machineKey: `mkey:${'8'.repeat(64)}`, nodeKey: `nodekey:${'9'.repeat(64)}`, hostinfo: null, ephemeral: false, expiry: null });
      return { path: '/api/v1/auth/reject', body: { authId: e.id } };
    },
    reply: Empty,
  },
  {
    op: 'HeadscaleService_RegisterNode',
    method: 'POST',
    path: '/api/v1/node/register',
    request: async (w) => {
      await call({ socketPath: w.s.socketPath }, 'POST', '/api/v1/debug/node', { body: { user: 'golden', key: authId('b'), name: 'older-register', routes: [] } });
      return { path: `/api/v1/node/register?user=golden&key=${authId('b')}` };
    },
    reply: NodeReply,
    verify: (b) => assert.equal(b.node.name, 'older-register'),
  },

  // nodes
  {
    op: 'HeadscaleService_ListNodes',
    method: 'GET',
    path: '/api/v1/node',
    request: () => ({ path: '/api/v1/node?user=golden' }),
    reply: { nodes: repeated(msg(Node)) },
    verify: (b) => assert.deepEqual(b.nodes.map((n: { name: string }) => n.name), ['debug-node', 'older-register']),
  },
  {
    op: 'HeadscaleService_GetNode',
    method: 'GET',
    path: '/api/v1/node/{nodeId}',
    request: (w) => ({ path: `/api/v1/node/${w.ids['registered']}` }),
    reply: NodeReply,
    verify: (b) => {
      assert.equal(b.node.nodeKey, `nodekey:${'7'.repeat(64)}`, 'auth approve re-authenticated it');
      assert.equal(b.node.online, false);
      assert.equal(b.node.preAuthKey, null);
    },
  },
  {
    op: 'HeadscaleService_ExpireNode',
    method: 'POST',
    path: '/api/v1/node/{nodeId}/expire',
    request: (w) => ({ path: `/api/v1/node/${w.ids['registered']}/expire?expiry=${laterIso}` }),
    reply: NodeReply,
    verify: (b) => assert.equal(b.node.expiry, laterIso),
  },
  {
    op: 'HeadscaleService_ExpireNode',
    method: 'POST',
    path: '/api/v1/node/{nodeId}/expire',
    request: (w) => ({ path: `/api/v1/node/${w.ids['registered']}/expire?disableExpiry=true` }),
    reply: NodeReply,
    verify: (b) => assert.equal(b.node.expiry, null),
  },
  {
    op: 'HeadscaleService_RenameNode',
    method: 'POST',
    path: '/api/v1/node/{nodeId}/rename/{newName}',
    request: (w) => ({ path: `/api/v1/node/${w.ids['registered']}/rename/golden-node` }),
    reply: NodeReply,
    verify: (b) => assert.deepEqual([b.node.givenName, b.node.name], ['golden-node', 'debug-node']),
  },
  {
    op: 'HeadscaleService_SetApprovedRoutes',
    method: 'POST',
    path: '/api/v1/node/{nodeId}/approve_routes',
    request: (w) => ({ path: `/api/v1/node/${w.ids['registered']}/approve_routes`, body: { routes: ['10.1.0.0/16'] } }),
    reply: NodeReply,
    verify: (b) => {
      assert.deepEqual(b.node.approvedRoutes, ['10.1.0.0/16']);
      assert.deepEqual(b.node.subnetRoutes, ['10.1.0.0/16']);
    },
  },
  {
    op: 'HeadscaleService_SetTags',
    method: 'POST',
    path: '/api/v1/node/{nodeId}/tags',
    request: (w) => ({ path: `/api/v1/node/${w.ids['registered']}/tags`, body: { tags: ['tag:golden'] } }),
    reply: NodeReply,
    verify: (b) => {
      assert.deepEqual(b.node.tags, ['tag:golden']);
      assert.equal(b.node.user.name, 'tagged-devices', "a tagged node reports headscale's stand-in user");
    },
  },
  {
    op: 'HeadscaleService_MoveNode',
    method: 'POST',
    path: '/api/v1/node/{nodeId}/user',
    request: async (w) => {
      const from = await w.s.tailnet.createUser({ name: 'move-from' });
      const n = await addNode(w.s, from.id, 'to-move');
      return { path: `/api/v1/node/${n.id}/user`, body: { user: w.ids['user'] } };
    },
    reply: NodeReply,
    verify: (b) => assert.equal(b.node.user.name, 'golden'),
  },
  {
    op: 'HeadscaleService_BackfillNodeIPs',
    method: 'POST',
    path: '/api/v1/node/backfillips',
    request: () => ({ path: '/api/v1/node/backfillips?confirmed=true' }),
    reply: { changes: repeated('string') },
  },
  {
    op: 'HeadscaleService_DeleteNode',
    method: 'DELETE',
    path: '/api/v1/node/{nodeId}',
    request: async (w) => ({ path: `/api/v1/node/${(await addNode(w.s, Number(w.ids['user']), 'to-delete')).id}` }),
    reply: Empty,
  },

  // API keys
  {
    op: 'HeadscaleService_CreateApiKey',
    method: 'POST',
    path: '/api/v1/apikey',
    request: () => ({ path: '/api/v1/apikey', body: { expiration: laterIso } }),
    reply: { apiKey: 'string' },
    verify: (b) => assert.match(b.apiKey, /^hskey-api-/),
  },
  {
    op: 'HeadscaleService_ListApiKeys',
    method: 'GET',
    path: '/api/v1/apikey',
    request: () => ({ path: '/api/v1/apikey' }),
    reply: { apiKeys: repeated(msg(ApiKey)) },
    verify: (b, w) => {
      const k = b.apiKeys.find((x: { expiration: string | null }) => x.expiration === laterIso);
      assert.ok(k, 'the key created above, with its expiration');
      assert.match(k.prefix, /^hskey-api-[^-]+-\*\*\*$/);
      w.ids['apikeyPrefix'] = k.prefix;
      w.ids['apikeyId'] = k.id;
    },
  },
  {
    op: 'HeadscaleService_ExpireApiKey',
    method: 'POST',
    path: '/api/v1/apikey/expire',
    // The prefix as the listing shows it, as a script would pass it on.
    request: (w) => ({ path: '/api/v1/apikey/expire', body: { prefix: w.ids['apikeyPrefix'] } }),
    reply: Empty,
  },
  {
    op: 'HeadscaleService_DeleteApiKey',
    method: 'DELETE',
    path: '/api/v1/apikey/{prefix}',
    request: (w) => ({ path: `/api/v1/apikey/${encodeURIComponent(w.ids['apikeyPrefix']!)}` }),
    reply: Empty,
  },

  // policy
  {
    op: 'HeadscaleService_SetPolicy',
    method: 'PUT',
    path: '/api/v1/policy',
    request: () => ({ path: '/api/v1/policy', body: { policy: '{\n  // HuJSON\n  "tagOwners": {"tag:golden": ["golden@"]},\n  "acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}],\n}' } }),
    reply: PolicyReply,
    verify: (b) => {
      assert.match(b.policy, /\/\/ HuJSON/, 'the text as given, comments kept');
      assert.notEqual(b.updatedAt, null);
    },
  },
  {
    op: 'HeadscaleService_GetPolicy',
    method: 'GET',
    path: '/api/v1/policy',
    request: () => ({ path: '/api/v1/policy' }),
    reply: PolicyReply,
    verify: (b) => assert.match(b.policy, /tag:golden/),
  },
  {
    op: 'HeadscaleService_CheckPolicy',
    method: 'POST',
    path: '/api/v1/policy/check',
    request: () => ({ path: '/api/v1/policy/check', body: { policy: '{"acls": []}' } }),
    reply: Empty,
  },

  // health and audit
  {
    op: 'HeadscaleService_Health',
    method: 'GET',
    path: '/api/v1/health',
    request: () => ({ path: '/api/v1/health' }),
    reply: { databaseConnectivity: 'bool' },
    verify: (b) => assert.equal(b.databaseConnectivity, true),
  },
  {
    op: 'Switchboard_ListAudit',
    method: 'GET',
    path: '/api/v1/audit',
    request: () => ({ path: '/api/v1/audit?limit=5' }),
    reply: { events: repeated(msg(AuditEvent)) },
    verify: (b) => assert.equal(b.events.length, 5),
  },
];

/** Refusals: google.rpc.Status with the gRPC code grpc-gateway maps the HTTP status from. */
const ERRORS: { what: string; method: string; path: string; body?: unknown; status: number; code: number }[] = [
  { what: 'unknown node (NOT_FOUND)', method: 'GET', path: '/api/v1/node/999999', status: 404, code: 5 },
  { what: 'malformed id (INVALID_ARGUMENT)', method: 'GET', path: '/api/v1/node/abc', status: 400, code: 3 },
  { what: 'bad field type (INVALID_ARGUMENT)', method: 'POST', path: '/api/v1/node/1/tags', body: { tags: 'tag:x' }, status: 400, code: 3 },
  { what: 'unknown auth id (NOT_FOUND)', method: 'POST', path: '/api/v1/auth/reject', body: { authId: authId('f') }, status: 404, code: 5 },
  { what: 'duplicate user (ALREADY_EXISTS)', method: 'POST', path: '/api/v1/user', body: { name: 'golden' }, status: 409, code: 6 },
  { what: 'policy that does not parse (INVALID_ARGUMENT)', method: 'POST', path: '/api/v1/policy/check', body: { policy: '{"acls": [' }, status: 400, code: 3 },
];

// ---- running it ---------------------------------------------------------------------------

/** Every path and method of headscale v0.29.2's gen/openapiv2 headscale.swagger.json. */
const HEADSCALE_V0_29_2 = [
  'GET /api/v1/apikey HeadscaleService_ListApiKeys',
  'POST /api/v1/apikey HeadscaleService_CreateApiKey',
  'POST /api/v1/apikey/expire HeadscaleService_ExpireApiKey',
  'DELETE /api/v1/apikey/{prefix} HeadscaleService_DeleteApiKey',
  'POST /api/v1/auth/approve HeadscaleService_AuthApprove',
  'POST /api/v1/auth/register HeadscaleService_AuthRegister',
  'POST /api/v1/auth/reject HeadscaleService_AuthReject',
  'POST /api/v1/debug/node HeadscaleService_DebugCreateNode',
  'GET /api/v1/health HeadscaleService_Health',
  'GET /api/v1/node HeadscaleService_ListNodes',
  'POST /api/v1/node/backfillips HeadscaleService_BackfillNodeIPs',
  'POST /api/v1/node/register HeadscaleService_RegisterNode',
  'GET /api/v1/node/{nodeId} HeadscaleService_GetNode',
  'DELETE /api/v1/node/{nodeId} HeadscaleService_DeleteNode',
  'POST /api/v1/node/{nodeId}/approve_routes HeadscaleService_SetApprovedRoutes',
  'POST /api/v1/node/{nodeId}/expire HeadscaleService_ExpireNode',
  'POST /api/v1/node/{nodeId}/rename/{newName} HeadscaleService_RenameNode',
  'POST /api/v1/node/{nodeId}/tags HeadscaleService_SetTags',
  'GET /api/v1/policy HeadscaleService_GetPolicy',
  'PUT /api/v1/policy HeadscaleService_SetPolicy',
  'POST /api/v1/policy/check HeadscaleService_CheckPolicy',
  'GET /api/v1/preauthkey HeadscaleService_ListPreAuthKeys',
  'DELETE /api/v1/preauthkey HeadscaleService_DeletePreAuthKey',
  'POST /api/v1/preauthkey HeadscaleService_CreatePreAuthKey',
  'POST /api/v1/preauthkey/expire HeadscaleService_ExpirePreAuthKey',
  'GET /api/v1/user HeadscaleService_ListUsers',
  'POST /api/v1/user HeadscaleService_CreateUser',
  'DELETE /api/v1/user/{id} HeadscaleService_DeleteUser',
  'POST /api/v1/user/{oldId}/rename/{newName} HeadscaleService_RenameUser',

];
/** Older headscale's MoveNode, gone from v0.29 and kept here for older scripts. */
const LEGACY = ['POST /api/v1/node/{nodeId}/user HeadscaleService_MoveNode'];

const swaggerPath = (pattern: string) => pattern.replace(/:([A-Za-z]+)/g, '{$1}');

describe('golden /api/v1 pairs (headscale v0.29.2 protojson)', () => {
  const w: World = { s: undefined as unknown as Stack, ids: {} };
  beforeAll(async () => {
    w.s = await startStack({ webLogin: true, policy: 'database' });
  });
  afterAll(async () => w.s.close());

  test('the table covers every route the server has, under the operationId it publishes', () => {
    const routes = apiRoutes({ admin: w.s.tailnet, apiKeys: w.s.apiKeys }).all();
    const served = new Set(routes.map((r) => `${r.method} ${swaggerPath(r.pattern)} ${r.schema.operationId}`));
    const table = new Set(TABLE.map((g) => `${g.method} ${g.path} ${g.op}`));
    assert.deepEqual([...served].filter((x) => !table.has(x)), [], 'served but not in the golden table');
    assert.deepEqual([...table].filter((x) => !served.has(x)), [], 'in the golden table but not served');
    assert.equal(HEADSCALE_V0_29_2.length, 29);
    assert.deepEqual(HEADSCALE_V0_29_2.filter((x) => !table.has(x)), [], "headscale's, missing here");
    const extra = [...table].filter((x) => !HEADSCALE_V0_29_2.includes(x) && !LEGACY.includes(x));
    assert.ok(extra.every((x) => / Switchboard_\w+$/.test(x)), `not headscale's, yet not named Switchboard_: ${extra.join('; ')}`);
  });

  // Rows run in order: later ones use what earlier ones created.
  for (const [i, g] of TABLE.entries()) {
    test(`${g.method} ${g.path} (${g.op.replace(/^\w+_/, '')})${TABLE.findIndex((x) => x.op === g.op) !== i ? ` #${i}` : ''}`, async () => {
      const req = await g.request(w);
      const r = await call({ socketPath: w.s.socketPath }, g.method, req.path, { body: req.body });
      assert.equal(r.status, g.status ?? 200, r.text);
      assert.match(String(r.headers['content-type']), /^application\/json/);
      checkMessage(r.body, g.reply);
      await g.verify?.(r.body, w);
    });
  }

  for (const e of ERRORS) {
    test(`error: ${e.what} → ${e.status} {code: ${e.code}, message, details: []}`, async () => {
      const r = await call({ socketPath: w.s.socketPath }, e.method, e.path, { body: e.body });
      assert.equal(r.status, e.status, r.text);
      checkMessage(r.body, Status, 'error');
      assert.equal(r.body.code, e.code);
      assert.deepEqual(r.body.details, []);
      assert.notEqual(r.body.message, '');
    });
  }

  test("requests may use proto field names, as grpc-gateway accepts both (query and body)", async () => {
    const sock = { socketPath: w.s.socketPath };
    const u = await call(sock, 'POST', '/api/v1/user', { body: { name: 'snake', display_name: 'Snake Case', picture_url: 'https://example.com/s.png' } });
    assert.equal(u.status, 200, u.text);
    assert.deepEqual([u.body.user.displayName, u.body.user.profilePicUrl], ['Snake Case', 'https://example.com/s.png']);
    const k = await call(sock, 'POST', '/api/v1/preauthkey', { body: { user: u.body.user.id, acl_tags: ['tag:golden'] } });
    assert.equal(k.status, 200, k.text);
    assert.deepEqual(k.body.preAuthKey.aclTags, ['tag:golden']);
    const n = await addNode(w.s, Number(u.body.user.id), 'snake-node');
    const e = await call(sock, 'POST', `/api/v1/node/${n.id}/expire?disable_expiry=true`);
    assert.equal(e.status, 200, e.text);
    assert.equal(e.body.node.expiry, null);
    await call(sock, 'POST', '/api/v1/debug/node', { body: { user: 'snake', key: authId('c'), name: 'snake-debug' } });
    const r = await call(sock, 'POST', '/api/v1/auth/register', { body: { user: 'snake', auth_id: authId('c') } });
    assert.equal(r.status, 200, r.text);
    checkMessage(r.body, NodeReply);
  });

  test('error: no API key over TCP → 401 UNAUTHENTICATED (headscale answers plain "Unauthorized"; ours is a Status)', async () => {
    const r = await call({ url: w.s.tcpUrl }, 'GET', '/api/v1/node');
    assert.equal(r.status, 401);
    checkMessage(r.body, Status, 'error');
    assert.equal(r.body.code, 16);
  });

  test('the shape checker itself refuses what protojson would not emit', () => {
    assert.throws(() => checkMessage({ id: 1 }, { id: 'uint64' }), /uint64 as a decimal string/);
    assert.doesNotThrow(() => checkMessage({ t: '2025-01-01T00:00:00.000001Z' }, { t: 'Timestamp' }));
    assert.throws(() => checkMessage({ t: '2025-01-01 00:00:00' }, { t: 'Timestamp' }), /RFC 3339/);
    assert.throws(() => checkMessage({ t: '2025-01-01T00:00:00.1Z' }, { t: 'Timestamp' }), /RFC 3339/, 'protojson prints 0, 3, 6 or 9 digits');
    assert.throws(() => checkMessage({ l: null }, { l: repeated('string') }), /list expected/);
    assert.throws(() => checkMessage({}, { a: 'string' }), /fields/);
    assert.throws(() => checkMessage({ a: '', b: '' }, { a: 'string' }), /fields/);
    assert.throws(() => checkMessage({ e: 'AUTH_KEY' }, { e: RegisterMethod }), /one of/);
  });
});
