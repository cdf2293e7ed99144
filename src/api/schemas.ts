// JSON schemas for every /api/v1 route: Fastify validates requests against them and
// serializes responses with them (a response missing a field fails instead of going out
// short), and the OpenAPI document is generated from them. Shapes follow headscale's
// proto/headscale/v1 messages in protojson form: camelCase, uint64 ids as decimal strings,
// timestamps RFC 3339, unset messages null.
//
// Requests are described loosely where protojson is loose (an id may be a number or a
// string, unknown fields are ignored); the route code then checks meaning (a tag's syntax,
// a CIDR, whether a user exists) and names the field when it refuses.

import type { FastifySchema } from 'fastify';

export interface RouteSchema extends FastifySchema {
  operationId: string;
  summary: string;
}

type Json = Record<string, unknown>;

const str = (description?: string): Json => (description ? { type: 'string', description } : { type: 'string' });
const bool = { type: 'boolean' };
const strings = { type: 'array', items: { type: 'string' } };
const nullableTime = { type: ['string', 'null'], description: 'RFC 3339 timestamp, null when unset' };
/** A request timestamp: RFC 3339 (the route re-checks the exact form). */
const time = { type: 'string', format: 'date-time' };
/** protojson sends uint64 as a decimal string; a JSON number is accepted too. */
const id64 = { type: ['string', 'integer'], description: 'uint64 id, as a decimal string or a number' };

export function object(properties: Record<string, Json>, required: string[] = []): Json {
  return { type: 'object', properties, ...(required.length ? { required } : {}) };
}

/** A response object: every field is always present (EmitUnpopulated). */
export function message(properties: Record<string, Json>): Json {
  return { type: 'object', properties, required: Object.keys(properties), additionalProperties: false };
}

const nullable = (schema: Json): Json => ({ ...schema, type: ['object', 'null'] });

export const UserSchema = message({
  id: str(),
  name: str(),
  createdAt: nullableTime,
  displayName: str(),
  email: str(),
  providerId: str(),
  provider: str(),
  profilePicUrl: str(),
});

export const PreAuthKeySchema = message({
  user: nullable(UserSchema),
  id: str(),
  key: str('the full key on creation; "hskey-auth-<prefix>-***" in listings'),
  reusable: bool,
  ephemeral: bool,
  used: bool,
  expiration: nullableTime,
  createdAt: nullableTime,
  aclTags: strings,
});

export const NodeSchema = message({
  id: str(),
  machineKey: str(),
  nodeKey: str(),
  discoKey: str(),
  ipAddresses: strings,
  name: str(),
  user: nullable(UserSchema),
  lastSeen: nullableTime,
  expiry: nullableTime,
  preAuthKey: nullable(PreAuthKeySchema),
  createdAt: nullableTime,
  registerMethod: { type: 'string', enum: ['REGISTER_METHOD_UNSPECIFIED', 'REGISTER_METHOD_AUTH_KEY', 'REGISTER_METHOD_CLI', 'REGISTER_METHOD_OIDC'] },
  givenName: str(),
  online: bool,
  approvedRoutes: strings,
  availableRoutes: strings,
  subnetRoutes: strings,
  tags: strings,
});

export const ApiKeySchema = message({
  id: str(),
  prefix: str(),
  expiration: nullableTime,
  createdAt: nullableTime,
  lastSeen: nullableTime,
});

const PolicyReply = message({ policy: str('the policy document (HuJSON)'), updatedAt: nullableTime });
const Empty = message({});

/** The error body of every refusal (grpc-gateway's google.rpc.Status). */
export const ErrorSchema = message({ code: { type: 'integer' }, message: str(), details: { type: 'array', items: {} } });

const replies = (ok: Json): Json => ({ 200: ok, default: ErrorSchema });

/** `operationId` is headscale's RPC name (HeadscaleService_X); a "Switchboard_" one is ours alone. */
export function op(tag: string, operationId: string, summary: string, rest: Omit<FastifySchema, 'response'> & { response: Json }): RouteSchema {
  const id = operationId.startsWith('Switchboard_') ? operationId : `HeadscaleService_${operationId}`;
  return { operationId: id, summary, tags: [tag], ...rest, response: replies(rest.response) };
}

const nodeParams = object({ nodeId: str('node id') }, ['nodeId']);
export const nodeReply = message({ node: NodeSchema });
const userReply = message({ user: UserSchema });

export const schemas = {
  listUsers: op('users', 'ListUsers', 'List users, optionally filtered by one of name, email or id', {
    querystring: object({ name: str(), email: str(), id: str('user id') }),
    response: message({ users: { type: 'array', items: UserSchema } }),
  }),
  createUser: op('users', 'CreateUser', 'Create a user', {
    body: object({ name: str(), displayName: str(), email: str(), pictureUrl: str('absolute URL') }, ['name']),
    response: userReply,
  }),
  renameUser: op('users', 'RenameUser', 'Rename a user', {
    params: object({ oldId: str('user id'), newName: str() }, ['oldId', 'newName']),
    response: userReply,
  }),
  deleteUser: op('users', 'DeleteUser', 'Delete a user without nodes', {
    params: object({ id: str('user id') }, ['id']),
    response: Empty,
  }),

  listPreAuthKeys: op('preauthkeys', 'ListPreAuthKeys', 'List pre-auth keys, optionally of one user', {
    querystring: object({ user: str('user id or name') }),
    response: message({ preAuthKeys: { type: 'array', items: PreAuthKeySchema } }),
  }),
  createPreAuthKey: op('preauthkeys', 'CreatePreAuthKey', 'Create a pre-auth key owned by a user or by tags', {
    body: object({ user: { ...id64, description: 'owner: user id, or name' }, reusable: bool, ephemeral: bool, expiration: time, aclTags: strings }),
    response: message({ preAuthKey: PreAuthKeySchema }),
  }),
  expirePreAuthKey: op('preauthkeys', 'ExpirePreAuthKey', 'Expire a pre-auth key, by id (or by key and user)', {
    body: object({ id: id64, key: str(), user: id64 }),
    response: Empty,
  }),
  deletePreAuthKey: op('preauthkeys', 'DeletePreAuthKey', 'Delete a pre-auth key, by id (or by key and user)', {
    querystring: object({ id: str(), key: str(), user: str() }),
    response: Empty,
  }),

  listNodes: op('nodes', 'ListNodes', 'List nodes, optionally of one user', {
    querystring: object({ user: str('user name (or id)') }),
    response: message({ nodes: { type: 'array', items: NodeSchema } }),
  }),
  getNode: op('nodes', 'GetNode', 'Get a node', { params: nodeParams, response: nodeReply }),
  deleteNode: op('nodes', 'DeleteNode', 'Delete a node', { params: nodeParams, response: Empty }),
  expireNode: op('nodes', 'ExpireNode', "Expire a node's key now, at a given time, or disable its expiry", {
    params: nodeParams,
    querystring: object({ expiry: str('RFC 3339 timestamp'), disableExpiry: str('true or false') }),
    response: nodeReply,
  }),
  renameNode: op('nodes', 'RenameNode', "Set a node's given name", {
    params: object({ nodeId: str('node id'), newName: str() }, ['nodeId', 'newName']),
    response: nodeReply,
  }),
  setTags: op('nodes', 'SetTags', "Replace a node's tags", {
    params: nodeParams,
    body: object({ tags: strings }),
    response: nodeReply,
  }),
  setApprovedRoutes: op('nodes', 'SetApprovedRoutes', "Replace a node's approved subnet routes", {
    params: nodeParams,
    body: object({ routes: strings }),
    response: nodeReply,
  }),
  moveNode: op('nodes', 'MoveNode', 'Give a node to another user', {
    params: nodeParams,
    body: object({ user: { ...id64, description: 'the new owner: user id, or name' } }),
    querystring: object({ user: str('the new owner (older clients sent it here)') }),
    response: nodeReply,
  }),
  registerNode: op('nodes', 'RegisterNode', 'Register a node waiting for web login, by its registration key', {
    querystring: object({ user: str(), key: str('registration key') }),
    response: nodeReply,
  }),
  backfillNodeIPs: op('nodes', 'BackfillNodeIPs', 'Assign addresses missing for configured prefixes, remove those of prefixes no longer configured', {
    querystring: object({ confirmed: { type: ['string', 'boolean'], description: 'must be true' } }),
    response: message({ changes: strings }),
  }),
  debugCreateNode: op('nodes', 'DebugCreateNode', 'Create a node waiting for registration (testing)', {
    body: object({ user: str(), key: str('registration key'), name: str(), routes: strings }),
    response: nodeReply,
  }),
  listAudit: op('audit', 'Switchboard_ListAudit', 'Admin changes, newest first', {
    querystring: object({ limit: str('1-1000, default 100'), before: str('only events with a smaller id'), since: time }),
    response: message({
      events: {
        type: 'array',
        items: message({
          id: str(),
          createdAt: nullableTime,
          actor: str('"api key hskey-api-<prefix>" or "local socket"'),
          action: str('the API operation, e.g. DeleteNode'),
          target: str('method and path'),
          detail: { type: 'object', additionalProperties: true },
        }),
      },
    }),
  }),
  health: op('health', 'Health', 'Whether the server reaches its database', {
    response: message({ databaseConnectivity: bool }),
  }),

  listApiKeys: op('apikeys', 'ListApiKeys', 'List API keys (prefixes only)', {
    response: message({ apiKeys: { type: 'array', items: ApiKeySchema } }),
  }),
  createApiKey: op('apikeys', 'CreateApiKey', 'Create an API key; the key is shown only in this reply', {
    body: object({ expiration: time }),
    response: message({ apiKey: str() }),
  }),
  expireApiKey: op('apikeys', 'ExpireApiKey', 'Expire an API key, by prefix or id', {
    body: object({ prefix: str(), id: id64 }),
    response: Empty,
  }),
  deleteApiKey: op('apikeys', 'DeleteApiKey', 'Delete an API key, by prefix (or by id in the query)', {
    params: object({ prefix: str() }, ['prefix']),
    querystring: object({ id: str() }),
    response: Empty,
  }),

  getPolicy: op('policy', 'GetPolicy', 'Get the policy in force', { response: PolicyReply }),
  setPolicy: op('policy', 'SetPolicy', 'Replace the policy (database mode)', {
    body: object({ policy: str('the policy document (HuJSON)') }, ['policy']),
    response: PolicyReply,
  }),
  checkPolicy: op('policy', 'CheckPolicy', 'Check a policy without applying it', {
    body: object({ policy: str('the policy document (HuJSON)') }, ['policy']),
    response: Empty,
  }),
} satisfies Record<string, RouteSchema>;
