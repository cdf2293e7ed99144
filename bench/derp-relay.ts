// Child process for the DERP benchmark: Switchboard's relay alone on a loopback port, as
// the main listener would serve it (same upgrade handling), so its CPU and memory can be
// measured apart from the load generator, like the stock derper's. Prints {"port": n}.
// For the mesh benchmark: SWITCHBOARD_BENCH_PORT fixes the port, SWITCHBOARD_BENCH_MESH_KEY
// (hex) and SWITCHBOARD_BENCH_MESH_WITH (a URL) link it to another relay.

import http from 'node:http';
import { Registry } from '../src/metrics/registry.js';
import { generatePrivateKey } from '../src/noise/keys.js';
import { BootstrapDns } from '../src/derp/server/bootstrap-dns.js';
import { createDerpHttp } from '../src/derp/server/http.js';
import { DerpRelay } from '../src/derp/server/relay.js';
import { DEFAULT_LIMITS } from '../src/derp/server/conn.js';
import { MeshClient } from '../src/derp/server/mesh-client.js';
import { MeshKey } from '../src/derp/server/mesh-key.js';
import { registerDerpMetrics } from '../src/derp/server/stats.js';

let relay!: DerpRelay;
const stats = registerDerpMetrics(new Registry(), { id: 999, code: 'bench' }, () => ({ clientCount: relay.clientCount, homeClientCount: relay.homeClientCount }));
const quiet = { info: () => {}, debug: () => {} };
const meshKey = process.env.SWITCHBOARD_BENCH_MESH_KEY ? new MeshKey(process.env.SWITCHBOARD_BENCH_MESH_KEY) : undefined;
relay = new DerpRelay({ privateKey: generatePrivateKey(), stats, meshKey, log: quiet });
const meshWith = process.env.SWITCHBOARD_BENCH_MESH_WITH;
if (meshKey && meshWith) new MeshClient({ url: meshWith, relay, meshKey, stats, limits: DEFAULT_LIMITS, log: quiet, backoffMs: { min: 100, max: 1000 } }).start();
const h = createDerpHttp(relay, new BootstrapDns(() => ({ Regions: {} })));
const server = http.createServer((req, res) => {
  if (!h.handleRequest(req, res)) {
    res.writeHead(404);
    res.end();
  }
});
server.on('upgrade', (req, socket, head) => {
  if (!h.handleUpgrade(req, socket, head)) socket.destroy();
});
server.listen(Number(process.env.SWITCHBOARD_BENCH_PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: (server.address() as { port: number }).port }) + '\n');
});
process.on('SIGTERM', () => process.exit(0));
