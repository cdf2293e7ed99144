// A relay on its own HTTP server (loopback, ephemeral port) for protocol tests, with the
// real upgrade handling and counters registered in a fresh registry.

import http from 'node:http';
import https from 'node:https';
import { Registry } from '../../src/metrics/registry.js';
import { generatePrivateKey } from '../../src/noise/keys.js';
import { BootstrapDns } from '../../src/derp/server/bootstrap-dns.js';
import type { ConnLimits } from '../../src/derp/server/conn.js';
import { createDerpHttp } from '../../src/derp/server/http.js';
import { DerpRelay } from '../../src/derp/server/relay.js';
import type { MeshKey } from '../../src/derp/server/mesh-key.js';
import { registerDerpMetrics, type DerpGauges, type DerpStats } from '../../src/derp/server/stats.js';

export interface RelayHarness {
  url: string;
  relay: DerpRelay;
  registry: Registry;
  stats: DerpStats;
  logs: string[];
  /** A sample's value by its exposition name (labels in any order); 0 when absent. */
  metric(line: string): Promise<number>;
  close(): Promise<void>;
}

export interface RelayHarnessOptions {
  limits?: Partial<ConnLimits>;
  verify?: (key: Buffer) => string | null;
  meshKey?: MeshKey;
  /** Serve HTTPS with this certificate (for peers that only dial https://, like derper's mesh). */
  tls?: { key: string; cert: string };
  /** Mesh gauges, when the test runs mesh links. */
  gauges?: () => Partial<DerpGauges>;
}

export async function startRelay(o: RelayHarnessOptions = {}): Promise<RelayHarness> {
  const registry = new Registry();
  const logs: string[] = [];
  let relay!: DerpRelay;
  const stats = registerDerpMetrics(registry, { id: 999, code: 'test' }, () => ({
    clientCount: relay.clientCount,
    homeClientCount: relay.homeClientCount,
    meshWatcherCount: relay.meshWatcherCount,
    meshKeyCount: relay.forwardedKeyCount,
    ...o.gauges?.(),
  }));
  relay = new DerpRelay({
    privateKey: generatePrivateKey(),
    verifyClient: o.verify,
    limits: o.limits,
    meshKey: o.meshKey,
    stats,
    log: { info: (m) => logs.push(m), debug: (m) => logs.push(m) },
  });
  const h = createDerpHttp(relay, new BootstrapDns(() => ({ Regions: { '999': { RegionID: 999, RegionCode: 'test', RegionName: 'test', Nodes: [{ Name: '999', RegionID: 999, HostName: 'localhost' }] } } })));
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (!h.handleRequest(req, res)) {
      res.writeHead(404);
      res.end();
    }
  };
  const server = o.tls ? https.createServer({ key: o.tls.key, cert: o.tls.cert }, onRequest) : http.createServer(onRequest);
  server.on('upgrade', (req, socket, head) => {
    if (!h.handleUpgrade(req, socket, head)) socket.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    url: `${o.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    relay,
    registry,
    stats,
    logs,
    async metric(line) {
      const want = normalizeSample(line);
      for (const l of (await registry.render()).split('\n')) {
        const i = l.lastIndexOf(' ');
        if (i > 0 && !l.startsWith('#') && normalizeSample(l.slice(0, i)) === want) return Number(l.slice(i + 1));
      }
      return 0;
    },
    async close() {
      relay.close();
      h.close();
      server.closeAllConnections?.();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** `name{b="2",a="1"}` → `name{a="1",b="2"}`: prom-client keeps labels in the order given. */
function normalizeSample(s: string): string {
  const b = s.indexOf('{');
  if (b < 0) return s;
  const labels = s.slice(b + 1, s.lastIndexOf('}')).match(/[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"/g) ?? [];
  return `${s.slice(0, b)}{${labels.sort().join(',')}}`;
}
