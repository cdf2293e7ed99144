// The embedded DERP relay and STUN responder (derp.server.*), put together for the
// composition root: the relay, its HTTP surface on the main listener, the UDP STUN
// listener, admission against the tailnet's node keys, the mesh links to the region's
// other relays (derp.server.mesh_with), and the metrics.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Config } from '../../config/types.js';
import type { Registry } from '../../metrics/registry.js';
import { formatNodePublic } from '../../noise/keys.js';
import { loadOrCreateNoiseKey } from '../../server/noisekey.js';
import type { TailnetEvent } from '../../state/events.js';
import type { DERPMap } from '../../tailcfg/types.js';
import type { Logger } from '../../util/log.js';
import { BootstrapDns } from './bootstrap-dns.js';
import { DEFAULT_LIMITS, type ConnLimits } from './conn.js';
import { MeshClient } from './mesh-client.js';
import { loadOrCreateMeshKey } from './mesh-key.js';
import { DERP_HTTP_PATHS, createDerpHttp, type DerpHttp } from './http.js';
import { DerpRelay } from './relay.js';
import { registerDerpMetrics, type DerpStats } from './stats.js';
import { listenStun, type StunListener } from './stun-listener.js';

export { DerpRelay } from './relay.js';
export type { ConnLimits } from './conn.js';

/** What admission needs from the tailnet. */
export interface NodeKeys {
  nodeByNodeKey(nodeKey: string): { expiry: Date | null } | undefined;
  subscribe(listener: (events: readonly TailnetEvent[]) => void): () => void;
}

/** Keys can also expire with no event; admission is re-checked this often regardless. */
const REVALIDATE_MS = 60_000;

export interface EmbeddedDerpOptions {
  cfg: Config['derp']['server'];
  nodes: NodeKeys;
  registry: Registry;
  derpMap: () => DERPMap;
  log: Logger;
  limits?: Partial<ConnLimits>;
}

/** derp.server.verify_clients: known node keys of this tailnet that have not expired. */
export function tailnetAdmission(nodes: NodeKeys, now: () => number = Date.now): (key: Buffer) => string | null {
  return (key) => {
    const node = nodes.nodeByNodeKey(formatNodePublic(key));
    if (!node) return 'not a node of this tailnet (derp.server.verify_clients)';
    if (node.expiry && node.expiry.getTime() <= now()) return 'node key expired (derp.server.verify_clients)';
    return null;
  };
}

export class EmbeddedDerp {
  readonly relay: DerpRelay;
  /** One link per derp.server.mesh_with URL. */
  readonly mesh: MeshClient[];
  private readonly http: DerpHttp;
  private readonly stats: DerpStats;
  private stun: StunListener | null = null;
  private stopRevalidation: () => void = () => {};

  constructor(private readonly opts: EmbeddedDerpOptions) {
    const { cfg, log } = opts;
    const key = loadOrCreateNoiseKey(cfg.private_key_path, (m) => log.info(m), 'derp.server.private_key_path', 'DERP');
    this.stats = registerDerpMetrics(opts.registry, { id: cfg.region_id, code: cfg.region_code }, () => ({
      clientCount: this.relay.clientCount,
      homeClientCount: this.relay.homeClientCount,
      meshPeerCount: this.mesh.filter((m) => m.state === 'watching').length,
      meshWatcherCount: this.relay.meshWatcherCount,
      meshKeyCount: this.relay.forwardedKeyCount,
    }));
    const meshKey = cfg.mesh_key_path !== '' ? loadOrCreateMeshKey(cfg.mesh_key_path, (m) => log.info(m)) : undefined;
    this.relay = new DerpRelay({
      privateKey: key,
      verifyClient: cfg.verify_clients ? tailnetAdmission(opts.nodes) : undefined,
      limits: opts.limits,
      meshKey,
      stats: this.stats,
      log,
    });
    const limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.mesh = meshKey ? cfg.mesh_with.map((url) => new MeshClient({ url, relay: this.relay, meshKey, stats: this.stats, limits, log })) : [];
    this.http = createDerpHttp(this.relay, new BootstrapDns(opts.derpMap));
    if (cfg.verify_clients) {
      // A node deleted, re-keyed or expired loses the relay at once, not at its next reconnect.
      const unsubscribe = opts.nodes.subscribe((events) => {
        if (events.some((e) => e.kind === 'nodeRemoved' || (e.kind === 'nodePatched' && (e.patch.nodeKey || e.patch.keyExpiry)))) this.relay.revalidate();
      });
      const timer = setInterval(() => this.relay.revalidate(), REVALIDATE_MS);
      timer.unref();
      this.stopRevalidation = () => {
        unsubscribe();
        clearInterval(timer);
      };
    }
  }

  /** Where STUN listens (host:port), once listen() returned. */
  get stunAddress(): string {
    return this.stun?.address ?? '';
  }

  async listen(): Promise<void> {
    const { cfg, log } = this.opts;
    this.stun = await listenStun(cfg.stun_listen_addr, (r, why) => {
      this.stats.stun(r);
      if (why) log.trace(`stun: ignored a datagram: ${why}`);
    });
    log.info(`embedded DERP relay at /derp (region ${cfg.region_id} "${cfg.region_code}"), STUN on udp ${this.stun.address}`);
    for (const m of this.mesh) m.start();
  }

  /** Paths handleRequest serves (GET and HEAD; others get 405 or 426), for a router registering routes by path. */
  readonly paths: readonly string[] = DERP_HTTP_PATHS;

  /** The upgrade at /derp (DERP or WebSocket); false for other paths. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    return this.http.handleUpgrade(req, socket, head);
  }

  handleRequest(req: IncomingMessage, res: ServerResponse): boolean {
    return this.http.handleRequest(req, res);
  }

  async close(): Promise<void> {
    this.stopRevalidation();
    for (const m of this.mesh) m.close();
    this.http.close();
    this.relay.close();
    await this.stun?.close();
    this.stun = null;
  }
}
