// GET /api/v1/audit: the audit log, newest first (Switchboard's own; headscale has none).
// ?limit= (1-1000, default 100), ?before=<id> pages back, ?since=<RFC 3339> keeps later ones.

import type { AuditLog } from '../../audit/log.js';
import { ApiError, badRequest } from '../errors.js';
import type { Router } from '../router.js';
import { schemas } from '../schemas.js';
import { timestampJson } from '../shapes.js';

const MAX_LIMIT = 1000;

export function addAuditRoutes(router: Router, audit: AuditLog | undefined): void {
  router.add('GET', '/api/v1/audit', schemas.listAudit, async ({ query }) => {
    if (!audit) throw new ApiError(501, 'this server keeps no audit log');
    const limit = query.id('limit') ?? 100;
    if (limit < 1 || limit > MAX_LIMIT) throw badRequest(`"limit" must be between 1 and ${MAX_LIMIT}, got ${limit}`);
    const beforeId = query.id('before');
    const since = query.timestamp('since');
    const events = await audit.list({ limit, beforeId, since });
    return {
      events: events.map((e) => ({
        id: String(e.id),
        createdAt: timestampJson(e.createdAt),
        actor: e.actor,
        action: e.action,
        target: e.target,
        detail: e.detail,
      })),
    };
  });
}
