// The composition root: wires configuration, store, tailnet, policy, map building,
// the control protocol and the admin surfaces into listening servers.

import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { dirname } from 'node:path';
import { createApiHandler, ApiKeyService, type ApiHandler } from '../api/index.js';
import type { Config } from '../config/types.js';
import { MAX_BODY_BYTES, machineHandler, type MachineContext } from '../control/machine.js';
import { SessionHub } from '../control/sessions.js';
import { DEFAULT_LIVENESS, watchLiveness, type LivenessOptions } from '../control/liveness.js';
import { handleKeyRequest } from '../control/key.js';
import { createTs2021Handler, type Ts2021Handler } from '../control/ts2021.js';
import { createStore, type Store, type StoreOptions } from '../db/index.js';
import { loadDerpMap, startDerpMapRefresh } from '../derp/map.js';
import { buildDNSConfig } from '../dns/config.js';
import { MapBuilder } from '../mapresponse/builder.js';
import { Registry } from '../metrics/registry.js';
import { startAutoApprover } from '../policy/autoapprove.js';
import { PolicyManager } from '../policy/manager.js';
import { watchPolicyFile } from '../policy/watch.js';
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
import { BodyBudget, type H2ServerConnection } from '../http2/connection.js';

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

function listen(server: http.Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
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

function closeServer(server: http.Server | null): Promise<void> {
  if (!server || !server.listening) return Promise.resolve();
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

export class SwitchboardServer {
  private readonly noiseConns = new Map<NoiseConn, H2ServerConnection | null>();
  private readonly bodyBudget = new BodyBudget(MAX_BUFFERED_REQUEST_BYTES);
  private http: http.Server | null = null;
  private socket: http.Server | null = null;
  private metrics: http.Server | null = null;
  private stopEphemeral: () => void = () => {};
  private stopAutoApprover: () => void = () => {};
  private stopPolicyWatch: () => void = () => {};
  private stopDerpRefresh: () => void = () => {};
  private derpMap: DERPMap;
  private readonly dnsConfig: DNSConfig | undefined;
  private readonly hub: SessionHub;
  private readonly registry = new Registry();
  private readonly api: ApiHandler;
  private readonly ts2021: Ts2021Handler;
  private readonly machineContext: MachineContext;
  /** Quiet time after which a map stream gets a keep-alive frame (tests shorten it). */
  set mapKeepAliveMs(ms: number) {
    this.machineContext.keepAliveMs = ms;
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
  ) {
    this.derpMap = derpMap;
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
    this.api = createApiHandler({ admin: tailnet, apiKeys, policy, log: (m) => log.info(m) });
    this.machineContext = {
      tailnet,
      builder,
      hub: this.hub,
      keepAliveMs: KEEPALIVE_MS,
      log: (m) => log.info(m),
      locks: new KeyedLock(),
      defaultExpiryMs: config.node.expiry_ms,
      refusedTags: (user, keyTags, requested) => policy.view.refusedTags(user, keyTags, requested),
      metrics: {
        registrations: this.registry.counter('switchboard_registrations_total', 'Node registrations answered, by result (ok, refused).'),
        mapRequests: this.registry.counter('switchboard_map_requests_total', 'Map requests by kind (lite, stream, oneshot).'),
        mapFrames: this.registry.counter('switchboard_map_frames_total', 'Frames written to map streams, keep-alives included.'),
        mapBytes: this.registry.counter('switchboard_map_bytes_total', 'Bytes written to map streams (compressed frames).'),
      },
    };
    let refusedSince = 0;
    const handshakes = this.registry.counter('switchboard_noise_handshakes_total', 'Noise control handshakes, by result (ok, refused).');
    this.ts2021 = createTs2021Handler({
      serverPrivateKey: noisePrivateKey,
      onConnection: (c) => {
        handshakes.inc({ result: 'ok' });
        this.serveNoise(c.conn, { machineKey: c.machineKey, protocolVersion: c.protocolVersion });
      },
      onReject: (r) => {
        handshakes.inc({ result: 'refused' });
        // One line per interval, not per refusal: a flood of bad handshakes must not flood the log.
        if (refusedSince++ === 0) {
          log.info(`refused control connection from ${r.remoteAddress ?? '?'}: ${r.message}`);
          setTimeout(() => {
            if (refusedSince > 1) log.info(`refused ${refusedSince - 1} more control connections in the last 10 s`);
            refusedSince = 0;
          }, 10_000).unref();
        }
      },
      onConnectionError: (err, c) => log.debug(`control connection of ${c.machineKey.slice(0, 16)}…: ${err.message}`),
    });
    this.registerMetrics();
  }

  static async start(opts: ServerOptions): Promise<SwitchboardServer> {
    const { config, log } = opts;
    const noiseKey = loadOrCreateNoiseKey(config.noise.private_key_path, (m) => log.info(m));
    const store = await createStore(storeOptions(config));
    let server: SwitchboardServer | null = null;
    try {
      await store.migrate((m) => log.info(m));
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
      if (config.derp.server.enabled) {
        log.warn('derp.server.enabled: the embedded DERP/STUN relay is not part of this release; clients get only the regions from derp.urls and derp.paths');
      }
      if (Object.keys(derpMap.Regions).length === 0) {
        log.warn('the DERP map is empty: clients can only reach each other directly, with no relay when that fails (set derp.paths or derp.urls)');
      }
      const policy = await PolicyManager.load(tailnet, store, {
        mode: config.policy.mode,
        path: config.policy.path,
        serverUrl: config.server_url,
        log,
      });
      server = new SwitchboardServer(config, store, tailnet, noiseKey, apiKeys, derpMap, policy, log);
      const srv = server;
      server.stopDerpRefresh = startDerpMapRefresh(
        config.derp,
        (map) => {
          srv.derpMap = map;
          log.info(`DERP map updated (${Object.keys(map.Regions).length} regions)`);
          tailnet.emit({ kind: 'configChanged' });
        },
        { initial: derpMap, warn: (m) => log.warn(`derp: ${m}`), onError: (err) => log.warn(`DERP map refresh failed, keeping the current map: ${(err as Error).message}`) },
      );
      server.stopAutoApprover = startAutoApprover(tailnet, (id) => policy.autoApprovedRoutes(id), (m) => log.info(m));
      if (config.policy.mode === 'file' && config.policy.path) {
        server.stopPolicyWatch = watchPolicyFile(config.policy.path, () => policy.reloadFile(), (m) => log.warn(m));
      }
      if (opts.liveness) server.liveness = opts.liveness;
      await server.listenAll();
      // Render every node's peer form now, in slices, so the first maps after a restart
      // (every client reconnects at once) are built from the cache.
      server.machineContext.builder.warm([...tailnet.allNodes()].map((n) => n.id), () => log.debug('peer cache warm'));
      const boot = await bootstrapIfEmpty(tailnet, config.server_url, opts.bootstrap ?? 'off');
      if (boot) opts.onBootstrap?.(boot);
      server.stopEphemeral = startEphemeralCollector(tailnet, config.ephemeral_node_inactivity_timeout_ms, (m) => log.info(m));
      return server;
    } catch (err) {
      if (server) await server.close();
      else await store.close().catch(() => {});
      throw err;
    }
  }


  get sessionCount(): number {
    return this.hub.size;
  }

  /** Re-reads the policy file (SIGHUP). A refused policy leaves the previous one in force. */
  reloadPolicy(): boolean {
    return this.policy.reloadFile();
  }

  async close(): Promise<void> {
    this.stopEphemeral();
    this.stopAutoApprover();
    this.stopPolicyWatch();
    this.stopDerpRefresh();
    this.ts2021.close();
    this.hub.closeAll('server shutting down');
    // GOAWAY tells clients this is a shutdown, not a network failure.
    for (const [c, h2] of this.noiseConns) {
      h2?.close('server shutting down');
      c.destroy();
    }
    await Promise.all([closeServer(this.http), closeServer(this.socket), closeServer(this.metrics)]);
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

  private async listenAll(): Promise<void> {
    const cfg = this.config;
    const main = parseListenAddr(cfg.listen_addr, 'listen_addr');
    this.http = http.createServer((req, res) => this.handleHttp(req, res));
    this.http.on('upgrade', (req, socket, head) => this.handleUpgrade(req, socket, head));
    this.http.on('clientError', (_err, socket) => socket.destroy());
    await listen(this.http, main.host, main.port);
    const addr = this.http.address();
    if (addr && typeof addr === 'object') {
      const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
      this.address = `http://${host}:${addr.port}`;
    }
    this.log.info(`control server listening on ${this.address} (server_url ${cfg.server_url})`);

    if (cfg.unix_socket) {
      mkdirSync(dirname(cfg.unix_socket), { recursive: true });
      await removeStaleSocket(cfg.unix_socket);
      this.socket = http.createServer((req, res) => {
        if (!this.api(req, res, { trusted: true })) this.notFound(res);
      });
      await listenSocket(this.socket, cfg.unix_socket);
      chmodSync(cfg.unix_socket, cfg.unix_socket_permission);
      this.log.info(`admin API on unix socket ${cfg.unix_socket}`);
    }

    if (cfg.metrics_listen_addr) {
      const m = parseListenAddr(cfg.metrics_listen_addr, 'metrics_listen_addr');
      this.metrics = http.createServer((req, res) => {
        if ((req.url ?? '').split('?')[0] === '/metrics') {
          res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
          res.end(this.registry.render());
        } else this.notFound(res);
      });
      await listen(this.metrics, m.host, m.port);
      const ma = this.metrics.address();
      if (ma && typeof ma === 'object') this.metricsAddress = `http://${ma.family === 'IPv6' ? `[${ma.address}]` : ma.address}:${ma.port}`;
      this.log.info(`metrics on ${this.metricsAddress}/metrics`);
    }
  }

  private notFound(res: http.ServerResponse): void {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('not found\n');
  }

  private handleHttp(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (handleKeyRequest(req, res, this.publicKey)) return;
    if (path === '/health') {
      this.store.ping().then(
        () => {
          res.writeHead(200, { 'content-type': 'application/health+json' });
          res.end('{"status":"pass"}');
        },
        (err: Error) => {
          res.writeHead(503, { 'content-type': 'application/health+json' });
          res.end(JSON.stringify({ status: 'fail', output: err.message }));
        },
      );
      return;
    }
    if (this.api(req, res, { trusted: false })) return;
    if (this.ts2021.handleRequest(req, res)) return;
    if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('Switchboard: a control server for Tailscale clients.\nJoin with: tailscale up --login-server ' + this.config.server_url + ' --authkey <key>\n');
      return;
    }
    this.notFound(res);
  }

  private handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.ts2021.handleUpgrade(req, socket, head)) return;
    socket.end('HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nnot found\n');
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

  private registerMetrics(): void {
    const r = this.registry;
    const t = this.tailnet;
    r.gauge('switchboard_nodes', 'Registered nodes.', () => t.nodeCount());
    r.gauge('switchboard_nodes_online', 'Nodes with an open map stream.', () => {
      let n = 0;
      for (const node of t.allNodes()) if (t.isOnline(node.id)) n++;
      return n;
    });
    r.gauge('switchboard_map_sessions', 'Open streaming map sessions.', () => this.hub.size);
    r.gauge('switchboard_noise_connections', 'Open Noise control connections.', () => this.noiseConns.size);
    r.gauge('switchboard_users', 'Users.', () => t.listUsers().length);
    r.gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', () => process.memoryUsage().rss);
    r.gauge('process_heap_used_bytes', 'V8 heap in use, in bytes.', () => process.memoryUsage().heapUsed);
  }
}
