// Shared pieces of the benchmarks: statistics, memory snapshots, realistic node data
// and a bounded-concurrency runner.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import type { Hostinfo } from '../src/tailcfg/types.js';

export interface Stats {
  n: number;
  median: number;
  p99: number;
  max: number;
  min: number;
}

/** Nearest-rank percentile (p in 0..100) of unsorted samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN;
  const s = [...samples].sort((a, b) => a - b);
  const rank = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[rank]!;
}

export function stats(samples: readonly number[]): Stats {
  return {
    n: samples.length,
    median: percentile(samples, 50),
    p99: percentile(samples, 99),
    max: samples.length ? Math.max(...samples) : NaN,
    min: samples.length ? Math.min(...samples) : NaN,
  };
}

export interface MemorySnapshot {
  rssMB: number;
  heapUsedMB: number;
  heapTotalMB: number;
  externalMB: number;
}

// `npm run bench` starts node without --expose-gc; the flag can still be turned on at
// run time and gc() taken from a fresh context, so memory figures are after a full GC.
let gcFn: (() => void) | null = null;
export function forceGc(): void {
  if (!gcFn) {
    v8.setFlagsFromString('--expose-gc');
    gcFn = vm.runInNewContext('gc') as () => void;
  }
  gcFn();
}

const MB = 1024 * 1024;
export function memory(gc = true): MemorySnapshot {
  if (gc) forceGc();
  const m = process.memoryUsage();
  return { rssMB: m.rss / MB, heapUsedMB: m.heapUsed / MB, heapTotalMB: m.heapTotal / MB, externalMB: m.external / MB };
}

/** The repository root, found from dist/bench/ or bench/. */
export function repoRoot(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  return path.basename(path.dirname(here)) === 'dist' ? path.resolve(here, '../..') : path.resolve(here, '..');
}

// A real tailscaled 1.80.3 lite update's Hostinfo (the shared fixture); copied inline as a
// fallback so the benchmark still runs where the fixture folder is not checked out.
const FALLBACK_HOSTINFO: Hostinfo = {
  IPNVersion: '1.80.3-tb107adf2b',
  BackendLogID: 'd83d4024794f0449536ffaff5a57c543af50e0448e9d678aee91224a9a00d0a5',
  OS: 'linux',
  OSVersion: '6.18.44-fc-v769',
  Container: true,
  Distro: 'debian',
  DistroVersion: '12.11',
  DistroCodeName: 'bookworm',
  Desktop: false,
  Hostname: 'node1',
  NoLogsNoSupport: true,
  Machine: 'x86_64',
  GoArch: 'amd64',
  GoArchVar: 'v1',
  GoVersion: 'go1.23.5',
  NetInfo: {
    MappingVariesByDestIP: null,
    HairPinning: null,
    WorkingIPv6: false,
    OSHasIPv6: true,
    WorkingUDP: true,
    WorkingICMPv4: false,
    UPnP: false,
    PMP: false,
    PCP: false,
    PreferredDERP: 999,
    DERPLatency: { '999-v4': 0.000347631 },
  },
  Userspace: true,
  UserspaceRouter: true,
  AppConnector: false,
} as Hostinfo;

let baseHostinfo: Hostinfo | null = null;
export function fixtureHostinfo(): Hostinfo {
  if (!baseHostinfo) {
    const file = path.join(repoRoot(), 'test', 'fixtures', 'tailscale-1.80.3', 'node1', 'map-request-3-lite-endpoints.json');
    try {
      baseHostinfo = (JSON.parse(readFileSync(file, 'utf8')) as { Hostinfo: Hostinfo }).Hostinfo;
    } catch {
      baseHostinfo = FALLBACK_HOSTINFO;
    }
  }
  return baseHostinfo;
}

/** The fixture Hostinfo made distinct for node i (hostname, log id). */
export function hostinfoFor(i: number): Hostinfo {
  return { ...fixtureHostinfo(), Hostname: `node${i}`, BackendLogID: randomBytes(32).toString('hex') };
}

/** Two endpoints per node, as the fixture has (loopback and a LAN address). */
export function endpointsFor(i: number, port = 41641): string[] {
  return [`127.0.0.1:${port}`, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:${port}`];
}

export function randomKey(prefix: 'mkey' | 'nodekey' | 'discokey'): string {
  return `${prefix}:${randomBytes(32).toString('hex')}`;
}

/** Runs `task(i)` for i in [0, count) with at most `limit` in flight; stops at the first error. */
export async function pool(count: number, limit: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
}

/** Rejects after `ms` unless `p` settles first; the timer never keeps the process alive. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

export function machineInfo(): { cpus: number; cpuModel: string; memTotalGB: number; node: string; platform: string } {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    memTotalGB: os.totalmem() / 1024 ** 3,
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
  };
}

export const ms = (ns: bigint): number => Number(ns) / 1e6;

/**
 * The config.yaml of a `switchboard serve` child a benchmark runs in `dir` on `port`:
 * SQLite in the folder, no DERP, no metrics listener, warnings only; `extra` lines follow.
 */
export function benchServerConfig(dir: string, port: number, baseDomain: string, extra: string[] = []): string {
  return (
    [
      `server_url: http://127.0.0.1:${port}`,
      `listen_addr: 127.0.0.1:${port}`,
      'metrics_listen_addr: ""',
      `noise: {private_key_path: ${path.join(dir, 'noise.key')}}`,
      `database: {type: sqlite, sqlite: {path: ${path.join(dir, 'db.sqlite')}}}`,
      `unix_socket: ${path.join(dir, 'sb.sock')}`,
      'policy: {mode: database}',
      'derp: {urls: [], auto_update_enabled: false}',
      'prefixes: {v4: 100.64.0.0/10, v6: "fd7a:115c:a1e0::/48"}',
      `dns: {magic_dns: true, base_domain: ${baseDomain}, override_local_dns: false, nameservers: {global: []}}`,
      'log: {level: warn}',
      ...extra,
    ].join('\n') + '\n'
  );
}
