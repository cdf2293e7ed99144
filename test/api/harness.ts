// A real stack for API and CLI tests: SQLite store in a temp dir, the real Tailnet, the API
// handler on a TCP port (API key required) and on a unix socket (trusted).

import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiKeyService, mountApi, type PolicyService } from '../../src/api/index.js';
import { AuditLog } from '../../src/audit/log.js';
import { createApp, setNotFound } from '../../src/web/app.js';
import { createStore } from '../../src/db/index.js';
import type { Store } from '../../src/db/store.js';
import { Tailnet } from '../../src/state/tailnet.js';
import { WebLogin } from '../../src/auth/weblogin.js';
import { PolicyManager } from '../../src/policy/manager.js';
import { KeyedLock } from '../../src/util/keyedlock.js';

export interface Stack {
  dir: string;
  store: Store;
  tailnet: Tailnet;
  apiKeys: ApiKeyService;
  tcpUrl: string;
  socketPath: string;
  logs: string[];
  /** Present when asked for: pending web-login registrations (auth register, debug create-node). */
  webLogin?: WebLogin;
  close(): Promise<void>;
}

/** `policy: 'database'`: the server's own PolicyManager, policy stored in this stack's database. */
export async function startStack(opts: { policy?: PolicyService | 'database'; webLogin?: boolean } = {}): Promise<Stack> {
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-api-'));
  const store = await createStore({ type: 'sqlite', path: join(dir, 'db.sqlite') });
  await store.migrate();
  const tailnet = await Tailnet.load(store, {
    prefixV4: '100.64.0.0/10',
    prefixV6: 'fd7a:115c:a1e0::/48',
    allocation: 'sequential',
  });
  const apiKeys = await ApiKeyService.load(store);
  const logs: string[] = [];
  const webLogin = opts.webLogin
    ? new WebLogin({ tailnet, locks: new KeyedLock(), serverUrl: 'http://127.0.0.1:8080', ttlMs: 60_000, maxEntries: 100, defaultExpiryMs: 0, log: (m) => logs.push(m) })
    : undefined;
  const manager =
    opts.policy === 'database'
      ? await PolicyManager.load(tailnet, store, { mode: 'database', path: '', serverUrl: 'http://127.0.0.1:8080', log: { info: (m) => logs.push(m), warn: (m) => logs.push(m), error: (m) => logs.push(m) } })
      : undefined;
  const policy = manager ?? (opts.policy === 'database' ? undefined : opts.policy);
  const deps = { admin: tailnet, apiKeys, policy, webLogin, ping: () => store.ping(), audit: new AuditLog(store), log: (m: string) => logs.push(m) };
  // The same Fastify set-up as the server's listeners; request lines go to `logs` too.
  const quiet = { error: (m: string) => logs.push(m), warn: (m: string) => logs.push(m), info: (m: string) => logs.push(m), debug: (m: string) => logs.push(m), trace: () => {} };
  const serve = async (trusted: boolean): Promise<FastifyInstance> => {
    const app = createApp({ log: quiet, name: trusted ? 'socket' : 'control' });
    setNotFound(app, await mountApi(app, deps, { trusted }), async (_req, reply) => {
      await reply.code(404).send('not an API path');
    });
    await app.ready();
    return app;
  };
  const tcpApp = await serve(false);
  const tcp = tcpApp.server;
  await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
  const socketPath = join(dir, 'switchboard.sock');
  const unixApp = await serve(true);
  const unix = unixApp.server;
  await new Promise<void>((r) => unix.listen(socketPath, r));
  const port = (tcp.address() as AddressInfo).port;
  return {
    dir,
    store,
    tailnet,
    apiKeys,
    tcpUrl: `http://127.0.0.1:${port}`,
    socketPath,
    logs,
    webLogin,
    async close() {
      webLogin?.close();
      await manager?.close();
      tcp.closeAllConnections();
      unix.closeAllConnections();
      await tcpApp.close();
      await unixApp.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface Reply {
  status: number;
  body: any;
  text: string;
  headers: http.IncomingHttpHeaders;
}

/** One HTTP request over TCP (`url`) or the unix socket (`socketPath`). */
export function call(
  target: { url: string } | { socketPath: string },
  method: string,
  path: string,
  opts: { body?: unknown; rawBody?: string; token?: string; headers?: Record<string, string> } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.token !== undefined) headers['authorization'] = `Bearer ${opts.token}`;
    const payload = opts.rawBody ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body));
    if (payload !== undefined) headers['content-type'] = 'application/json';
    const reqOpts = 'url' in target ? { method, headers } : { method, headers, socketPath: target.socketPath, path };
    const req =
      'url' in target ? http.request(new URL(path, target.url), reqOpts) : http.request(reqOpts);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          body = undefined;
        }
        resolve({ status: res.statusCode ?? 0, body, text, headers: res.headers });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

let machineCounter = 0;

/** Registers a node straight into the tailnet, as the control protocol would. */
export async function addNode(stack: Stack, userId: number | null, hostname: string, extra: { routes?: string[]; tags?: string[] } = {}) {
  const n = ++machineCounter;
  const hex = (seed: number) => seed.toString(16).padStart(2, '0').repeat(32);
  return stack.tailnet.addNode({
    machineKey: `mkey:${hex(n)}`,
    nodeKey: `nodekey:${hex(n + 100)}`,
    discoKey: `discokey:${hex(n + 200)}`,
    endpoints: [],
    hostinfo: { Hostname: hostname, RoutableIPs: extra.routes ?? [] },
    hostname,
    userId,
    registerMethod: 'authkey',
    tags: extra.tags ?? [],
    authKeyId: null,
    ephemeral: false,
    expiry: null,
    lastSeen: null,
    approvedRoutes: [],
  });
}
