// The known key tree: every key's type and its defaults. The loader, the environment
// override lookup and the unknown-key warnings all walk this one table, so adding a key
// here is the whole job of supporting it (plus its field in types.ts).

import type { DefaultsMode } from './types.js';

export type LeafKind =
  | 'string'
  | 'bool'
  | 'int'
  /** Integer or empty (→ null). */
  | 'optionalInt'
  | 'duration'
  | 'path'
  | 'list'
  /** Map of string → string. */
  | 'map'
  /** Map of string → list of strings. */
  | 'listMap'
  | 'records'
  /** Unix file mode: "0770", "0o770" or a number read as octal digits. */
  | 'fileMode'
  /** Boolean or a string (postgres sslmode). */
  | 'boolOrString'
  /** String, or empty/null for "off" (prefixes). */
  | 'nullableString';

export interface Leaf {
  kind: LeafKind;
  /** Allowed values for strings (compared as written). */
  oneOf?: readonly string[];
  min?: number;
  max?: number;
  /** For paths: relative values resolve against the config file's directory or the process cwd. */
  base?: 'config' | 'cwd';
  /** Default per mode; a plain value applies to both. */
  def: unknown;
}

/** A headscale key that switchboard accepts but does not act on; setting it warns. */
export interface Ignored {
  kind: 'ignored';
  why: string;
}

export interface Section {
  kind: 'section';
  children: Record<string, Node>;
}

export type Node = Leaf | Ignored | Section;

export function isDefaults(def: unknown): def is { dev: unknown; headscale: unknown } {
  return typeof def === 'object' && def !== null && !Array.isArray(def) && 'dev' in def && 'headscale' in def;
}

export function defaultFor(leaf: Leaf, mode: DefaultsMode): unknown {
  const v = isDefaults(leaf.def) ? leaf.def[mode] : leaf.def;
  // Fresh copies so callers can never share a default list or map by accident.
  return typeof v === 'object' && v !== null ? structuredClone(v) : v;
}

const sec = (children: Record<string, Node>): Section => ({ kind: 'section', children });
const str = (def: unknown, oneOf?: readonly string[]): Leaf => ({ kind: 'string', def, oneOf });
const bool = (def: unknown): Leaf => ({ kind: 'bool', def });
const int = (def: unknown, min = 0, max = Number.MAX_SAFE_INTEGER): Leaf => ({ kind: 'int', def, min, max });
const dur = (def: unknown): Leaf => ({ kind: 'duration', def });
const path = (def: unknown, base: 'config' | 'cwd'): Leaf => ({ kind: 'path', def, base });
const list = (def: unknown): Leaf => ({ kind: 'list', def });
const ignored = (why: string): Ignored => ({ kind: 'ignored', why });
const dm = (dev: unknown, headscale: unknown) => ({ dev, headscale });

const NOT_USED = 'not used by switchboard';
const TUNING = 'headscale performance tuning has no equivalent in switchboard';

export const LOG_LEVELS = ['panic', 'fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;

export const SCHEMA: Section = sec({
  server_url: str('http://127.0.0.1:8080'),
  listen_addr: str('127.0.0.1:8080'),
  metrics_listen_addr: str('127.0.0.1:9090'),
  grpc_listen_addr: str(''),
  grpc_allow_insecure: bool(false),
  // headscale's key: addresses or CIDRs of reverse proxies in front of the server.
  trusted_proxies: list([]),
  noise: sec({
    // headscale resolves its key paths against the config file's directory.
    private_key_path: path(dm('./data/noise_private.key', ''), 'config'),
  }),
  prefixes: sec({
    v4: { kind: 'nullableString', def: dm('100.64.0.0/10', null) },
    v6: { kind: 'nullableString', def: dm('fd7a:115c:a1e0::/48', null) },
    allocation: str('sequential', ['sequential', 'random']),
  }),
  database: sec({
    type: str('sqlite', ['sqlite', 'sqlite3', 'postgres']),
    debug: bool(false),
    gorm: ignored('GORM tuning has no equivalent in switchboard'),
    sqlite: sec({
      path: path(dm('./data/db.sqlite', ''), 'config'),
      write_ahead_log: bool(true),
      wal_autocheckpoint: int(1000),
    }),
    postgres: sec({
      host: str(''),
      port: { kind: 'optionalInt', def: null, min: 1, max: 65535 },
      name: str(''),
      user: str(''),
      pass: str(''),
      ssl: { kind: 'boolOrString', def: false },
      max_open_conns: int(10),
      max_idle_conns: int(10),
      conn_max_idle_time_secs: int(3600),
    }),
    // Switchboard's own: with postgres, every instance on the database serves one tailnet.
    ha: sec({ heartbeat_interval: dur('2s'), instance_timeout: dur('10s') }),
  }),
  derp: sec({
    server: sec({
      enabled: bool(false),
      region_id: int(999, 1),
      region_code: str(dm('switchboard', 'headscale')),
      region_name: str(dm('Switchboard Embedded DERP', 'Headscale Embedded DERP')),
      verify_clients: bool(true),
      stun_listen_addr: str(dm('127.0.0.1:3478', '')),
      private_key_path: path(dm('./data/derp_server_private.key', ''), 'config'),
      automatically_add_embedded_derp_region: bool(true),
      ipv4: str(''),
      ipv6: str(''),
      // Switchboard's own (headscale has no mesh): derper's --mesh-psk-file and --mesh-with.
      mesh_key_path: path('', 'config'),
      mesh_with: list([]),
      stun: ignored('the embedded STUN listener follows derp.server.stun_listen_addr'),
    }),
    urls: list([]),
    paths: { kind: 'list', def: [] },
    auto_update_enabled: bool(dm(true, false)),
    update_frequency: dur(dm('24h', '3h')),
  }),
  disable_check_updates: bool(false),
  // Switchboard's own: what a client without credentials can make the server hold (0 = no limit).
  limits: sec({
    max_connections: int(16_384),
    max_connections_per_address: int(1024),
    max_pending_handshakes: int(1024),
    handshake_timeout: dur('10s'),
    handshakes_per_second: int(500),
    handshakes_per_second_per_address: int(30),
    // Per map stream: bytes queued towards a client that does not read, before deltas are coalesced.
    max_queued_map_bytes: int(4 << 20, 1),
  }),
  ephemeral_node_inactivity_timeout: dur(dm('30m', '120s')),
  node: sec({
    expiry: dur('0'),
    // Folded into ephemeral_node_inactivity_timeout by legacy.ts before this table is read.
    ephemeral: sec({ inactivity_timeout: ignored('read as ephemeral_node_inactivity_timeout') }),
    routes: ignored('HA route probing is not implemented'),
  }),
  node_update_check_interval: ignored('removed from headscale; switchboard pushes changes as they happen'),
  preauth_keys: ignored(NOT_USED),
  tuning: sec({
    // Registrations waiting for web login (auth register / approve / reject).
    register_cache_expiration: dur('15m'),
    register_cache_max_entries: int(1024, 1),
    // Switchboard's own: threads that answer Noise handshakes beside the server's own.
    handshake_workers: int(1, 0, 16),
    notifier_send_timeout: ignored(TUNING),
    batch_change_delay: ignored(TUNING),
    node_mapsession_buffered_chan_size: ignored(TUNING),
    batcher_workers: ignored(TUNING),
    node_store_batch_size: ignored(TUNING),
    node_store_batch_timeout: ignored(TUNING),
    register_cache_cleanup: ignored('expired registrations are swept on their own'),
  }),
  // Read by the CLI only: where to send admin requests instead of the unix socket.
  cli: sec({ address: str(''), api_key: str(''), timeout: dur('5s'), insecure: bool(false) }),
  dns: sec({
    magic_dns: bool(true),
    base_domain: str(dm('switchboard.internal', '')),
    override_local_dns: bool(true),
    nameservers: sec({
      global: list(dm(['1.1.1.1', '1.0.0.1', '2606:4700:4700::1111', '2606:4700:4700::1001'], [])),
      split: { kind: 'listMap', def: {} },
    }),
    search_domains: list([]),
    extra_records: { kind: 'records', def: [] },
    // A JSON file of records, watched and reloaded (see src/dns/extra-records.ts).
    extra_records_path: path('', 'config'),
  }),
  // Against the config file's folder (headscale: cwd), so the CLI finds it from any folder;
  // without a file, in the home directory for the same reason.
  unix_socket: path(dm('~/.switchboard/switchboard.sock', '/var/run/headscale/headscale.sock'), 'config'),
  unix_socket_permission: { kind: 'fileMode', def: 0o770 },
  policy: sec({
    mode: str('file', ['file', 'database']),
    path: path('', 'config'),
  }),
  log: sec({
    level: str('info', LOG_LEVELS),
    format: str('text', ['text', 'json']),
  }),
  oidc: sec({
    only_start_if_oidc_is_available: bool(true),
    issuer: str(''),
    client_id: str(''),
    client_secret: str(''),
    client_secret_path: str(''),
    scope: list(['openid', 'profile', 'email']),
    extra_params: { kind: 'map', def: {} },
    allowed_domains: list([]),
    allowed_groups: list([]),
    allowed_users: list([]),
    email_verified_required: bool(true),
    expiry: dur('180d'),
    use_expiry_from_token: bool(false),
    pkce: sec({
      enabled: bool(false),
      method: str('S256', ['plain', 'S256']),
    }),
    // Ours, not headscale's: provider groups as members of policy groups (docs/oidc.md).
    groups: sec({
      enabled: bool(true),
      claim: str('groups'),
      prefix: str(''),
      map: { kind: 'map', def: {} },
    }),
    strip_email_domain: ignored('removed from headscale in v0.26'),
    map_legacy_users: ignored('removed from headscale in v0.26'),
  }),
  logtail: sec({ enabled: bool(false) }),
  taildrop: sec({ enabled: bool(true) }),
  auto_update: ignored(NOT_USED),
  randomize_client_port: bool(false),
  tls_cert_path: path('', 'config'),
  tls_key_path: path('', 'config'),
  tls_letsencrypt_hostname: str(''),
  tls_letsencrypt_cache_dir: path('', 'config'),
  tls_letsencrypt_challenge_type: str('HTTP-01', ['HTTP-01', 'TLS-ALPN-01']),
  tls_letsencrypt_listen: str(':http'),
  acme_url: str('https://acme-v02.api.letsencrypt.org/directory'),
  acme_email: str(''),
});

/** Every leaf with its dotted path, in table order. */
export function leaves(node: Section = SCHEMA, prefix: string[] = []): Array<{ path: string[]; leaf: Leaf }> {
  const out: Array<{ path: string[]; leaf: Leaf }> = [];
  for (const [key, child] of Object.entries(node.children)) {
    const p = [...prefix, key];
    if (child.kind === 'section') out.push(...leaves(child, p));
    else if (child.kind !== 'ignored') out.push({ path: p, leaf: child });
  }
  return out;
}
