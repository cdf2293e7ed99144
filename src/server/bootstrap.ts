// First start on an empty database: create a default user and a reusable pre-auth key,
// and tell the admin the exact command to join a machine. Nothing happens when users exist.

import type { Tailnet } from '../state/tailnet.js';

export const BOOTSTRAP_USER = 'default';
/** Long enough to set up a few machines; short enough not to be a standing secret. */
const BOOTSTRAP_KEY_TTL_MS = 7 * 24 * 3600 * 1000;

export interface Bootstrap {
  user: string;
  key: string;
  expiration: Date;
  command: string;
}

export async function bootstrapIfEmpty(tailnet: Tailnet, serverUrl: string): Promise<Bootstrap | null> {
  if (tailnet.listUsers().length > 0) return null;
  const user = await tailnet.createUser({ name: BOOTSTRAP_USER, displayName: 'Default user' });
  const expiration = new Date(Date.now() + BOOTSTRAP_KEY_TTL_MS);
  const { key } = await tailnet.createPreAuthKey({ userId: user.id, reusable: true, ephemeral: false, expiration, tags: [] });
  return { user: user.name, key, expiration, command: `tailscale up --login-server ${serverUrl} --authkey ${key}` };
}
