// headscale's --bypass-grpc-and-access-database-directly: open the configured database
// ourselves, without a running server. Used by `policy get/set/check`. Changes made this
// way are written to the audit log too, with the actor "database (bypass)".

import type { PolicyManager } from '../policy/manager.js';
import type { Store } from '../db/store.js';
import { CliError } from './errors.js';

export const BYPASS_FLAG = '--bypass-grpc-and-access-database-directly';
export const BYPASS_ACTOR = 'database (bypass)';

export interface DirectAccess {
  store: Store;
  policy: PolicyManager;
}

export async function withDirectAccess<T>(
  src: { configPath: string | undefined; env: NodeJS.ProcessEnv; warn: (m: string) => void },
  fn: (d: DirectAccess) => Promise<T>,
): Promise<T> {
  const { loadConfig } = await import('../config/load.js');
  const { createStore } = await import('../db/index.js');
  const { storeOptions } = await import('../server/server.js');
  const { Tailnet } = await import('../state/tailnet.js');
  const { PolicyManager } = await import('../policy/manager.js');
  let config;
  try {
    config = loadConfig({ path: src.configPath, env: src.env }).config;
  } catch (err) {
    throw new CliError(`loading configuration: ${err instanceof Error ? err.message : String(err)}`);
  }
  let store: Store;
  try {
    store = await createStore(storeOptions(config));
  } catch (err) {
    throw new CliError(`opening the database directly: ${err instanceof Error ? err.message : String(err)}`);
  }
  let policy: PolicyManager | null = null;
  try {
    await store.migrate();
    const tailnet = await Tailnet.load(store, {
      prefixV4: config.prefixes.v4,
      prefixV6: config.prefixes.v6,
      allocation: config.prefixes.allocation,
    });
    const log = { info: () => {}, warn: src.warn, error: src.warn };
    try {
      policy = await PolicyManager.load(tailnet, store, { mode: config.policy.mode, path: config.policy.path, serverUrl: config.server_url, log });
    } catch (err) {
      throw new CliError(err instanceof Error ? err.message : String(err));
    }
    return await fn({ store, policy });
  } catch (err) {
    if (err instanceof CliError) throw err;
    // AdminError and store errors carry a message meant for the user.
    throw new CliError(err instanceof Error ? err.message : String(err));
  } finally {
    await policy?.close();
    await store.close();
  }
}
