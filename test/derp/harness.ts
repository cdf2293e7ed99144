// A relay on its own HTTP server (loopback, ephemeral port) for protocol tests, with the
// real upgrade handling and counters registered in a fresh registry.

import http from 'node:http';
import { Registry } from '../../src/metrics/registry.js';
import { generatePrivateKey } from '../../src/noise/keys.js';
import { BootstrapDns } from '../../src/derp/server/bootstrap-dns.js';
import type { ConnLimits } from '../../src/derp/server/conn.js';
import { createDerpHttp } from '../../src/derp/server/http.js';
import { DerpRelay } from '../../src/derp/server/relay.js';
import { registerDerpMetrics } from '../../src/derp/server/stats.js';

export interface RelayHarness {
  url: string;
  relay: DerpRelay;
  registry: Registry;
  logs: string[];
  /** A sample's value by its exposition name (labels in any order); 0 when absent. */
  metric(line: string): Promise<number>;
  close(): Promise<void>;
}

export async function startRelay(o: { limits?: Partial<ConnLimits>; verify?: (key: Buffer) => string | null } = {}): Promise<RelayHarness> {
  const registry = new Registry();
  const logs: string[] = [];
  let relay!: DerpRelay;
  const stats = registerDerpMetrics(registry, { id: 999, code: 'test' }, () => ({ clientCount: relay.clientCount, homeClientCount: relay.homeClientCount }));
  relay = new DerpRelay({
    privateKey: generatePrivateKey(),
    verifyClient: o.verify,
    limits: o.limits,
    stats,
    log: { info: (m) => logs.push(m), debug: (m) => logs.push(m) },
  });
  const h = createDerpHttp(relay, new BootstrapDns(() => ({ Regions: { '999': { RegionID: 999, RegionCode: 'test', RegionName: 'test', Nodes: [{ Name: '999', RegionID: 999, HostName: 'localhost' }] } } })));
  const server = http.createServer((req, res) => {
    if (!h.handleRequest(req, res)) {
      res.writeHead(404);
      res.end();
    }
  });
  server.on('upgrade', (req, socket, head) => {
    if (!h.handleUpgrade(req, socket, head)) socket.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    relay,
    registry,
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
