// The composition root: wires configuration, store, tailnet, policy, map building,
// the control protocol and the admin surfaces into listening servers.

import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { dirname } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { ApiKeyService, mountApi, type ApiDeps } from '../api/index.js';
import { AuditLog } from '../audit/log.js';
import { mountOpenApi } from '../api/openapi.js';
import type { Config } from '../config/types.js';
import { MAX_BODY_BYTES, machineHandler, type MachineContext } from '../control/machine.js';
import { SessionHub, type MapSession } from '../control/sessions.js';
import { StreamOpenQueue } from '../control/stream-open-queue.js';
import { DEFAULT_LIVENESS, watchLiveness, type LivenessOptions } from '../control/liveness.js';
import { answerKeyRequest } from '../control/key.js';
import { createTs2021Handler, rawHttpError, type Ts2021Handler } from '../control/ts2021.js';
import { createStore, type Store, type StoreOptions } from '../db/index.js';
import { embeddedDerpRegion, loadDerpMap, startDerpMapRefresh, withEmbeddedRegion } from '../derp/map.js';
import { EmbeddedDerp } from '../derp/server/index.js';
import { buildDNSConfig } from '../dns/config.js';
import { MapBuilder } from '../mapresponse/builder.js';
import { LATENCY_BUCKETS, Registry, type Counter, type Histogram } from '../metrics/registry.js';
import { instrumentStore } from '../metrics/store.js';
import { startAutoApprover } from '../policy/autoapprove.js';
import { PolicyManager } from '../policy/manager.js';
import { watchPolicyFile } from '../policy/watch.js';
import { readExtraRecordsFile } from '../dns/extra-records.js';
import { Tailnet } from '../state/tailnet.js';
import type { DERPMap, DNSConfig } from '../tailcfg/types.js';
import { KeyedLock } from '../util/keyedlock.js';
import { parseListenAddr } from '../util/listen.js';
import type { Logger } from '../util/log.js';
import { bootstrapIfEmpty, type BootstrapMode, type BootstrapResult } from './bootstrap.js';
import { startEphemeralCollector } from './ephemeral.js';
import { removeStaleSocket } from './socket.js';
import { loadOrCreateNoiseKey } from './noisekey.js';
import { publicFromPrivate } from '../noise/keys.js';
import type { NoiseConn } from '../noise/conn.js';
import { serveHttp2 } from '../http2/attach.js';
import { createApp, rawRoute, setNotFound } from '../web/app.js';
import { mountDebug } from '../web/debug.js';
import { mountTs2021 } from '../web/ts2021.js';
import { attachUpgrades, type UpgradeHandler } from '../web/upgrade.js';
import { BodyBudget, type H2ServerConnection } from '../http2/connection.js';
import { ProxySet } from '../limits/address.js';
import { ConnectionAdmission, REFUSAL_REASONS, type Refusal } from '../limits/admission.js';
import { fitConnectionLimit, openFileLimit } from '../limits/fdlimit.js';
import { RateLimitedLog } from '../util/ratelog.js';
import { WebLogin } from '../auth/weblogin.js';
import type { PendingBook } from '../auth/pending.js';
import { mountRegisterPage } from '../web/register-page.js';
import { mountOidcCallback } from '../web/oidc-callback.js';
import { OidcLogin } from '../auth/oidc.js';
import { policyGroupsOf } from '../auth/groups.js';
import type { UserRecord } from '../state/model.js';
import { Cluster, DERP_MAP_SETTING, newInstanceId } from '../ha/cluster.js';
import { poolConfig } from '../db/pg-config.js';

/** Request-body bytes buffered across all control connections at once. */
const MAX_BUFFERED_REQUEST_BYTES = 64 << 20;
/** A Noise connection that hasn't started HTTP/2 within this long is dropped. */
const PREFACE_TIMEOUT_MS = 10_000;

/** Tailscale's clients expect a keep-alive about once a minute; 50 s leaves margin for their 120 s watchdog. */
export const KEEPALIVE_MS = 50_000;

export interface ServerOptions {
  config: Config;
  log: Logger;
  /** How often idle control sessions are probed, and how long an answer may take. */
  liveness?: LivenessOptions;
  /** What the first start of an empty database creates (default nothing; see bootstrap.ts). */
  bootstrap?: BootstrapMode;
  /** Called once when the bootstrap created something. */
  onBootstrap?: (b: BootstrapResult) => void;
}

export function storeOptions(cfg: Config): StoreOptions {
  if (cfg.database.type === 'sqlite') {
    const sq = cfg.database.sqlite;
    return { type: 'sqlite', path: sq.path, writeAheadLog: sq.write_ahead_log, walAutocheckpoint: sq.wal_autocheckpoint };
  }
  const pg = cfg.database.postgres;
  return {
    type: 'postgres',
    host: pg.host,
    port: pg.port ?? 5432,
    name: pg.name,
    user: pg.user,
    pass: pg.pass,
    ssl: pg.ssl,
    maxOpenConns: pg.max_open_conns,
    connMaxIdleTimeSecs: pg.conn_max_idle_time_secs,
  };
}

/**
 * Pending connections the kernel queues before accept. Node's default (511) overflows when
 * thousands of clients reconnect after a restart, and a dropped SYN is retried only after
 * 1, 3, 7 … s; the kernel caps this at net.core.somaxconn.
 */
const LISTEN_BACKLOG = 8192;

function listen(server: http.Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, backlog: LISTEN_BACKLOG }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function listenSocket(server: http.Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

async function closeApp(app: FastifyInstance | null): Promise<void> {
  if (!app) return;
  app.server.closeAllConnections();
  await app.close();
}

export class SwitchboardServer {
  private readonly noiseConns = new Map<NoiseConn, H2ServerConnection | null>();
  private readonly bodyBudget = new BodyBudget(MAX_BUFFERED_REQUEST_BYTES);
  /** server_url's listener, the unix socket's and metrics_listen_addr's: one Fastify instance each. */
  private http: FastifyInstance | null = null;
  private socket: FastifyInstance | null = null;
  private metrics: FastifyInstance | null = null;
  /**
   * HTTP upgrades on the control listener by path (web/upgrade.ts). /ts2021 is set when
   * listening starts; the DERP server adds `/derp` here.
   */
  readonly upgrades = new Map<string, UpgradeHandler>();
  private stopEphemeral: () => void = () => {};
  /** The other instances on the same PostgreSQL; null with SQLite (one instance). */
  cluster: Cluster | null = null;
  private stopAutoApprover: () => void = () => {};
  private stopPolicyWatch: () => void = () => {};
  private stopDerpRefresh: () => void = () => {};
  private derpMap: DERPMap;
  /** The embedded DERP relay and STUN responder, when derp.server.enabled. */
  readonly derp: EmbeddedDerp | null;
  private dnsConfig: DNSConfig | undefined;
  private stopExtraRecordsWatch: () => void = () => {};
  private readonly hub: SessionHub;
  private readonly apiDeps: ApiDeps;
  private readonly ts2021: Ts2021Handler;
  private readonly machineContext: MachineContext;
  private readonly admission: ConnectionAdmission;
  private readonly refusedLog: RateLimitedLog;
  /** Registrations waiting for web login (`auth register`, /register/<id>). */
  readonly webLogin: WebLogin;
  /** OIDC login when oidc.issuer is set and discovery worked; null otherwise. */
  oidc: OidcLogin | null = null;
  /** Quiet time after which a map stream gets a keep-alive frame (tests shorten it). */
  set mapKeepAliveMs(ms: number) {
    this.machineContext.keepAliveMs = ms;
  }

  /** How long one event-loop turn may spend delivering map deltas (tests set 0 to make batches queue and coalesce). */
  set dispatchSliceMs(ms: number) {
    this.hub.sliceMs = ms;
  }
  /** Batches a session got folded into a later batch's delta. */
  get coalescedBatches(): number {
    return this.hub.coalesced;
  }

  /** The server's public Noise key (raw 32 bytes), as GET /key announces it. */
  readonly publicKey: Buffer;
  /** Where the control server listens, e.g. http://127.0.0.1:8080 */
  address = '';
  /** Where /metrics is served; empty when metrics_listen_addr is. */
  metricsAddress = '';
  liveness: LivenessOptions = DEFAULT_LIVENESS;

  private constructor(
    readonly config: Config,
    readonly store: Store,
    readonly tailnet: Tailnet,
    private readonly noisePrivateKey: Buffer,
    apiKeys: ApiKeyService,
    derpMap: DERPMap,
    readonly policy: PolicyManager,
    private readonly log: Logger,
    private readonly registry: Registry,
    pending?: PendingBook,
  ) {
    this.derpMap = derpMap;
    this.derp = config.derp.server.enabled
      ? new EmbeddedDerp({ cfg: config.derp.server, nodes: tailnet, registry: this.registry, derpMap: () => this.derpMap, log })
      : null;
    this.publicKey = publicFromPrivate(noisePrivateKey);
    this.dnsConfig = buildDNSConfig(config.dns, { v4: config.prefixes.v4, v6: config.prefixes.v6 });
    const builder = new MapBuilder({
      tailnet,
      policy: () => policy.view,
      derpMap: () => this.derpMap,
      dnsConfig: () => this.dnsConfig,
      baseDomain: config.dns.base_domain,
      disableLogTail: !config.logtail.enabled,
      taildrop: config.taildrop.enabled,
    });
    this.hub = new SessionHub(tailnet, builder, () => policy.view, (m) => log.error(m));
    const locks = new KeyedLock();
    this.webLogin = new WebLogin({
      tailnet,
      locks,
      serverUrl: config.server_url,
      ttlMs: config.tuning.register_cache_expiration_ms,
      maxEntries: config.tuning.register_cache_max_entries,
      defaultExpiryMs: config.node.expiry_ms,
      refusedTags: (user, keyTags, requested) => policy.view.refusedTags(user, keyTags, requested),
      log: (m) => log.info(m),
      ...(pending ? { pending } : {}),
    });
    this.apiDeps = {
      admin: tailnet,
      apiKeys,
      policy,
      webLogin: this.webLogin,
      ping: () => this.store.ping(),
      audit: new AuditLog(this.store),
      log: (m) => log.info(m),
    };
    this.machineContext = {
      tailnet,
      builder,
      hub: this.hub,
      keepAliveMs: KEEPALIVE_MS,
      maxQueuedBytes: config.limits.max_queued_map_bytes,
      log: (m) => log.info(m),
      debug: (m) => log.debug(m),
      locks,
      defaultExpiryMs: config.node.expiry_ms,
      refusedTags: (user, keyTags, requested) => policy.view.refusedTags(user, keyTags, requested),
      metrics: this.controlMetrics(),
      webLogin: this.webLogin,
      // Dials (10 s to live) go before map stream opens (a poll waits far longer).
      opens: new StreamOpenQueue({ busy: () => this.ts2021.pendingHandshakes > 0 || this.hub.behind }),
    };
    const handshakes = this.registry.counter('switchboard_noise_handshakes_total', 'Noise control handshakes, by result (ok, refused, dropped: given up while queued in a reconnect storm).', ['result']);
    const refusedConnections = this.registry.counter(
      'switchboard_connections_refused_total',
      'Connections and handshakes refused by the admission limits (limits.*), by reason.',
      ['reason'],
    );
    for (const reason of REFUSAL_REASONS) refusedConnections.inc({ reason }, 0);
    // One line per interval, not per refusal: a flood must not flood the log.
    this.refusedLog = new RateLimitedLog((l) => log.info(l), 10_000, (n, s) => `refused ${n} more control connections in the last ${s} s`);
    const refused = (r: Refusal): void => {
      refusedConnections.inc({ reason: r.reason });
      this.refusedLog.log(`refused control connection from ${r.remoteAddress ?? '?'}: ${r.reason} (limits.${limitKey(r.reason)})`);
    };
    this.admission = createAdmission(config, log, refused);
    this.ts2021 = createTs2021Handler({
      serverPrivateKey: noisePrivateKey,
      admitHandshake: (req) => {
        const r = this.admission.admitHandshake(req.socket?.remoteAddress, req.headers['x-forwarded-for']);
        if (!r) return null;
        refused(r);
        handshakes.inc({ result: 'refused' });
        return 'too many handshakes: try again in a second';
      },
      onConnection: (c) => {
        handshakes.inc({ result: 'ok' });
        this.serveNoise(c.conn, { machineKey: c.machineKey, protocolVersion: c.protocolVersion });
      },
      onReject: (r) => {
        handshakes.inc({ result: 'refused' });
        this.refusedLog.log(`refused control connection from ${r.remoteAddress ?? '?'}: ${r.message}`);
      },
      onConnectionError: (err, c) => log.debug(`control connection of ${c.machineKey.slice(0, 16)}…: ${err.message}`),
      // Upgrades whose client left (or must have, by the time their turn came) under a reconnect storm.
      queue: { onDropped: () => handshakes.inc({ result: 'dropped' }), yieldTo: () => this.hub.behind },
      handshakeWorkers: config.tuning.handshake_workers,
      onWorkerError: (err) => log.error(`handshake worker failed, answering handshakes on the main thread from now on: ${err.message}`),
    });
    this.registerMetrics();
  }

  /**
   * Re-reads dns.extra_records_path and, when its records changed, sends every node the new
   * DNS config. A file that does not parse is reported and the last good records stay.
   */
  reloadExtraRecords(): boolean {
    const file = this.config.dns.extra_records_path;
    if (!file) return false;
    let records;
    try {
      records = readExtraRecordsFile(file);
    } catch (err) {
      this.log.warn(`dns: keeping the previous extra records: ${(err as Error).message}`);
      return false;
    }
    const next = buildDNSConfig({ ...this.config.dns, extra_records: records }, { v4: this.config.prefixes.v4, v6: this.config.prefixes.v6 });
    if (JSON.stringify(next) === JSON.stringify(this.dnsConfig)) return false;
    this.dnsConfig = next;
    this.log.info(`dns: ${records.length} extra records from ${file}`);
    this.tailnet.emit({ kind: 'configChanged' });
    return true;
  }

  static async start(opts: ServerOptions): Promise<SwitchboardServer> {
    const { log } = opts;
    // Records from dns.extra_records_path are part of the DNS config from the first map on;
    // a file that cannot be read or parsed stops the start, as headscale's does.
    const config = opts.config.dns.extra_records_path
      ? { ...opts.config, dns: { ...opts.config.dns, extra_records: readExtraRecordsFile(opts.config.dns.extra_records_path) } }
      : opts.config;
    const noiseKey = loadOrCreateNoiseKey(config.noise.private_key_path, (m) => log.info(m));
    const registry = new Registry();
    registry.collectDefaults();
    const dbLatency = registry.histogram('switchboard_db_operation_duration_seconds', 'Database operations by store method, in seconds.', LATENCY_BUCKETS, ['op']);
    const policyCompile = registry.histogram('switchboard_policy_compile_duration_seconds', 'Full compiles of the policy, in seconds.', LATENCY_BUCKETS);
    const storeOpts = storeOptions(config);
    // PostgreSQL means the database may be shared: every instance on it serves one tailnet.
    if (storeOpts.type === 'postgres') storeOpts.instanceId = newInstanceId();
    const store = instrumentStore(await createStore(storeOpts), dbLatency);
    let server: SwitchboardServer | null = null;
    let cluster: Cluster | null = null;
    const haApplied = registry.counter('switchboard_ha_changes_applied_total', 'With PostgreSQL: changes made by other instances, applied here.');
    try {
      await store.migrate((m) => log.info(m));
      if (storeOpts.type === 'postgres') {
        cluster = await Cluster.join({
          connection: poolConfig(storeOpts),
          instanceId: storeOpts.instanceId!,
          heartbeatMs: config.database.ha.heartbeat_interval_ms,
          instanceTimeoutMs: config.database.ha.instance_timeout_ms,
          log: (m) => log.info(m),
          onApplied: (n) => haApplied.inc(n),
        });
        const c = cluster;
        registry.gauge('switchboard_ha_leader', 'With PostgreSQL: 1 while this instance is the elected one that runs background jobs.', () => (c.isLeader ? 1 : 0));
        log.info(`ha: instance ${cluster.instanceId} serves the tailnet together with every other instance on this database`);
      }
      const tailnet = await Tailnet.load(store, {
        prefixV4: config.prefixes.v4,
        prefixV6: config.prefixes.v6,
        allocation: config.prefixes.allocation,
        log: (m) => log.warn(m),
      });
      const apiKeys = await ApiKeyService.load(store);
      const derpMap = await loadDerpMap(config.derp, { warn: (m: string) => log.warn(`derp: ${m}`) }).catch((err: Error) => {
        throw new Error(`derp: ${err.message}`);
      });
      // The embedded region joins every map, loaded or refreshed (it wins over a same-id region).
      const ds = config.derp.server;
      const withOwn = (m: DERPMap) => (ds.enabled && ds.automatically_add_embedded_derp_region ? withEmbeddedRegion(m, embeddedDerpRegion(config.derp, config.server_url)) : m);
      if (Object.keys(withOwn(derpMap).Regions).length === 0) {
        log.warn('the DERP map is empty: clients can only reach each other directly, with no relay when that fails (set derp.paths or derp.urls)');
      }
      const policy = await PolicyManager.load(tailnet, store, {
        mode: config.policy.mode,
        path: config.policy.path,
        serverUrl: config.server_url,
        log,
        onCompiled: (seconds) => policyCompile.observe(seconds),
        // Stored provider groups count while OIDC is configured (oidc.groups).
        ...(config.oidc.issuer && config.oidc.groups.enabled ? { userGroups: (u: UserRecord) => policyGroupsOf(u.oidcGroups, config.oidc.groups) } : {}),
      });
      // With PostgreSQL, web logins wait in the database, where every instance sees them.
      const pending = cluster?.pendingRegistrations({ ttlMs: config.tuning.register_cache_expiration_ms, maxEntries: config.tuning.register_cache_max_entries });
      server = new SwitchboardServer(config, store, tailnet, noiseKey, apiKeys, withOwn(derpMap), policy, log, registry, pending);
      server.cluster = cluster;
      const own = server;
      const useDerpMap = (map: DERPMap, from: string) => {
        own.derpMap = withOwn(map);
        log.info(`DERP map updated${from ? ` ${from}` : ''} (${Object.keys(map.Regions).length} regions)`);
        tailnet.emit({ kind: 'configChanged' });
      };
      cluster?.attach({
        tailnet,
        store,
        settingChanged: async (key) => {
          if (key === 'policy') await policy.reloadFromStore();
          if (key === DERP_MAP_SETTING) {
            const map = await cluster!.readDerpMap();
            if (map) useDerpMap(map, 'from the leader');
          }
        },
        apiKeysChanged: () => apiKeys.refresh(),
      });
      const srv = server;
      if (config.oidc.issuer) server.oidc = await startOidc(config, server, log);
      server.stopDerpRefresh = startDerpMapRefresh(
        config.derp,
        (map) => {
          useDerpMap(map, '');
          cluster?.publishDerpMap(map).catch((err: Error) => log.warn(`ha: could not share the DERP map: ${err.message}`));
        },
        {
          initial: derpMap,
          warn: (m) => log.warn(`derp: ${m}`),
          onError: (err) => log.warn(`DERP map refresh failed, keeping the current map: ${(err as Error).message}`),
          // Only the leader refreshes; the others take its map (settingChanged above).
          skip: cluster ? () => !cluster!.isLeader : undefined,
        },
      );
      server.stopAutoApprover = startAutoApprover(tailnet, (id) => policy.autoApprovedRoutes(id), (m) => log.info(m));
      if (config.policy.mode === 'file' && config.policy.path) {
        server.stopPolicyWatch = watchPolicyFile(config.policy.path, () => policy.reloadFile(), (m) => log.warn(m));
      }
      if (config.dns.extra_records_path) {
        const file = config.dns.extra_records_path;
        server.stopExtraRecordsWatch = watchPolicyFile(file, () => srv.reloadExtraRecords(), (m) => log.warn(`dns: ${m}`));
      }
      if (opts.liveness) server.liveness = opts.liveness;
      await server.listenAll();
      // Render every node's peer form now, in slices, so the first maps after a restart
      // (every client reconnects at once) are built from the cache.
      server.machineContext.builder.warm([...tailnet.allNodes()].map((n) => n.id), () => log.debug('peer cache warm'));
      const boot = await bootstrapIfEmpty(tailnet, config.server_url, opts.bootstrap ?? 'off');
      if (boot) opts.onBootstrap?.(boot);
      // With several instances, only the elected one removes nodes.
      const leads = cluster ? () => cluster!.isLeader : () => true;
      server.stopEphemeral = startEphemeralCollector(tailnet, config.ephemeral_node_inactivity_timeout_ms, (m) => log.info(m), leads);
      return server;
    } catch (err) {
      if (server) await server.close();
      else {
        await cluster?.close().catch(() => {});
        await store.close().catch(() => {});
      }
      throw err;
    }
  }


  get sessionCount(): number {
    return this.hub.size;
  }

  /** A node's open map stream (tests read its queue figures). */
  mapSession(nodeId: number): MapSession | undefined {
    return this.hub.get(nodeId);
  }

  /** Re-reads the policy file (SIGHUP). A refused policy leaves the previous one in force. */
  reloadPolicy(): boolean {
    return this.policy.reloadFile();
  }

  async close(): Promise<void> {
    // Stop taking connections first, so clients that reconnect while this one winds down
    // reach another instance (or retry) instead of a server that is going away.
    if (this.http?.server.listening) this.http.server.close();
    this.tailnet.beginShutdown();
    this.stopEphemeral();
    this.stopAutoApprover();
    this.stopPolicyWatch();
    this.stopExtraRecordsWatch();
    await this.policy.close();
    this.stopDerpRefresh();
    this.ts2021.close();
    this.webLogin.close();
    this.admission.close();
    this.refusedLog.close();
    await this.derp?.close();
    this.hub.closeAll('server shutting down');
    // GOAWAY tells clients this is a shutdown, not a network failure.
    for (const [c, h2] of this.noiseConns) {
      h2?.close('server shutting down');
      c.destroy();
    }
    await Promise.all([closeApp(this.http), closeApp(this.socket), closeApp(this.metrics)]);
    await this.tailnet.flushLastSeen();
    await this.cluster?.close();
    // Only a socket this server made: a refused start must not remove another server's.
    if (this.socket && this.config.unix_socket && existsSync(this.config.unix_socket)) {
      try {
        unlinkSync(this.config.unix_socket);
      } catch {
        /* already gone */
      }
    }
    await this.store.close();
  }

  /** The control listener's node http.Server (for connection admission hooks and timeouts). */
  get httpServer(): http.Server | null {
    return this.http?.server ?? null;
  }

  private async listenAll(): Promise<void> {
    const cfg = this.config;
    const main = parseListenAddr(cfg.listen_addr, 'listen_addr');
    this.http = await this.controlApp();
    this.admission.attach(this.http.server);
    await listen(this.http.server, main.host, main.port);
    const addr = this.http.server.address();
    if (addr && typeof addr === 'object') {
      const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
      this.address = `http://${host}:${addr.port}`;
    }
    this.log.info(`control server listening on ${this.address} (server_url ${cfg.server_url})`);
    await this.derp?.listen();

    if (cfg.unix_socket) {
      mkdirSync(dirname(cfg.unix_socket), { recursive: true });
      await removeStaleSocket(cfg.unix_socket);
      this.socket = createApp({ log: this.log, name: 'socket', onRequestDone: this.httpMetrics() });
      await mountOpenApi(this.socket);
      setNotFound(this.socket, await mountApi(this.socket, this.apiDeps, { trusted: true }));
      await this.socket.ready();
      await listenSocket(this.socket.server, cfg.unix_socket);
      chmodSync(cfg.unix_socket, cfg.unix_socket_permission);
      this.log.info(`admin API on unix socket ${cfg.unix_socket}`);
    }

    if (cfg.metrics_listen_addr) {
      const m = parseListenAddr(cfg.metrics_listen_addr, 'metrics_listen_addr');
      this.metrics = createApp({ log: this.log, name: 'metrics' });
      this.metrics.get('/metrics', async (_req, reply) =>
        reply.type(this.registry.contentType).send(await this.registry.render()),
      );
      mountDebug(this.metrics, { tailnet: this.tailnet, policy: this.policy, derpMap: () => this.derpMap });
      setNotFound(this.metrics);
      await this.metrics.ready();
      await listen(this.metrics.server, m.host, m.port);
      const ma = this.metrics.server.address();
      if (ma && typeof ma === 'object') this.metricsAddress = `http://${ma.family === 'IPv6' ? `[${ma.address}]` : ma.address}:${ma.port}`;
      this.log.info(`metrics on ${this.metricsAddress}/metrics`);
    }
  }

  /** server_url's listener: /key, /health, /ts2021, /api/v1 (and the DERP endpoints, when wired in). */
  private async controlApp(): Promise<FastifyInstance> {
    const app = createApp({ log: this.log, name: 'control', onRequestDone: this.httpMetrics() });
    await mountOpenApi(app);
    attachUpgrades(app.server, this.upgrades);
    await mountTs2021(app, this.ts2021, this.upgrades);
    app.all('/key', async (req, reply) => {
      const q = req.url.indexOf('?');
      const v = q < 0 ? null : new URLSearchParams(req.url.slice(q + 1)).get('v');
      const answer = answerKeyRequest(req.method, v, this.publicKey);
      if (answer.status === 200) return reply.type('application/json').send(JSON.stringify(answer.body));
      if (answer.status === 405) reply.header('allow', 'GET, HEAD');
      return reply.code(answer.status).type('text/plain; charset=utf-8').send(answer.message + '\n');
    });
    app.all('/health', async (_req, reply) => {
      try {
        await this.store.ping();
        return reply.type('application/health+json').send('{"status":"pass"}');
      } catch (err) {
        return reply.code(503).type('application/health+json').send(JSON.stringify({ status: 'fail', output: (err as Error).message }));
      }
    });
    app.all('/', async (_req, reply) =>
      reply
        .type('text/plain; charset=utf-8')
        .send(
          'Switchboard: a control server for Tailscale clients.\nJoin with: tailscale up --login-server ' +
            this.config.server_url +
            ' (then open the link it prints), or add --authkey <key>\n',
        ),
    );
    mountRegisterPage(app, this.webLogin, () => this.oidc);
    mountOidcCallback(app, () => this.oidc, this.config.server_url);
    const derp = this.derp;
    if (derp) {
      // The relay's upgrade stays off Fastify's router, like /ts2021's; its plain endpoints
      // (probe, latency check, generate_204, bootstrap-dns) are node-style handlers.
      this.upgrades.set('/derp', (req, socket, head) => {
        if (!derp.handleUpgrade(req, socket, head)) rawHttpError(socket, 404, 'not found');
      });
      for (const p of derp.paths) {
        rawRoute(app, ['GET', 'HEAD', 'POST'], p, (req, res) => {
          if (!derp.handleRequest(req, res)) {
            res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
            res.end('not found\n');
          }
        });
      }
    }
    setNotFound(app, await mountApi(app, this.apiDeps, { trusted: false }));
    await app.ready();
    return app;
  }

  private serveNoise(conn: NoiseConn, info: { machineKey: string; protocolVersion: number }): void {
    this.noiseConns.set(conn, null);
    conn.on('close', () => this.noiseConns.delete(conn));
    conn.on('error', (err) => this.log.debug(`noise connection of ${info.machineKey.slice(0, 16)}…: ${err.message}`));
    // One HTTP/2 connection per Noise channel binds every request to the machine key the handshake proved.
    const handler = machineHandler(this.machineContext, info);
    const h2 = serveHttp2(conn, {
      onRequest: handler,
      maxConcurrentStreams: 100,
      maxBodyBytes: MAX_BODY_BYTES,
      bodyBudget: this.bodyBudget,
      prefaceTimeoutMs: PREFACE_TIMEOUT_MS,
      onError: (err) => this.log.debug(`http2 from ${info.machineKey.slice(0, 16)}…: ${err.message}`),
    });
    if (this.noiseConns.has(conn)) this.noiseConns.set(conn, h2);
    watchLiveness(h2, this.liveness);
  }

  private controlMetrics(): MachineContext['metrics'] {
    const r = this.registry;
    const sent = r.counter('headscale_mapresponse_sent_total', 'Map responses written to streams, by status and type (full, delta, keepalive).', ['status', 'type']);
    const propagation = r.histogram(
      'switchboard_map_propagation_seconds',
      'From a tailnet change to its map frame written to a client stream, in seconds.',
      [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    );
    // Bound once: a fan-out writes a frame per session, and label lookups cost per call.
    const sentByType = {
      full: sent.labels({ status: 'ok', type: 'full' }),
      delta: sent.labels({ status: 'ok', type: 'delta' }),
      keepalive: sent.labels({ status: 'ok', type: 'keepalive' }),
    };
    return {
      registrations: r.counter('switchboard_registrations_total', 'Node registrations answered, by result (ok, refused).', ['result']),
      registrationsByMethod: r.counter(
        'switchboard_node_registrations_total',
        'Node registrations answered, by method (authkey, none) and result (ok, refused).',
        ['method', 'result'],
      ),
      mapRequests: r.counter('switchboard_map_requests_total', 'Map requests by kind (lite, stream, oneshot).', ['kind']),
      mapFrames: r.counter('switchboard_map_frames_total', 'Frames written to map streams, keep-alives included.'),
      mapBytes: r.counter('switchboard_map_bytes_total', 'Bytes written to map streams (compressed frames).'),
      stream: {
        frame: (type, _bytes, sinceEventMs) => {
          sentByType[type].inc();
          if (sinceEventMs !== undefined) propagation.observe(sinceEventMs / 1000);
        },
      },
    };
  }

  /** headscale's HTTP metrics, by route pattern (not raw path, which would be unbounded). */
  private httpMetrics(): (route: string, method: string, status: number, seconds: number) => void {
    const r = this.registry;
    const duration = (this.httpDuration ??= r.histogram('headscale_http_duration_seconds', 'Duration of HTTP requests, by route.', LATENCY_BUCKETS, ['path']));
    const count = (this.httpCount ??= r.counter('headscale_http_requests_total', 'HTTP requests processed, by status code, method and route.', ['code', 'method', 'path']));
    return (path, method, status, seconds) => {
      // Like headscale: the control protocol has its own metrics.
      if (path === '/ts2021') return;
      duration.observe({ path }, seconds);
      count.inc({ code: String(status), method, path });
    };
  }
  private httpDuration?: Histogram;
  private httpCount?: Counter;

  private registerMetrics(): void {
    const r = this.registry;
    const t = this.tailnet;
    r.gauge('switchboard_nodes', 'Registered nodes.', () => t.nodeCount());
    r.gauge('switchboard_nodes_online', 'Connected nodes: nodes with an open map stream.', () => {
      let n = 0;
      for (const node of t.allNodes()) if (t.isOnline(node.id)) n++;
      return n;
    });
    r.gauge('switchboard_map_sessions', 'Open streaming map sessions.', () => this.hub.size);
    r.counterOf('switchboard_map_batches_coalesced_total', 'Batches of tailnet events a map session got folded into a later batch\'s delta because it had not been served yet (the hub was behind).', () => this.hub.coalesced);
    r.gauge('switchboard_noise_connections', 'Open Noise control connections.', () => this.noiseConns.size);
    r.gauge('switchboard_users', 'Users.', () => t.listUsers().length);
    r.gauge('switchboard_registrations_pending', 'Web logins waiting for a decision (capped by tuning.register_cache_max_entries); with PostgreSQL, those of every instance, as of the last heartbeat.', () => this.webLogin.pending.undecided);
    r.gauge('switchboard_connections_open', 'Open connections on the control listener.', () => this.admission.openConnections);
    r.gauge('switchboard_connections_pending', 'Connections on the control listener that have not sent a first request yet.', () => this.admission.pendingConnections);
  }
}

/** The config key behind each refusal, for log lines an admin can act on. */
function limitKey(reason: Refusal['reason']): string {
  switch (reason) {
    case 'handshake_rate':
      return 'handshakes_per_second';
    case 'handshake_rate_per_address':
      return 'handshakes_per_second_per_address';
    default:
      return reason;
  }
}

function createAdmission(config: Config, log: Logger, onRefused: (r: Refusal) => void): ConnectionAdmission {
  const l = config.limits;
  const fdLimit = openFileLimit();
  const maxConnections = fitConnectionLimit(l.max_connections, fdLimit);
  if (maxConnections !== l.max_connections) {
    log.warn(
      `limits.max_connections: ${l.max_connections || 'no limit'} does not fit the open-file limit of ${fdLimit}; using ${maxConnections} (raise it with ulimit -n or LimitNOFILE=)`,
    );
  }
  return new ConnectionAdmission(
    {
      maxConnections,
      maxConnectionsPerAddress: l.max_connections_per_address,
      maxPendingHandshakes: l.max_pending_handshakes,
      handshakeTimeoutMs: l.handshake_timeout_ms,
      handshakesPerSecond: l.handshakes_per_second,
      handshakesPerSecondPerAddress: l.handshakes_per_second_per_address,
      trustedProxies: new ProxySet(config.trusted_proxies),
    },
    { onRefused },
  );
}

/** only_start_if_oidc_is_available: true stops the start when discovery fails; false warns and serves without OIDC. */
async function startOidc(config: Config, server: SwitchboardServer, log: Logger): Promise<OidcLogin | null> {
  try {
    const o = await OidcLogin.discover({
      cfg: config.oidc,
      serverUrl: config.server_url,
      web: server.webLogin,
      tailnet: server.tailnet,
      flowTtlMs: config.tuning.register_cache_expiration_ms,
      maxFlows: config.tuning.register_cache_max_entries,
      log: (m) => log.info(m),
      // With PostgreSQL the provider's callback may reach any instance.
      ...(server.cluster ? { flows: server.cluster.oidcFlows() } : {}),
    });
    log.info(`oidc: logins go to ${config.oidc.issuer}`);
    return o;
  } catch (err) {
    if (config.oidc.only_start_if_oidc_is_available) throw err;
    log.warn(`${(err as Error).message}; serving without OIDC login (oidc.only_start_if_oidc_is_available is false)`);
    return null;
  }
}
