// A headscale administrator's shell script (test/fixtures/headscale-scripts/admin.sh, written
// against headscale v0.29's CLI and its `-o json` output), run unchanged but for
// `sed 's/headscale /switchboard /g'`, as a bash subprocess with HEADSCALE_CONFIG pointing
// at the config: every step must succeed and print what it printed on headscale.

import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, test } from 'vitest';
import YAML from 'yaml';
import { startStack, type Stack } from '../api/harness.js';
import { CLI_BIN, cleanCliEnv, runProcess } from '../helpers/cli.js';

const SCRIPT = fileURLToPath(new URL('../../../test/fixtures/headscale-scripts/admin.sh', import.meta.url));

const runBash = (file: string, args: string[], opts: { env: NodeJS.ProcessEnv; cwd: string }) => runProcess('bash', [file, ...args], opts);

describe("a headscale admin's script, with switchboard substituted", () => {
  let s: Stack;
  let work: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    s = await startStack({ webLogin: true, policy: 'database' });
    work = join(s.dir, 'work');
    await mkdir(join(work, 'bin'), { recursive: true });
    await writeFile(join(work, 'bin', 'switchboard'), `#!/bin/sh\nexec "${process.execPath}" "${CLI_BIN}" "$@"\n`);
    await chmod(join(work, 'bin', 'switchboard'), 0o755);
    const config = join(work, 'config.yaml');
    await writeFile(
      config,
      YAML.stringify({
        server_url: 'http://127.0.0.1:8080',
        unix_socket: s.socketPath,
        noise: { private_key_path: './noise.key' },
        prefixes: { v4: '100.64.0.0/10' },
        database: { type: 'sqlite', sqlite: { path: './unused.sqlite' } },
        dns: { base_domain: 'example.test', override_local_dns: false },
      }),
    );
    // headscale's own variable, as the admin's shell has it.
    env = { ...cleanCliEnv(), PATH: `${join(work, 'bin')}:${process.env['PATH']}`, HEADSCALE_CONFIG: config };
    await writeFile(
      join(work, 'policy.hujson'),
      '{\n  // ops run the web servers\n  "tagOwners": {"tag:web": ["ops@"]},\n  "acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}],\n}\n',
    );
  });
  afterAll(async () => s.close());

  test('runs to the end and prints what headscale would', async () => {
    const original = await readFile(SCRIPT, 'utf8');
    assert.match(original, /^headscale users create /m, 'the fixture is written for headscale');
    const script = join(work, 'admin.sh');
    await writeFile(script, original.replace(/headscale /g, 'switchboard '));
    const r = await runBash(script, [join(work, 'policy.hujson')], { env, cwd: work });
    assert.equal(r.code, 0, `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);

    const user = s.tailnet.listUsers({ name: 'ops' })[0]!;
    const lines = r.stdout.trim().split('\n');
    const values = Object.fromEntries(lines.filter((l) => /^[a-z_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    assert.deepEqual(values, {
      user_id: String(user.id),
      key_prefix: 'hskey-auth-',
      reusable_keys: '1',
      nodes: '2',
      routes: '10.20.0.0/16',
      web: 'web-primary tag:web',
      db_expired: 'true',
      nodes_left: 'web-primary',
      api_key_listed: 'yes',
      api_key_expired: 'true',
    });
    // The human lines in between are headscale's too.
    for (const line of ['Node web-1 registered', 'Node db-1 registered', 'Policy updated.', 'Policy is valid', 'Node renamed', 'Node updated', 'Node expired', 'Node deleted', 'Key expired']) {
      assert.ok(lines.includes(line), `missing ${JSON.stringify(line)} in:\n${r.stdout}`);
    }
    assert.match(await readFile(join(work, 'policy-backup.hujson'), 'utf8'), /\/\/ ops run the web servers/, 'policy get prints the stored HuJSON');
    // What the script did is what the server holds.
    const nodes = s.tailnet.listNodes();
    assert.deepEqual(nodes.map((n) => [n.givenName, n.tags, n.approvedRoutes]), [['web-primary', ['tag:web'], ['10.20.0.0/16']]]);
  });
});
