// The loaded configuration. Key names are headscale's (snake_case, nested the same way) so a
// headscale config file maps onto it one to one and docs/grep work across both projects.
//
// Durations keep the text as written (e.g. "30m") and gain a sibling `<key>_ms` with the
// value in milliseconds; code should read the `_ms` field.
// Paths are absolute after loading (see load.ts for which base a relative path uses).

export type LogLevel = 'panic' | 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

export interface DNSExtraRecord {
  name: string;
  /** "A" or "AAAA"; the only types Tailscale clients answer. */
  type: 'A' | 'AAAA';
  value: string;
}

export interface Config {
  server_url: string;
  listen_addr: string;
  /** Empty string disables the metrics listener (as in headscale). */
  metrics_listen_addr: string;
  /** Accepted for headscale compatibility; switchboard serves no gRPC. */
  grpc_listen_addr: string;
  grpc_allow_insecure: boolean;

  noise: { private_key_path: string };

  prefixes: {
    /** Masked canonical prefix text, e.g. "100.64.0.0/10"; null when that family is off. */
    v4: string | null;
    v6: string | null;
    allocation: 'sequential' | 'random';
  };

  database: {
    /** "sqlite3" in a file is normalised to "sqlite". */
    type: 'sqlite' | 'postgres';
    debug: boolean;
    sqlite: { path: string; write_ahead_log: boolean; wal_autocheckpoint: number };
    postgres: {
      /** Host name, or a directory holding the Unix socket (then port is null). */
      host: string;
      port: number | null;
      name: string;
      user: string;
      pass: string;
      /** true/false for require/disable, or a libpq sslmode string. */
      ssl: boolean | string;
      max_open_conns: number;
      max_idle_conns: number;
      conn_max_idle_time_secs: number;
    };
    /** Several instances on one PostgreSQL (always on with postgres; unused with sqlite). */
    ha: {
      /** How often an instance reports it is alive and a follower tries to become leader. */
      heartbeat_interval: string;
      heartbeat_interval_ms: number;
      /** An instance silent this long is taken for dead: its nodes go offline. */
      instance_timeout: string;
      instance_timeout_ms: number;
    };
  };

  derp: {
    server: {
      enabled: boolean;
      region_id: number;
      region_code: string;
      region_name: string;
      verify_clients: boolean;
      stun_listen_addr: string;
      private_key_path: string;
      automatically_add_embedded_derp_region: boolean;
      /** Public addresses advertised for the embedded node; "" when unset. */
      ipv4: string;
      ipv6: string;
      /** The DERP mesh pre-shared key file (generated if missing); "" when the relay does not mesh. */
      mesh_key_path: string;
      /** Other relays of the region (http(s) URLs) this one keeps a mesh link to. */
      mesh_with: string[];
    };
    urls: string[];
    /** Absolute paths of DERP map files. */
    paths: string[];
    auto_update_enabled: boolean;
    update_frequency: string;
    update_frequency_ms: number;
  };

  disable_check_updates: boolean;
  /** Reverse proxies (addresses or CIDRs): exempt from per-address limits; X-Forwarded-For names their clients. */
  trusted_proxies: string[];

  /** Admission limits on the control listener; 0 = no limit. */
  limits: {
    max_connections: number;
    max_connections_per_address: number;
    max_pending_handshakes: number;
    handshake_timeout: string;
    handshake_timeout_ms: number;
    handshakes_per_second: number;
    handshakes_per_second_per_address: number;
    max_queued_map_bytes: number;
  };
  ephemeral_node_inactivity_timeout: string;
  ephemeral_node_inactivity_timeout_ms: number;

  /** headscale's tuning keys that apply here (the web-login registration cache), and Switchboard's handshake workers. */
  tuning: {
    register_cache_expiration: string;
    register_cache_expiration_ms: number;
    register_cache_max_entries: number;
    /** Worker threads answering Noise handshakes (0: on the server's thread). */
    handshake_workers: number;
  };

  node: {
    /** Default key expiry for new nodes; "0" means never. */
    expiry: string;
    expiry_ms: number;
  };

  /** The CLI's remote endpoint (headscale's cli section); the server ignores it. */
  cli: { address: string; api_key: string; timeout: string; timeout_ms: number; insecure: boolean };

  dns: {
    magic_dns: boolean;
    base_domain: string;
    override_local_dns: boolean;
    nameservers: {
      /** Plain IPs, "ip:port", or http(s)/tls URLs (DNS over HTTPS/TLS). */
      global: string[];
      /** Domain → nameservers for split DNS. */
      split: Record<string, string[]>;
    };
    search_domains: string[];
    extra_records: DNSExtraRecord[];
    /** JSON file of further records, watched; '' when unused. */
    extra_records_path: string;
  };

  unix_socket: string;
  /** File mode bits, e.g. 0o770 (written as "0770" in the file). */
  unix_socket_permission: number;

  policy: { mode: 'file' | 'database'; path: string };

  log: { level: LogLevel; format: 'text' | 'json' };

  oidc: {
    only_start_if_oidc_is_available: boolean;
    issuer: string;
    client_id: string;
    client_secret: string;
    client_secret_path: string;
    scope: string[];
    extra_params: Record<string, string>;
    allowed_domains: string[];
    allowed_groups: string[];
    allowed_users: string[];
    email_verified_required: boolean;
    expiry: string;
    expiry_ms: number;
    use_expiry_from_token: boolean;
    pkce: { enabled: boolean; method: 'plain' | 'S256' };
    /**
     * Provider groups as members of policy groups (when enabled): the claim holding them
     * (allowed_groups reads it too), and either a prefix (provider group G joins
     * group:<prefix>G) or an explicit map {provider group: "group:name"}; with a map,
     * unmapped provider groups join nothing.
     */
    groups: { enabled: boolean; claim: string; prefix: string; map: Record<string, string> };
  };

  logtail: { enabled: boolean };
  taildrop: { enabled: boolean };
  randomize_client_port: boolean;

  /** Accepted so headscale files load; TLS is not served yet (a warning says so when set). */
  tls_cert_path: string;
  tls_key_path: string;
  tls_letsencrypt_hostname: string;
  tls_letsencrypt_cache_dir: string;
  tls_letsencrypt_challenge_type: 'HTTP-01' | 'TLS-ALPN-01';
  tls_letsencrypt_listen: string;
  acme_url: string;
  acme_email: string;
}

export interface LoadedConfig {
  config: Config;
  warnings: string[];
  /** Absolute path of the file read, or null when running on built-in defaults. */
  path: string | null;
}

export type DefaultsMode = 'dev' | 'headscale';
