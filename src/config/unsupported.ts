// headscale keys switchboard reads but does not act on. The rule: a key whose value would
// change what headscale does must change what switchboard does, or stop start-up saying it
// is not supported yet, or warn at start that it is ignored. Keys that are inert in
// headscale too given the rest of the file (OIDC options without an issuer, ACME options
// without tls_letsencrypt_hostname, postgres options with sqlite) pass without a word.

import type { Config } from './types.js';

export interface Unsupported {
  /** [key, why]: start-up stops. */
  refuse: Array<[string, string]>;
  warn: string[];
}

export function unsupportedKeys(c: Config, isSet: (key: string) => boolean): Unsupported {
  const refuse: Array<[string, string]> = [];
  const warn: string[] = [];

  if (c.randomize_client_port) {
    // headscale 0.29 refuses the key as well: it moved to the policy.
    refuse.push([
      'randomize_client_port',
      'moved to the policy file in headscale 0.29: set "randomizeClientPort": true at the top level of the policy (or grant it per node with nodeAttrs)',
    ]);
  } else if (isSet('randomize_client_port')) {
    warn.push('randomize_client_port: moved to the policy file ("randomizeClientPort") in headscale 0.29 (ignored)');
  }
  if (isSet('grpc_allow_insecure') && c.grpc_allow_insecure) {
    warn.push('grpc_allow_insecure: switchboard serves no gRPC API (ignored)');
  }
  if (isSet('disable_check_updates') && !c.disable_check_updates) {
    warn.push('disable_check_updates: switchboard never checks for updates (ignored)');
  }
  if (c.database.debug) {
    warn.push('database.debug: statement logging is not supported yet (ignored)');
  }
  if (c.database.type === 'postgres' && isSet('database.postgres.max_idle_conns')) {
    warn.push('database.postgres.max_idle_conns: idle connections are closed after conn_max_idle_time_secs, with no separate cap (ignored)');
  }
  if (c.tls_letsencrypt_hostname !== '') {
    for (const key of ['acme_url', 'acme_email', 'tls_letsencrypt_cache_dir', 'tls_letsencrypt_challenge_type', 'tls_letsencrypt_listen'] as const) {
      if (isSet(key)) warn.push(`${key}: no ACME client yet, as TLS is not served (ignored)`);
    }
  }
  return { refuse, warn };
}
