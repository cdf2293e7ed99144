// First start on an empty database, only when asked (zero-setup `npm start`, or
// `serve --bootstrap`): create a default user and, when there is a terminal to show it on,
// a reusable pre-auth key with the exact command to join a machine. Nothing happens when
// users exist. A key nobody can see would be a standing credential for nothing, so without
// a terminal only the user is made and the admin creates keys with the CLI.

import { StoreError } from '../db/errors.js';
import type { Tailnet } from '../state/tailnet.js';

export const BOOTSTRAP_USER = 'default';
/** Long enough to set up a few machines; short enough not to be a standing secret. */
const BOOTSTRAP_KEY_TTL_MS = 7 * 24 * 3600 * 1000;

/** 'off': nothing; 'user': the default user only; 'user-and-key': also a reusable key. */
export type BootstrapMode = 'off' | 'user' | 'user-and-key';

export interface Bootstrap {
  user: string;
  key: string;
  expiration: Date;
  command: string;
}

export type BootstrapResult = Bootstrap | { user: string; key: null };

/** The command an admin runs to make a key for the default user (no secret in it). */
export const MAKE_KEY_COMMAND = `switchboard preauthkeys create --user ${BOOTSTRAP_USER} --reusable --expiration 24h`;

export async function bootstrapIfEmpty(tailnet: Tailnet, serverUrl: string, mode: BootstrapMode): Promise<BootstrapResult | null> {
  if (mode === 'off' || tailnet.listUsers().length > 0) return null;
  let user;
  try {
    user = await tailnet.createUser({ name: BOOTSTRAP_USER, displayName: 'Default user' });
  } catch (err) {
    // Another instance on the same database starting at the same moment made it first.
    if (err instanceof StoreError && err.code === 'conflict') return null;
    throw err;
  }
  if (mode === 'user') return { user: user.name, key: null };
  const expiration = new Date(Date.now() + BOOTSTRAP_KEY_TTL_MS);
  const { key } = await tailnet.createPreAuthKey({ userId: user.id, reusable: true, ephemeral: false, expiration, tags: [] });
  return { user: user.name, key, expiration, command: `tailscale up --login-server ${serverUrl} --authkey ${key}` };
}

/** "hskey-auth-<prefix>-…": enough to find the key in `preauthkeys list`, useless to join with. */
export function redactKey(key: string): string {
  const m = /^(hskey-auth-[^-]+)-/.exec(key);
  return m ? `${m[1]}-…` : '…';
}
