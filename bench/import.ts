// `switchboard import headscale` on a large tailnet: a headscale-schema SQLite database
// (headscale's schema.sql) with N users, N nodes (realistic Hostinfo) and N pre-auth keys
// is imported into a fresh SQLite database. Prints the time of the read/map/check phase and
// of the whole import, and the peak RSS.
//   npm run build && node dist/bench/import.js [--nodes N]

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { loadConfig } from '../src/config/load.js';
import { readHeadscale } from '../src/import/map.js';
import { importHeadscale } from '../src/import/run.js';
import { openSource } from '../src/import/source.js';
import { KNOWN_MIGRATIONS, SCHEMA_INIT } from '../src/import/schema.js';
import { endpointsFor, hostinfoFor, machineInfo, randomKey, repoRoot } from './common.js';

function makeHeadscaleDb(file: string, n: number): void {
  const db = new Database(file);
  db.exec(fs.readFileSync(path.join(repoRoot(), 'test', 'fixtures', 'headscale-db', 'schema-current.sql'), 'utf8'));
  const now = new Date().toISOString().replace('T', ' ').replace('Z', '+00:00');
  db.transaction(() => {
    for (const id of [SCHEMA_INIT, ...KNOWN_MIGRATIONS.slice(KNOWN_MIGRATIONS.indexOf('202501221827'))]) db.prepare('INSERT INTO migrations VALUES (?)').run(id);
    const user = db.prepare("INSERT INTO users (id, name, display_name, email, created_at, updated_at) VALUES (?, ?, '', '', ?, ?)");
    const key = db.prepare("INSERT INTO pre_auth_keys (id, key, user_id, reusable, ephemeral, used, tags, expiration, created_at) VALUES (?, ?, ?, 0, 0, 1, '[]', ?, ?)");
    const node = db.prepare(
      `INSERT INTO nodes (id, machine_key, node_key, disco_key, endpoints, host_info, ipv4, ipv6, hostname, given_name, user_id, register_method,
         tags, auth_key_id, last_seen, expiry, approved_routes, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'authkey', '[]', ?, ?, NULL, '[]', ?, ?)`,
    );
    for (let i = 1; i <= n; i++) {
      user.run(i, `user${i}`, now, now);
      key.run(i, `plain${i}-${'0'.repeat(40)}`, i, now, now);
      const v4 = `100.64.${Math.floor(i / 256)}.${i % 256}`;
      node.run(i, randomKey('mkey'), randomKey('nodekey'), randomKey('discokey'), JSON.stringify(endpointsFor(i)), JSON.stringify(hostinfoFor(i)),
        v4, `fd7a:115c:a1e0::${i.toString(16)}`, `host-${i}`, `host-${i}`, i, i, now, now, now);
    }
  })();
  db.close();
}

async function main(): Promise<void> {
  const at = process.argv.indexOf('--nodes');
  const n = at >= 0 ? Number(process.argv[at + 1]) : 10_000;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-bench-import-'));
  try {
    const hs = path.join(dir, 'headscale.sqlite');
    makeHeadscaleDb(hs, n);
    const { config } = loadConfig({ cwd: dir, env: {}, defaults: 'dev' });
    config.database.sqlite.path = path.join(dir, 'target.sqlite');
    let peak = 0;
    const sample = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    const t0 = performance.now();
    const src = await openSource(hs);
    await readHeadscale(src, { prefixV4: config.prefixes.v4, prefixV6: config.prefixes.v6 });
    await src.close();
    const read = performance.now() - t0;
    const t1 = performance.now();
    const out = await importHeadscale({
      db: hs, dryRun: false, replace: false, config,
      target: { type: 'sqlite', path: config.database.sqlite.path },
      out: () => {}, progress: (l) => { if (process.env.BENCH_TRACE) process.stderr.write(`${(performance.now() - t1).toFixed(0)} ms ${l}\n`); },
    });
    const total = performance.now() - t1;
    clearInterval(sample);
    if (!out.written) throw new Error(`import refused: ${out.problems.join('; ')}`);
    const m = machineInfo();
    process.stdout.write(
      `${n} users, nodes and pre-auth keys: read+map+check ${read.toFixed(0)} ms; whole import (read, check, migrate, write) ${total.toFixed(0)} ms; ` +
        `peak RSS ${(peak / 1024 / 1024).toFixed(0)} MB (${m.cpus} × ${m.cpuModel}, Node ${m.node}, load ${os.loadavg()[0]!.toFixed(1)})\n`,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
