// /api/v1/auth: web-login registrations waiting for an administrator. register, approve and
// reject are headscale's (AuthRegister, AuthApprove, AuthReject); listing the waiting ones
// is ours (headscale has no way to see them).

import type { PendingRegistration } from '../../auth/pending.js';
import type { WebLogin } from '../../auth/weblogin.js';
import type { AdminService } from '../../state/admin.js';
import { ApiError, badRequest } from '../errors.js';
import type { Input } from '../input.js';
import type { Router } from '../router.js';
import { message, nodeReply, object, op } from '../schemas.js';
import { nodeJson } from '../shapes.js';
import { resolveUser } from './preauthkeys.js';

const str = { type: 'string' };
const PendingSchema = message({
  authId: str,
  machineKey: str,
  nodeKey: str,
  hostname: str,
  /** The given name of the node this machine already has, or "" for a new machine. */
  knownNode: str,
  createdAt: str,
  expiresAt: str,
});

export const authSchemas = {
  authRegister: op('auth', 'AuthRegister', 'Register the machine of a pending web login to a user', {
    body: object({ user: { type: ['string', 'integer'], description: 'user name or id' }, authId: str }),
    response: nodeReply,
  }),
  authApprove: op('auth', 'AuthApprove', 'Approve a pending web login of a machine already on the tailnet', {
    body: object({ authId: str }),
    response: message({}),
  }),
  authReject: op('auth', 'AuthReject', 'Reject a pending web login', {
    body: object({ authId: str }),
    response: message({}),
  }),
  listPending: op('auth', 'Switchboard_ListPendingRegistrations', 'List web logins waiting for a decision', {
    response: message({ registrations: { type: 'array', items: PendingSchema } }),
  }),
};

/** protojson's name, or the proto field name grpc-gateway also accepts. */
function authIdOf(input: Input): string {
  return input.has('auth_id') && !input.has('authId') ? input.requiredString('auth_id') : input.requiredString('authId');
}

function unavailable(): never {
  throw new ApiError(501, 'web login is not enabled on this server');
}

function pendingJson(web: WebLogin, e: PendingRegistration) {
  return {
    authId: e.id,
    machineKey: e.machineKey,
    nodeKey: e.nodeKey,
    hostname: e.hostname,
    knownNode: web.knownNode(e)?.givenName ?? '',
    createdAt: e.createdAt.toISOString(),
    expiresAt: e.expiresAt.toISOString(),
  };
}

/** `POST /api/v1/node/register?user=&key=` (older headscale) lands here too. */
export async function registerPending(admin: AdminService, web: WebLogin, authId: string, user: ReturnType<typeof resolveUser>) {
  if (!user) throw badRequest('field "user" is required (the name or id of the owner)');
  const node = await web.register(authId, user);
  const users = new Map(admin.listUsers().map((u) => [u.id, u]));
  return { node: nodeJson(node, (id) => users.get(id) ?? null) };
}

export function addAuthRoutes(router: Router, admin: AdminService, web: WebLogin | undefined): void {
  router.add('POST', '/api/v1/auth/register', authSchemas.authRegister, async ({ body }) => {
    if (!web) unavailable();
    const input = await body();
    const authId = authIdOf(input);
    // The id is checked before the user, so a typo in it is not reported as a missing user.
    await web.lookup(authId);
    return registerPending(admin, web, authId, resolveUser(admin, input, 'user'));
  });

  router.add('POST', '/api/v1/auth/approve', authSchemas.authApprove, async ({ body }) => {
    if (!web) unavailable();
    await web.approve(authIdOf(await body()));
    return {};
  });

  router.add('POST', '/api/v1/auth/reject', authSchemas.authReject, async ({ body }) => {
    if (!web) unavailable();
    await web.reject(authIdOf(await body()));
    return {};
  });

  router.add('GET', '/api/v1/auth/pending', authSchemas.listPending, async () => {
    if (!web) unavailable();
    return { registrations: (await web.pending.list()).map((e) => pendingJson(web, e)) };
  });
}
