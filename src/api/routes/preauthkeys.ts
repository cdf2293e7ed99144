// /api/v1/preauthkey: list, create, expire, delete.
// Accepts both v0.29's shapes (user as a numeric id, expire/delete by key id) and older
// clients' (user by name, expire by user + key) since scripts in the wild use both.

import type { AdminService } from '../../state/admin.js';
import type { UserRecord } from '../../state/model.js';
import { ApiError, badRequest } from '../errors.js';
import type { Input } from '../input.js';
import type { Router } from '../router.js';
import { schemas } from '../schemas.js';
import { preAuthKeyJson } from '../shapes.js';
import { validateTags } from './tags.js';

/** Resolves a user given as an id (number or digits) or a name; undefined when absent or 0. */
export function resolveUser(admin: AdminService, input: Input, field: string): UserRecord | undefined {
  if (!input.has(field)) return undefined;
  const raw = input.rawScalar(field);
  if (typeof raw === 'number' || /^\d+$/.test(raw)) {
    const id = input.id(field)!;
    if (id === 0) return undefined;
    const user = admin.listUsers({ id })[0];
    if (!user) throw new ApiError(404, `user with id ${id} not found`);
    return user;
  }
  if (raw === '') return undefined;
  const user = admin.listUsers({ name: raw })[0];
  if (!user) throw new ApiError(404, `user ${JSON.stringify(raw)} not found`);
  return user;
}

function usersById(admin: AdminService): (id: number | null) => UserRecord | null {
  const map = new Map(admin.listUsers().map((u) => [u.id, u]));
  return (id) => (id === null ? null : (map.get(id) ?? null));
}

export function addPreAuthKeyRoutes(router: Router, admin: AdminService): void {
  router.add('GET', '/api/v1/preauthkey', schemas.listPreAuthKeys, async ({ query }) => {
    const user = resolveUser(admin, query, 'user');
    const owner = usersById(admin);
    const keys = admin.listPreAuthKeys(user?.id).sort((a, b) => a.id - b.id);
    return { preAuthKeys: keys.map((k) => preAuthKeyJson(k, owner(k.userId))) };
  });

  router.add('POST', '/api/v1/preauthkey', schemas.createPreAuthKey, async ({ body }) => {
    const input = await body();
    const user = resolveUser(admin, input, 'user');
    const tags = validateTags(input.strings('aclTags') ?? [], 'aclTags');
    if (!user && tags.length === 0) {
      throw badRequest('field "user" is required unless "aclTags" is given (a key needs an owner or tags)');
    }
    const created = await admin.createPreAuthKey({
      userId: user?.id ?? null,
      reusable: input.bool('reusable') ?? false,
      ephemeral: input.bool('ephemeral') ?? false,
      expiration: input.timestamp('expiration') ?? null,
      tags,
    });
    return { preAuthKey: preAuthKeyJson(created.record, user ?? null, created.key) };
  });

  router.add('POST', '/api/v1/preauthkey/expire', schemas.expirePreAuthKey, async ({ body }) => {
    await admin.expirePreAuthKey(keyRef(admin, await body()));
    return {};
  });

  router.add('DELETE', '/api/v1/preauthkey', schemas.deletePreAuthKey, async ({ query }) => {
    await admin.deletePreAuthKey(keyRef(admin, query));
    return {};
  });
}

function keyRef(admin: AdminService, input: Input): { id?: number; key?: string; userId?: number } {
  const id = input.id('id');
  const key = input.string('key');
  if (!id && !key) throw badRequest('field "id" is required (or "key" with "user")');
  if (id && key) throw badRequest('give either field "id" or field "key", not both');
  if (id) return { id };
  const user = resolveUser(admin, input, 'user');
  return { key, userId: user?.id };
}
