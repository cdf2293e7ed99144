// `switchboard import headscale` as the real CLI subprocess, then the server on the imported
// database: the API key headscale made authenticates against /api/v1.

import { describe, test, beforeAll, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { formatPrivate, generatePrivateKey } from '../../src/noise/keys.js';
import { runCli } from '../helpers/cli.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { loadDump, tempDir } from './helpers.js';

const API_KEY = 'hskey-api-ZRVzG0vKkUb4-dqem7jxt7Aun0JqfZpbsvrBDYdQV-RK8S9qbiAAniiuTxIj73LeDUDukVYJBqmDh';


describe('switchboard import headscale (CLI)', () => {
  let dir: string;
  let config: string;
  let srv: TestServer | null = null;
  const dbPath = () => path.join(dir, 'sb', 'db.sqlite');
  beforeAll(() => {
    dir = tempDir();
    config = path.join(dir, 'config.yaml');
    fs.writeFileSync(
      config,
      YAML.stringify({
        server_url: 'http://127.0.0.1:8080',
        noise: { private_key_path: './sb/noise.key' },
        prefixes: { v4: '100.64.0.0/10', v6: 'fd7a:115c:a1e0::/48' },
        database: { type: 'sqlite', sqlite: { path: './sb/db.sqlite' } },
        unix_socket: './sb/switchboard.sock',
        dns: { base_domain: 'example.test', override_local_dns: false },
      }),
    );
  });
  afterAll(async () => {
    await srv?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('dry run, import, refusal of a second import; exit codes say which', async () => {
    const hs = loadDump('headscale_0.29.3_dump.sql', dir);
    const noise = path.join(dir, 'headscale-noise.key');
    fs.writeFileSync(noise, `${formatPrivate(generatePrivateKey())}\n`);

    const dry = await runCli(['-c', config, 'import', 'headscale', '--db', hs, '--noise-key', noise, '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /^ {2}pre-auth keys +5$/m);
    assert.match(dry.stdout, /dry run: no problems; nothing was changed/);
    assert.equal(fs.existsSync(dbPath()), false);

    const real = await runCli(['-c', config, 'import', 'headscale', '--db', hs, '--noise-key', noise]);
    assert.equal(real.code, 0, real.stderr);
    assert.match(real.stdout, /imported 2 users, 5 nodes, 5 pre-auth keys, 1 API keys/);
    assert.match(real.stderr, /import: nodes: 5\/5/);
    assert.equal(fs.readFileSync(path.join(dir, 'sb', 'noise.key'), 'utf8'), fs.readFileSync(noise, 'utf8'));

    const again = await runCli(['-c', config, 'import', 'headscale', '--db', hs]);
    assert.equal(again.code, 1);
    assert.match(again.stdout, /is not empty .*--replace/);

    const missing = await runCli(['-c', config, 'import', 'headscale', '--db', path.join(dir, 'nope.db')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /--db: no such file/);
  });

  test('the API key headscale made authenticates against /api/v1 of the imported server', async () => {
    srv = await startTestServer({ type: 'sqlite', path: dbPath() });
    const users = await fetch(`${srv.url}/api/v1/user`, { headers: { authorization: `Bearer ${API_KEY}` } });
    assert.equal(users.status, 200);
    const body = (await users.json()) as { users: { name: string }[] };
    assert.deepEqual(body.users.map((u) => u.name), ['alice', 'bob']);
    const wrong = await fetch(`${srv.url}/api/v1/user`, { headers: { authorization: `Bearer ${API_KEY.slice(0, -2)}xx` } });
    assert.equal(wrong.status, 401);
    const nodes = await fetch(`${srv.url}/api/v1/node`, { headers: { authorization: `Bearer ${API_KEY}` } });
    const n = (await nodes.json()) as { nodes: { id: string; givenName: string; ipAddresses: string[] }[] };
    assert.deepEqual(n.nodes.map((x) => [x.id, x.givenName, x.ipAddresses]), [
      ['1', 'node1', ['100.64.0.1', 'fd7a:115c:a1e0::1']],
      ['2', 'node2', ['100.64.0.2', 'fd7a:115c:a1e0::2']],
      ['3', 'node3', ['100.64.0.3', 'fd7a:115c:a1e0::3']],
      ['4', 'node4', ['100.64.0.4', 'fd7a:115c:a1e0::4']],
      ['5', 'node5', ['100.64.0.5', 'fd7a:115c:a1e0::5']],
    ]);
  });
});
