// A real server for one describe block (or file): registers before/after hooks that start
// it in its own temp folder and stop it, with every client the test made closed first.

import { afterAll as after, beforeAll as before } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TailscaleClient, type ClientOptions } from '../../src/client/client.js';
import type { Config } from '../../src/config/types.js';
import type { FreshDatabase } from './databases.js';
import { startTestServer, type TestServer } from './server.js';

export interface FixtureOptions {
  /** The database; default a SQLite file in the fixture's folder. */
  db?: () => Promise<FreshDatabase>;
  /** Files written into the folder before start (name → content). */
  files?: Record<string, string>;
  /** Adjusts the configuration; `dir` is the fixture's folder. */
  configure?: (c: Config, dir: string) => void;
  /** Runs once the server listens, before any test. */
  started?: (srv: TestServer) => void;
}

export interface JoinOptions {
  user?: string;
  tags?: string[];
  ephemeral?: boolean;
}

export class ServerFixture {
  srv!: TestServer;
  dir = '';
  readonly clients: TailscaleClient[] = [];

  get url(): string {
    return this.srv.url;
  }

  /** A client of this server, closed when the fixture stops. */
  client(hostname: string, extra: Partial<ClientOptions> = {}): TailscaleClient {
    const c = new TailscaleClient({ serverUrl: this.srv.url, hostname, ...extra });
    this.clients.push(c);
    return c;
  }

  /** Registers a new node with a fresh single-use key of `user` (created if needed) and opens its stream. */
  async join(hostname: string, opts: JoinOptions = {}): Promise<TailscaleClient> {
    const t = this.srv.server.tailnet;
    const name = opts.user ?? 'default';
    const u = t.userByName(name) ?? (await t.createUser({ name }));
    const { key } = await t.createPreAuthKey({
      userId: u.id,
      reusable: false,
      ephemeral: opts.ephemeral ?? false,
      expiration: null,
      tags: opts.tags ?? [],
    });
    const c = this.client(hostname);
    assert.equal((await c.register({ authKey: key })).MachineAuthorized, true);
    await c.startStream();
    return c;
  }

  async restart(): Promise<void> {
    this.srv = await this.srv.restart();
  }
}

export function useServer(opts: FixtureOptions = {}): ServerFixture {
  const f = new ServerFixture();
  let db: FreshDatabase | null = null;
  before(async () => {
    f.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-test-'));
    for (const [name, content] of Object.entries(opts.files ?? {})) fs.writeFileSync(path.join(f.dir, name), content);
    db = opts.db ? await opts.db() : null;
    const dbOpts = db?.opts ?? { type: 'sqlite' as const, path: path.join(f.dir, 'db.sqlite') };
    f.srv = await startTestServer(dbOpts, (c) => opts.configure?.(c, f.dir), f.dir);
    opts.started?.(f.srv);
  });
  after(async () => {
    for (const c of f.clients) c.close();
    await f.srv?.stop().catch(() => {});
    await db?.cleanup();
    fs.rmSync(f.dir, { recursive: true, force: true });
  });
  return f;
}
