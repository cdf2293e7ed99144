// /api/v1/user: list, create, rename, delete (headscale's ListUsers, CreateUser, RenameUser, DeleteUser).

import type { AdminService } from '../../state/admin.js';
import { badRequest } from '../errors.js';
import type { Router } from '../router.js';
import { schemas } from '../schemas.js';
import { userJson } from '../shapes.js';

export function addUserRoutes(router: Router, admin: AdminService): void {
  router.add('GET', '/api/v1/user', schemas.listUsers, async ({ query }) => {
    // headscale filters by one field at most, name first, then email, then id.
    const name = query.string('name');
    const email = query.string('email');
    const id = query.id('id');
    const filter = name ? { name } : email ? { email } : id ? { id } : undefined;
    const users = admin.listUsers(filter).sort((a, b) => a.id - b.id);
    return { users: users.map(userJson) };
  });

  router.add('POST', '/api/v1/user', schemas.createUser, async ({ body }) => {
    const input = await body();
    const name = input.requiredString('name');
    const pictureUrl = input.string('pictureUrl');
    if (pictureUrl) {
      try {
        new URL(pictureUrl);
      } catch {
        throw badRequest(`field "pictureUrl" must be an absolute URL, got ${JSON.stringify(pictureUrl)}`);
      }
    }
    const user = await admin.createUser({
      name,
      displayName: input.string('displayName'),
      email: input.string('email'),
      pictureUrl,
    });
    return { user: userJson(user) };
  });

  router.add('POST', '/api/v1/user/:oldId/rename/:newName', schemas.renameUser, async ({ idParam, params }) => {
    const id = idParam('oldId');
    const newName = params['newName']!;
    if (newName.trim() === '') throw badRequest('path parameter "newName" must not be empty');
    const user = await admin.renameUser(id, newName);
    return { user: userJson(user) };
  });

  router.add('DELETE', '/api/v1/user/:id', schemas.deleteUser, async ({ idParam }) => {
    await admin.deleteUser(idParam('id'));
    return {};
  });
}
