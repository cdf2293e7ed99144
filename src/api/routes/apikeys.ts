// /api/v1/apikey: list, create, expire, delete.

import type { ApiKeyService } from '../apikeys.js';
import { badRequest } from '../errors.js';
import type { Input } from '../input.js';
import type { Router } from '../router.js';
import { schemas } from '../schemas.js';
import { apiKeyJson } from '../shapes.js';

export function addApiKeyRoutes(router: Router, apiKeys: ApiKeyService): void {
  router.add('GET', '/api/v1/apikey', schemas.listApiKeys, async () => ({ apiKeys: apiKeys.list().map(apiKeyJson) }));

  router.add('POST', '/api/v1/apikey', schemas.createApiKey, async ({ body }) => {
    const input = await body();
    const expiration = input.timestamp('expiration') ?? null;
    const created = await apiKeys.create(expiration);
    return { apiKey: created.key };
  });

  router.add('POST', '/api/v1/apikey/expire', schemas.expireApiKey, async ({ body }) => {
    await apiKeys.expire(ref(await body()));
    return {};
  });

  router.add('DELETE', '/api/v1/apikey/:prefix', schemas.deleteApiKey, async ({ params, query }) => {
    const id = query.id('id');
    const prefix = params['prefix']!;
    // headscale's gateway puts the id in the query with a placeholder path segment.
    if (id) return apiKeys.delete({ id }).then(() => ({}));
    await apiKeys.delete({ prefix });
    return {};
  });
}

function ref(input: Input): { id?: number; prefix?: string } {
  const id = input.id('id');
  const prefix = input.string('prefix');
  if (!id && !prefix) throw badRequest('field "prefix" or field "id" is required');
  if (id && prefix) throw badRequest('give either field "prefix" or field "id", not both');
  return id ? { id } : { prefix };
}
