// /api/v1/node: list, get, delete, expire, rename, tags, approve_routes, move, register,
// backfillips; and /api/v1/debug/node.

import type { AdminService, NodeView } from '../../state/admin.js';
import type { UserRecord } from '../../state/model.js';
import { formatPrefix, parsePrefix } from '../../util/netaddr.js';
import { ApiError, badRequest } from '../errors.js';
import type { Router } from '../router.js';
import { schemas } from '../schemas.js';
import { nodeJson, userJson, type NodeJson } from '../shapes.js';
import type { WebLogin } from '../../auth/weblogin.js';
import { authIdProblem, PendingFull, PendingIdTaken } from '../../auth/pending.js';
import { zeroKey } from '../../control/validate.js';
import { formatMachinePublic, formatNodePublic, generateKeyPair } from '../../noise/keys.js';
import { registerPending } from './auth.js';
import { resolveUser } from './preauthkeys.js';
import { validateTags } from './tags.js';

export function addNodeRoutes(router: Router, admin: AdminService, webLogin?: WebLogin): void {
  const render = (n: NodeView) => {
    const users = new Map(admin.listUsers().map((u) => [u.id, u]));
    return nodeJson(n, (id) => users.get(id) ?? null);
  };

  router.add('GET', '/api/v1/node', schemas.listNodes, async ({ query }) => {
    let user: UserRecord | undefined;
    const name = query.string('user');
    if (name) {
      // headscale filters by user name; an id is accepted too when no user has that name.
      user = admin.listUsers({ name })[0] ?? (/^\d+$/.test(name) ? resolveUser(admin, query, 'user') : undefined);
      if (!user) throw new ApiError(404, `user ${JSON.stringify(name)} not found`);
    }
    const users = new Map(admin.listUsers().map((u) => [u.id, u]));
    const nodes = admin.listNodes(user ? { userId: user.id } : undefined).sort((a, b) => a.id - b.id);
    return { nodes: nodes.map((n) => nodeJson(n, (id) => users.get(id) ?? null)) };
  });

  router.add('GET', '/api/v1/node/:nodeId', schemas.getNode, async ({ idParam }) => {
    return { node: render(admin.getNode(idParam('nodeId'))) };
  });

  router.add('DELETE', '/api/v1/node/:nodeId', schemas.deleteNode, async ({ idParam }) => {
    await admin.deleteNode(idParam('nodeId'));
    return {};
  });

  router.add('POST', '/api/v1/node/:nodeId/expire', schemas.expireNode, async ({ idParam, query }) => {
    const id = idParam('nodeId');
    const expiry = query.timestamp('expiry');
    const disable = query.bool('disableExpiry') ?? false;
    if (disable && expiry) throw badRequest('give either "expiry" or "disableExpiry", not both');
    if (disable) {
      return { node: render(await admin.disableNodeExpiry(id)) };
    }
    return { node: render(await admin.expireNode(id, expiry)) };
  });

  router.add('POST', '/api/v1/node/:nodeId/rename/:newName', schemas.renameNode, async ({ idParam, params }) => {
    const newName = params['newName']!;
    if (newName.trim() === '') throw badRequest('path parameter "newName" must not be empty');
    return { node: render(await admin.renameNode(idParam('nodeId'), newName)) };
  });

  router.add('POST', '/api/v1/node/:nodeId/tags', schemas.setTags, async ({ idParam, body }) => {
    const id = idParam('nodeId');
    const input = await body();
    const tags = validateTags(input.strings('tags') ?? [], 'tags');
    if (tags.length === 0) {
      throw badRequest('field "tags" must not be empty: tagged nodes must keep at least one tag');
    }
    return { node: render(await admin.setNodeTags(id, tags)) };
  });

  router.add('POST', '/api/v1/node/:nodeId/approve_routes', schemas.setApprovedRoutes, async ({ idParam, body }) => {
    const id = idParam('nodeId');
    const input = await body();
    const routes = normalizeRoutes(input.strings('routes') ?? []);
    return { node: render(await admin.setApprovedRoutes(id, routes)) };
  });

  router.add('POST', '/api/v1/node/:nodeId/user', schemas.moveNode, async ({ idParam, body, query }) => {
    const id = idParam('nodeId');
    const input = await body();
    // Older headscale sent the user in the query string; newer ones in the body.
    const user = resolveUser(admin, input.has('user') ? input : query, 'user');
    if (!user) throw badRequest('field "user" is required (the id or name of the new owner)');
    return { node: render(await admin.moveNode(id, user.id)) };
  });

  router.add('POST', '/api/v1/node/register', schemas.registerNode, async ({ query }) => {
    query.requiredString('user');
    const key = query.requiredString('key');
    if (!webLogin) throw new ApiError(501, 'registering nodes by web login is not supported by this server; use a pre-auth key');
    // The key is the auth id of a pending web login (the older name of `auth register`).
    await webLogin.lookup(key);
    return registerPending(admin, webLogin, key, resolveUser(admin, query, 'user'));
  });

  router.add('POST', '/api/v1/node/backfillips', schemas.backfillNodeIPs, async ({ query }) => {
    // headscale refuses unless the caller confirmed; the CLI asks first.
    if (query.bool('confirmed') !== true) throw badRequest('not confirmed, aborting (send confirmed=true)');
    return { changes: await admin.backfillNodeIPs() };
  });

  router.add('POST', '/api/v1/debug/node', schemas.debugCreateNode, async ({ body }) => {
    const b = await body();
    const userName = b.requiredString('user');
    const key = b.requiredString('key');
    const name = b.requiredString('name');
    const routes = normalizeRoutes(b.strings('routes') ?? []);
    if (!webLogin) throw new ApiError(501, 'creating a node waiting for registration needs web login, which this server lacks');
    return { node: await debugCreateNode(admin, webLogin, { userName, key, name, routes }) };
  });
}

/**
 * headscale's DebugCreateNode: a registration waiting under the caller's auth id, for a
 * made-up machine (fresh keys, hostname `name`, announcing `routes`), that `auth register`
 * or `nodes register` then completes. The reply echoes the node it would become: id 0, no
 * addresses yet, owned by `user` (which must exist, by name, as in headscale).
 */
async function debugCreateNode(
  admin: AdminService,
  webLogin: WebLogin,
  req: { userName: string; key: string; name: string; routes: string[] },
): Promise<NodeJson> {
  const user = admin.listUsers({ name: req.userName })[0];
  if (!user) throw new ApiError(404, `user ${JSON.stringify(req.userName)} not found`);
  const problem = authIdProblem(req.key);
  if (problem) throw badRequest(`field "key": ${problem}`);
  const machineKey = formatMachinePublic(generateKeyPair().publicKey);
  const nodeKey = formatNodePublic(generateKeyPair().publicKey);
  const hostinfo = { Hostname: req.name, OS: 'TestOS', RoutableIPs: req.routes };
  try {
    await webLogin.pending.begin({ machineKey, nodeKey, hostinfo, hostname: req.name, ephemeral: false, requestedExpiry: null }, req.key);
  } catch (err) {
    if (err instanceof PendingIdTaken) throw new ApiError(409, err.message);
    if (err instanceof PendingFull) throw new ApiError(503, err.message);
    throw err;
  }
  return {
    id: '0',
    machineKey,
    nodeKey,
    discoKey: zeroKey('discokey'),
    ipAddresses: [],
    name: req.name,
    user: userJson(user),
    lastSeen: null,
    expiry: null,
    preAuthKey: null,
    createdAt: null,
    registerMethod: 'REGISTER_METHOD_UNSPECIFIED',
    givenName: '',
    online: false,
    approvedRoutes: [],
    availableRoutes: [...req.routes],
    subnetRoutes: [],
    tags: [],
  };
}

/**
 * Validates CIDR routes and, like headscale, approves both exit routes when either is given,
 * because clients only treat a node as an exit node when it has both.
 */
export function normalizeRoutes(routes: string[]): string[] {
  const out: string[] = [];
  for (const r of routes) {
    if (r.trim() === '') continue;
    let text: string;
    try {
      if (!r.includes('/')) throw new Error('missing "/length"');
      text = formatPrefix(parsePrefix(r.trim()));
    } catch (err) {
      throw badRequest(`field "routes": ${JSON.stringify(r)} is not a CIDR prefix (${(err as Error).message})`);
    }
    if (text === '0.0.0.0/0' || text === '::/0') out.push('0.0.0.0/0', '::/0');
    else out.push(text);
  }
  return [...new Set(out)];
}
