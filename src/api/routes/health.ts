// /api/v1/health: headscale's Health rpc. It pings the database; when that fails the reply
// is an error (as headscale's is), so `switchboard health` exits non-zero.

import { ApiError } from '../errors.js';
import type { Router } from '../router.js';
import { schemas } from '../schemas.js';

export function addHealthRoutes(router: Router, ping: (() => Promise<void>) | undefined): void {
  router.add('GET', '/api/v1/health', schemas.health, async () => {
    if (!ping) throw new ApiError(501, 'this server cannot check its database');
    try {
      await ping();
    } catch (err) {
      throw new ApiError(503, `pinging database: ${err instanceof Error ? err.message : String(err)}`);
    }
    return { databaseConnectivity: true };
  });
}
