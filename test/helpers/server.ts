// Starts a real Switchboard server for a test: loopback only, an ephemeral port, its
// own temp folder for keys and the unix socket, and the database a backend gives.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import type { StoreOptions } from '../../src/db/index.js';
import { SwitchboardServer } from '../../src/server/server.js';
import { createLogger } from '../../src/util/log.js';
import type { Bootstrap } from '../../src/server/bootstrap.js';

export interface TestServer {
  server: SwitchboardServer;
  config: Config;
  dir: string;
  url: string;
  bootstrap: Bootstrap | null;
  /** Stops the server (the database and folder stay, for restarts). */
  stop(): Promise<void>;
  /** Starts a new server on the same state and port. */
  restart(): Promise<TestServer>;
}

export function testConfig(dir: string, db: StoreOptions, overrides: (c: Config) => void = () => {}): Config {
  const { config } = loadConfig({ cwd: dir, env: {}, defaults: 'dev' });
  config.listen_addr = '127.0.0.1:0';
  config.metrics_listen_addr = '';
  config.unix_socket = path.join(dir, 'switchboard.sock');
  config.noise.private_key_path = path.join(dir, 'noise_private.key');
  if (db.type === 'sqlite') {
    config.database.type = 'sqlite';
    config.database.sqlite.path = db.path;
  } else {
    config.database.type = 'postgres';
    const u = new URL('url' in db ? db.url : `postgresql://${db.user}:${db.pass}@${db.host}:${db.port}/${db.name}`);
    config.database.postgres = {
      ...config.database.postgres,
      host: u.hostname,
      port: Number(u.port || 5432),
      name: u.pathname.slice(1),
      user: decodeURIComponent(u.username),
      pass: decodeURIComponent(u.password),
      ssl: false,
    };
  }
  overrides(config);
  return config;
}

export async function startTestServer(db: StoreOptions, overrides?: (c: Config) => void, dir?: string): Promise<TestServer> {
  const folder = dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-srv-'));
  const config = testConfig(folder, db, overrides);
  return launch(config, folder);
}

async function launch(config: Config, dir: string): Promise<TestServer> {
  let bootstrap: Bootstrap | null = null;
  const lines: string[] = [];
  const log = createLogger(process.env.SWITCHBOARD_TEST_LOG ?? 'warn', 'text', (l) => {
    if (process.env.SWITCHBOARD_TEST_LOG) process.stderr.write(l + '\n');
    lines.push(l);
  });
  const server = await SwitchboardServer.start({
    config,
    log,
    bootstrap: 'user-and-key',
    onBootstrap: (b) => {
      if (b.key !== null) bootstrap = b;
    },
  });
  const port = new URL(server.address).port;
  const t: TestServer = {
    server,
    config,
    dir,
    url: server.address,
    bootstrap,
    stop: () => server.close(),
    restart: async () => {
      await server.close().catch(() => {});
      return launch({ ...config, listen_addr: `127.0.0.1:${port}` }, dir);
    },
  };
  return t;
}
