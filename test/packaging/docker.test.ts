// The container image without a Docker engine: the Dockerfile says what it should (base
// image, non-root user, volume, healthcheck, config path, entrypoint), scripts/docker-steps.sh
// lays out the image's file tree, and the image's entrypoint, run in that tree with the
// image's environment and config, serves /health, answers the image's HEALTHCHECK, and
// stops cleanly. Also the systemd unit's shape.

import { describe, test, beforeAll, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const dockerfile = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');

/** Instructions of the last stage (the image), continuation lines joined. */
function runtimeStage(): { op: string; args: string }[] {
  const lines = dockerfile.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const last = lines.map((l, i) => (l.startsWith('FROM ') ? i : -1)).filter((i) => i >= 0).pop()!;
  return lines.slice(last).map((l) => {
    const sp = l.indexOf(' ');
    return { op: l.slice(0, sp), args: l.slice(sp + 1).trim() };
  });
}

const instr = (op: string) => runtimeStage().filter((i) => i.op === op).map((i) => i.args);

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

describe('container image and systemd unit', () => {
  let dest: string;
  let rootfs: string;
  beforeAll(() => {
    dest = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-image-'));
    const r = spawnSync('bash', [path.join(ROOT, 'scripts', 'docker-steps.sh'), dest], {
      env: { ...process.env, SWITCHBOARD_DOCKER_STEPS_REUSE: '1' },
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    rootfs = r.stdout.trim().split('\n').pop()!;
  });
  afterAll(() => {
    fs.rmSync(dest, { recursive: true, force: true });
  });

  test('the Dockerfile: two stages on node:20-bookworm-slim, non-root, volume, healthcheck, config, entrypoint', () => {
    const froms = dockerfile.split('\n').filter((l) => l.startsWith('FROM '));
    assert.deepEqual(froms, ['FROM node:20-bookworm-slim AS build', 'FROM node:20-bookworm-slim']);
    assert.match(dockerfile, /RUN npm ci\n/);
    assert.match(dockerfile, /npm run build && npm prune --omit=dev/);
    assert.deepEqual(instr('USER'), ['switchboard']);
    assert.deepEqual(instr('VOLUME'), ['/var/lib/switchboard']);
    assert.match(instr('ENV')[0]!, /SWITCHBOARD_CONFIG=\/etc\/switchboard\/config\.yaml/);
    assert.deepEqual(instr('ENTRYPOINT'), ['["switchboard"]']);
    assert.deepEqual(instr('CMD'), ['["serve"]']);
    assert.match(instr('HEALTHCHECK')[0]!, /http:\/\/127\.0\.0\.1:8080\/health/);
    // Every file the runtime stage copies from the build stage exists in a build.
    for (const c of instr('COPY').filter((a) => a.startsWith('--from=build '))) {
      const from = c.split(/\s+/)[1]!.replace(/^\/app\//, '');
      assert.ok(fs.existsSync(path.join(ROOT, from)), `${from} (COPY --from=build) is missing from a build`);
    }
  });

  test('the entrypoint in the image layout serves /health and passes the HEALTHCHECK; SIGTERM stops it', async () => {
    const port = await freePort();
    const state = path.join(dest, 'state');
    fs.mkdirSync(state, { recursive: true });
    const config = imageConfig(rootfs);
    assert.match(fs.readFileSync(config, 'utf8'), /^listen_addr: 0\.0\.0\.0:8080$/m);
    // The image's environment, with its absolute paths moved into this tree, and what a test
    // machine lacks (no port 8080 of its own, no internet for Tailscale's DERP map) overridden.
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SWITCHBOARD_') && !k.startsWith('HEADSCALE_')) env[k] = v;
    Object.assign(env, {
      PATH: `${path.join(rootfs, 'usr', 'local', 'bin')}:${process.env.PATH}`,
      NODE_ENV: 'production',
      SWITCHBOARD_CONFIG: config,
      SWITCHBOARD_LISTEN_ADDR: `127.0.0.1:${port}`,
      SWITCHBOARD_METRICS_LISTEN_ADDR: '',
      SWITCHBOARD_DATABASE_SQLITE_PATH: path.join(state, 'db.sqlite'),
      SWITCHBOARD_NOISE_PRIVATE_KEY_PATH: path.join(state, 'noise_private.key'),
      SWITCHBOARD_UNIX_SOCKET: path.join(state, 'switchboard.sock'),
      SWITCHBOARD_DERP_URLS: '[]',
    });
    const [entry] = JSON.parse(instr('ENTRYPOINT')[0]!) as string[];
    const cmd = JSON.parse(instr('CMD')[0]!) as string[];
    const child = spawn(entry!, cmd, { cwd: path.join(rootfs, 'app'), env, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout.on('data', (d) => (log += d));
    child.stderr.on('data', (d) => (log += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      let ok = false;
      for (let i = 0; i < 100 && !ok; i++) {
        ok = await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false);
        if (!ok) await new Promise((r) => setTimeout(r, 200));
      }
      assert.ok(ok, `no /health answer:\n${log}`);
      assert.match(log, new RegExp(`configuration from ${config.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
      // The HEALTHCHECK as the image runs it, pointed at this port.
      const hc = JSON.parse(instr('HEALTHCHECK')[0]!.replace(/^.*?CMD\s+/, '')) as string[];
      const probe = spawnSync(hc[0]!, hc.slice(1).map((a) => a.replace('127.0.0.1:8080', `127.0.0.1:${port}`)), { encoding: 'utf8', timeout: 10_000 });
      assert.equal(probe.status, 0, probe.stderr);
      const dead = spawnSync(hc[0]!, hc.slice(1).map((a) => a.replace('127.0.0.1:8080', '127.0.0.1:1')), { encoding: 'utf8', timeout: 10_000 });
      assert.equal(dead.status, 1, 'the healthcheck fails when nothing answers');
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, log);
    assert.equal(fs.statSync(path.join(state, 'db.sqlite')).mode & 0o777, 0o600);
  });

  test('the systemd unit runs serve as switchboard with headscale\'s hardening, minus what Node cannot run under', () => {
    const unit = fs.readFileSync(path.join(ROOT, 'packaging', 'switchboard.service'), 'utf8');
    const keys = new Map<string, string[]>();
    for (const l of unit.split('\n')) {
      const m = /^([A-Za-z]+)=(.*)$/.exec(l);
      if (m) keys.set(m[1]!, [...(keys.get(m[1]!) ?? []), m[2]!]);
    }
    assert.deepEqual(keys.get('User'), ['switchboard']);
    assert.match(keys.get('ExecStart')![0]!, /switchboard\.js serve -c \/etc\/switchboard\/config\.yaml$/);
    for (const k of ['NoNewPrivileges', 'PrivateTmp', 'ProtectHome', 'PrivateDevices', 'RestrictNamespaces', 'LockPersonality']) {
      assert.deepEqual(keys.get(k), ['true'], k);
    }
    assert.deepEqual(keys.get('ProtectSystem'), ['strict']);
    assert.deepEqual(keys.get('StateDirectory'), ['switchboard']);
    assert.deepEqual(keys.get('ReadWritePaths'), ['/var/lib/switchboard']);
    assert.equal(keys.has('MemoryDenyWriteExecute'), false, 'V8 needs writable-executable memory');
  });
});

function imageConfig(rootfs: string): string {
  return path.join(rootfs, 'etc', 'switchboard', 'config.yaml');
}
