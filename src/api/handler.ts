// The admin REST API under /api/v1, with headscale's paths and JSON shapes. Over TCP every
// request must carry "Authorization: Bearer <api key>"; on the unix socket (`trusted`) file
// permissions are the access control, so no key is needed.

import type http from 'node:http';
import type { AdminService } from '../state/admin.js';
import type { ApiKeyService } from './apikeys.js';
import { ApiError, sendError, sendJson, sendThrown } from './errors.js';
import type { PolicyService } from './policy.js';
import { makeContext, Router } from './router.js';
import { addApiKeyRoutes } from './routes/apikeys.js';
import { addNodeRoutes } from './routes/nodes.js';
import { addPolicyRoutes } from './routes/policy.js';
import { addPreAuthKeyRoutes } from './routes/preauthkeys.js';
import { addUserRoutes } from './routes/users.js';

export interface ApiDeps {
  admin: AdminService;
  apiKeys: ApiKeyService;
  policy?: PolicyService;
  log?: (msg: string) => void;
}

export type ApiHandler = (
  req: http.IncomingMessage,
  res: http.ServerResponse,
  opts: { trusted: boolean },
) => boolean;

const PREFIX = '/api/v1';

export function createApiHandler(deps: ApiDeps): ApiHandler {
  const log = deps.log ?? (() => {});
  const router = new Router();
  addUserRoutes(router, deps.admin);
  addPreAuthKeyRoutes(router, deps.admin);
  addNodeRoutes(router, deps.admin);
  addApiKeyRoutes(router, deps.apiKeys);
  addPolicyRoutes(router, deps.policy);

  return (req, res, opts) => {
    const url = new URL(req.url ?? '/', 'http://switchboard.invalid');
    if (url.pathname !== PREFIX && !url.pathname.startsWith(`${PREFIX}/`)) return false;
    handle(req, res, url, opts.trusted).catch((err: unknown) => {
      if (!res.headersSent) sendThrown(res, err, log);
      else res.destroy();
    });
    return true;
  };

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, url: URL, trusted: boolean) {
    // Authenticate before routing so unauthenticated callers learn nothing about the API.
    if (!trusted && !(await authorized(req))) {
      res.setHeader('www-authenticate', 'Bearer');
      sendError(res, 401, 'Unauthorized: a valid API key is required ("Authorization: Bearer <key>")');
      req.resume();
      return;
    }
    const method = req.method ?? 'GET';
    const match = router.match(method, url.pathname);
    if (match.kind === 'none') throw new ApiError(404, `no such API endpoint: ${method} ${url.pathname}`);
    if (match.kind === 'wrongMethod') {
      res.setHeader('allow', match.allowed.join(', '));
      throw new ApiError(405, `${url.pathname} does not support ${method}; use ${match.allowed.join(' or ')}`);
    }
    const result = await match.fn(makeContext(req, url, match.params));
    sendJson(res, 200, result);
  }

  async function authorized(req: http.IncomingMessage): Promise<boolean> {
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (m && (await deps.apiKeys.verify(m[1]!))) return true;
    // Say why, but never echo the presented key.
    const why = !header ? 'no Authorization header' : !m ? 'Authorization is not a Bearer token' : 'unknown or expired API key';
    log(`api: refused ${req.method} ${req.url} from ${req.socket.remoteAddress ?? '?'}: ${why}`);
    return false;
  }
}
