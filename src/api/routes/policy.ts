// /api/v1/policy: get, set, check. The policy service is optional (a file-mode server has
// nothing to set), so each route says plainly when it is missing.

import { ApiError } from '../errors.js';
import type { PolicyService } from '../policy.js';
import type { Router } from '../router.js';
import { schemas } from '../schemas.js';
import { timestampJson } from '../shapes.js';

export function addPolicyRoutes(router: Router, policy: PolicyService | undefined): void {
  const need = (): PolicyService => {
    if (!policy) throw new ApiError(501, 'policy management is not available on this server');
    return policy;
  };

  router.add('GET', '/api/v1/policy', schemas.getPolicy, async () => {
    const doc = await need().get();
    return { policy: doc.policy, updatedAt: timestampJson(doc.updatedAt) };
  });

  router.add('PUT', '/api/v1/policy', schemas.setPolicy, async ({ body }) => {
    const svc = need();
    const text = (await body()).requiredString('policy');
    const doc = await svc.set(text);
    return { policy: doc.policy, updatedAt: timestampJson(doc.updatedAt) };
  });

  router.add('POST', '/api/v1/policy/check', schemas.checkPolicy, async ({ body }) => {
    const svc = need();
    const text = (await body()).requiredString('policy');
    if (!svc.check) throw new ApiError(501, 'checking a policy without applying it is not available on this server');
    await svc.check(text);
    return {};
  });
}
