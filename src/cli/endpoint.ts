// Where the CLI sends its requests. A remote address + API key from the environment wins
// (headscale's HEADSCALE_CLI_ADDRESS / HEADSCALE_CLI_API_KEY are honoured too, so existing
// scripts keep working); otherwise the unix socket named in the config file, found as
// `serve` finds it (config/find.ts).

import type { Endpoint } from './client.js';
import { parseDuration } from '../util/duration.js';
import { CliError } from './errors.js';

export interface EndpointSources {
  env: NodeJS.ProcessEnv;
  configPath: string | undefined;
  /** Receives config warnings worth showing the user. */
  warn: (msg: string) => void;
}

function envValue(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[`SWITCHBOARD_${name}`] ?? env[`HEADSCALE_${name}`];
  return v && v.trim() !== '' ? v.trim() : undefined;
}

/** Reads the remote endpoint from the environment; null when none is configured. */
export function remoteEndpoint(env: NodeJS.ProcessEnv): Endpoint | null {
  const address = envValue(env, 'CLI_ADDRESS');
  if (!address) return null;
  const apiKey = envValue(env, 'CLI_API_KEY');
  if (!apiKey) {
    throw new CliError('SWITCHBOARD_CLI_API_KEY must be set when SWITCHBOARD_CLI_ADDRESS is (remote access needs an API key)');
  }
  // headscale's address is host:port for gRPC over TLS; a bare host:port here means HTTPS too.
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(address) ? address : `https://${address}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new CliError(`SWITCHBOARD_CLI_ADDRESS ${JSON.stringify(address)} is not a URL or host:port`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CliError(`SWITCHBOARD_CLI_ADDRESS must use http or https, not ${url.protocol.replace(':', '')}`);
  }
  // The API key travels in every request: in clear text only where no one else can listen.
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (url.protocol === 'http:' && !(host === 'localhost' || host === '::1' || /^127\./.test(host))) {
    throw new CliError(`the CLI address ${url.origin} uses plain http to a host that is not loopback: use https:// (the API key would travel in clear text)`);
  }
  const insecure = /^(1|true|yes)$/i.test(envValue(env, 'CLI_INSECURE') ?? '');
  const timeout = envValue(env, 'CLI_TIMEOUT');
  if (timeout === undefined) return { kind: 'remote', url, apiKey, insecure };
  const timeoutMs = parseDuration(timeout);
  if (timeoutMs === null || timeoutMs <= 0) throw new CliError(`SWITCHBOARD_CLI_TIMEOUT ${JSON.stringify(timeout)} is not a duration like 5s`);
  return { kind: 'remote', url, apiKey, insecure, timeoutMs };
}

export async function resolveEndpoint(src: EndpointSources): Promise<Endpoint> {
  const remote = remoteEndpoint(src.env);
  if (remote) return remote;
  // Loaded lazily: commands that never talk to the server should not pay for config parsing.
  const { loadConfig } = await import('../config/load.js');
  let loaded: Awaited<ReturnType<typeof loadConfig>>;
  try {
    loaded = await loadConfig({ path: src.configPath, env: src.env, search: true });
  } catch (err) {
    throw new CliError(`loading configuration: ${err instanceof Error ? err.message : String(err)}`);
  }
  for (const w of loaded.warnings ?? []) src.warn(`warning: ${typeof w === 'string' ? w : JSON.stringify(w)}`);
  // headscale's cli.address / cli.api_key in the config file (env overrides already applied).
  const cli = loaded.config.cli;
  if (cli?.address) {
    const ep = remoteEndpoint({
      SWITCHBOARD_CLI_ADDRESS: cli.address,
      SWITCHBOARD_CLI_API_KEY: cli.api_key,
      SWITCHBOARD_CLI_INSECURE: String(cli.insecure),
    })!;
    return cli.timeout_ms > 0 && ep.kind === 'remote' ? { ...ep, timeoutMs: cli.timeout_ms } : ep;
  }
  return { kind: 'socket', path: loaded.config.unix_socket };
}
