// The admin REST API under /api/v1, with headscale's paths and JSON shapes, as a Fastify
// plugin. Over TCP every request must carry "Authorization: Bearer <api key>"; on the unix
// socket (`trusted`) file permissions are the access control, so no key is needed.

import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { apiKeyActor, auditDetail, LOCAL_SOCKET, type AuditLog } from '../audit/log.js';
import type { AdminService } from '../state/admin.js';
import { secretPrefix } from '../state/secrets.js';
import type { ApiKeyService } from './apikeys.js';
import { ApiError, errorBody, thrownToError } from './errors.js';
import { MAX_BODY_BYTES, parseJsonBody } from './input.js';
import type { PolicyService } from './policy.js';
import { makeContext, Router } from './router.js';
import type { WebLogin } from '../auth/weblogin.js';
import { addApiKeyRoutes } from './routes/apikeys.js';
import { addAuditRoutes } from './routes/audit.js';
import { addAuthRoutes } from './routes/auth.js';
import { addHealthRoutes } from './routes/health.js';
import { addNodeRoutes } from './routes/nodes.js';
import { addPolicyRoutes } from './routes/policy.js';
import { addPreAuthKeyRoutes } from './routes/preauthkeys.js';
import { addUserRoutes } from './routes/users.js';

export interface ApiDeps {
  admin: AdminService;
  apiKeys: ApiKeyService;
  policy?: PolicyService;
  /** Web-login registrations (auth register/approve/reject); absent: those routes answer 501. */
  webLogin?: WebLogin;
  /** Checks the database is reachable (GET /api/v1/health). */
  ping?: () => Promise<void>;
  /** Where admin changes are recorded (GET /api/v1/audit reads it back). */
  audit?: AuditLog;
  log?: (msg: string) => void;
}

export interface ApiPluginOptions {
  /** The unix socket: no API key needed. */
  trusted: boolean;
}

export const API_PREFIX = '/api/v1';

/** The route table of the API (also what the OpenAPI document describes). */
export function apiRoutes(deps: ApiDeps): Router {
  const router = new Router();
  addUserRoutes(router, deps.admin);
  addPreAuthKeyRoutes(router, deps.admin);
  addNodeRoutes(router, deps.admin, deps.webLogin);
  addAuthRoutes(router, deps.admin, deps.webLogin);
  addApiKeyRoutes(router, deps.apiKeys);
  addPolicyRoutes(router, deps.policy);
  addHealthRoutes(router, deps.ping);
  addAuditRoutes(router, deps.audit);
  return router;
}

export function isApiPath(url: string): boolean {
  return url === API_PREFIX || url.startsWith(`${API_PREFIX}/`) || url.startsWith(`${API_PREFIX}?`);
}

/**
 * Registers the API on `app`: call inside app.register() so its body parser, hooks and
 * error handler stay within the API. Returns the handler for paths under /api/v1 that no
 * route matched (the caller's not-found handler delegates to it).
 */
export function registerApi(
  app: FastifyInstance,
  deps: ApiDeps,
  opts: ApiPluginOptions,
): (req: FastifyRequest, reply: FastifyReply) => Promise<void> {
  const log = deps.log ?? (() => {});
  const router = apiRoutes(deps);

  // protojson bodies whatever the content type (grpc-gateway ignores it too).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: MAX_BODY_BYTES }, (_req, body, done) => {
    try {
      done(null, parseJsonBody(body as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });

  // Who made each request, for the audit log; per app, never global.
  const actors = new WeakMap<FastifyRequest, string>();
  // Authenticate before routing and before reading a body, so unauthenticated callers
  // learn nothing about the API.
  const authenticate = async (req: FastifyRequest, reply: FastifyReply) => {
    if (opts.trusted) {
      actors.set(req, LOCAL_SOCKET);
      return true;
    }
    if (await authorized(req)) return true;
    reply.header('www-authenticate', 'Bearer');
    sendError(reply, new ApiError(401, 'Unauthorized: a valid API key is required ("Authorization: Bearer <key>")'));
    return false;
  };

  app.addHook('onRequest', async (req, reply) => {
    if (!(await authenticate(req, reply))) return reply;
  });
  // Routes with a body schema validate {} when the request had no body at all.
  app.addHook('preValidation', async (req) => {
    if (req.body === undefined) req.body = {};
  });

  app.setErrorHandler((err: FastifyError, _req, reply) => {
    sendError(reply, thrownToError(err, log));
  });

  for (const r of router.all()) {
    app.route({
      method: r.method as 'GET',
      url: r.pattern,
      schema: r.schema,
      handler: async (req, reply) => {
        const result = await r.fn(makeContext(req));
        if (changes(r.method, r.schema.operationId)) await recordChange(req, r.schema.operationId);
        reply.header('cache-control', 'no-store');
        return result;
      },
    });
  }

  return async (req, reply) => {
    if (!(await authenticate(req, reply))) return;
    const path = req.url.split('?')[0]!;
    let match: ReturnType<Router['match']>;
    try {
      match = router.match(req.method, path);
    } catch (err) {
      sendError(reply, thrownToError(err, log)); // a path parameter that is not valid percent-encoding
      return;
    }
    if (match.kind === 'wrongMethod') {
      reply.header('allow', match.allowed.join(', '));
      sendError(reply, new ApiError(405, `${path} does not support ${req.method}; use ${match.allowed.join(' or ')}`));
      return;
    }
    sendError(reply, new ApiError(404, `no such API endpoint: ${req.method} ${path}`));
  };

  async function recordChange(req: FastifyRequest, operationId: string): Promise<void> {
    if (!deps.audit) return;
    const action = operationId.replace(/^(HeadscaleService|Switchboard)_/, '');
    const target = `${req.method} ${req.url.split('?')[0]}`;
    try {
      await deps.audit.record({ actor: actors.get(req) ?? 'unknown', action, target, detail: auditDetail(req.query, req.body) });
    } catch (err) {
      // The change is made; failing the reply now would invite a retry that repeats it.
      log(`audit: could not record ${action} (${target}): ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  async function authorized(req: FastifyRequest): Promise<boolean> {
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (m && (await deps.apiKeys.verify(m[1]!))) {
      actors.set(req, apiKeyActor(secretPrefix('hskey-api', m[1]!.trim()) ?? '?'));
      return true;
    }
    // Say why, but never echo the presented key, nor the query string (it may hold a key).
    const why = !header ? 'no Authorization header' : !m ? 'Authorization is not a Bearer token' : 'unknown or expired API key';
    log(`api: refused ${req.method} ${req.url.split('?')[0]} from ${req.socket.remoteAddress ?? '?'}: ${why}`);
    return false;
  }
}

/** Requests that change state: every method but GET, except a policy check. */
function changes(method: string, operationId: string): boolean {
  return method !== 'GET' && method !== 'HEAD' && !operationId.endsWith('_CheckPolicy');
}

function sendError(reply: FastifyReply, err: ApiError): void {
  reply.code(err.status).header('cache-control', 'no-store').type('application/json').send(errorBody(err.status, err.message));
}

/**
 * Mounts the API on `app` in its own encapsulated context. Returns the handler for unmatched
 * paths under /api/v1; pass it to the app's not-found handler (see web/app.ts).
 */
export async function mountApi(
  app: FastifyInstance,
  deps: ApiDeps,
  opts: ApiPluginOptions,
): Promise<(req: FastifyRequest, reply: FastifyReply) => Promise<void>> {
  let notFound: ((req: FastifyRequest, reply: FastifyReply) => Promise<void>) | null = null;
  await app.register(async (scope) => {
    notFound = registerApi(scope, deps, opts);
  });
  return notFound!;
}
