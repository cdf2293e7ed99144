// Assembling the DERP map clients receive: fetched maps (derp.urls), then local files
// (derp.paths), later sources replacing regions with the same id and `null` regions
// removing them (headscale's documented way to drop e.g. Tailscale's region 1). The
// embedded relay's region is built separately and merged last by the caller, because it
// depends on server_url rather than on the derp section alone.

import { readFile } from 'node:fs/promises';
import type { Config } from '../config/types.js';
import type { DERPMap, DERPRegion } from '../tailcfg/types.js';
import { splitHostPort } from '../util/netaddr.js';
import { DerpMapError, parseDerpMap, readDerpMap, type DerpMapPart } from './map-parse.js';

export { DerpMapError, parseDerpMap, type DerpMapPart } from './map-parse.js';
export { startDerpMapRefresh, type DerpMapRefreshOptions } from './map-refresh.js';

export interface LoadDerpMapOptions {
  fetch?: typeof fetch;
  signal?: AbortSignal;
  /** Receives problems that did not stop loading (an unreachable URL, unknown fields). */
  warn?: (message: string) => void;
  /** Per-URL time limit; default 10s. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * Loads and merges derp.urls then derp.paths. A URL that fails is skipped with a warning
 * when another source loaded; when none did, that is the one error (no warnings before it
 * saying the load goes on). A broken file is an error (it is local and under the
 * operator's control). No sources give an empty map.
 */
export async function loadDerpMap(cfg: Config['derp'], opts: LoadDerpMapOptions = {}): Promise<DERPMap> {
  const warn = opts.warn ?? (() => {});
  const parts: DerpMapPart[] = [];
  const failures: string[] = [];

  for (const url of cfg.urls) {
    opts.signal?.throwIfAborted();
    try {
      parts.push(await fetchDerpMap(url, opts));
    } catch (e) {
      if (opts.signal?.aborted) throw e;
      const msg = e instanceof DerpMapError ? e.message : `${url}: ${(e as Error).message}`;
      failures.push(msg);
    }
  }
  for (const path of cfg.paths) {
    opts.signal?.throwIfAborted();
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
      throw new DerpMapError(path, '', `cannot read: ${(e as Error).message}`);
    }
    parts.push(parseDerpMap(text, path));
  }

  // One message either way: an error when nothing loaded, else a warning per source skipped.
  if (parts.length === 0 && failures.length > 0) {
    throw new Error(`no DERP map could be loaded from derp.urls (${failures.join('; ')}); check the network, or set derp.urls: [] to run without relays`);
  }
  for (const f of failures) warn(`DERP map not loaded, continuing with the other sources: ${f}`);
  for (const p of parts) p.warnings.forEach(warn);
  return mergeDerpMaps(parts);
}

async function fetchDerpMap(url: string, opts: LoadDerpMapOptions): Promise<DerpMapPart> {
  const doFetch = opts.fetch ?? fetch;
  const timeout = AbortSignal.timeout(opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  const res = await doFetch(url, { signal, headers: { accept: 'application/json' } });
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`HTTP ${res.status} ${res.statusText}`.trim());
  }
  const body = await res.text();
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch (e) {
    throw new DerpMapError(url, '', `not valid JSON: ${(e as Error).message}`);
  }
  return readDerpMap(doc, url);
}

/** Merges parts in order: later regions replace earlier ones, `null` removes. */
export function mergeDerpMaps(parts: Array<DerpMapPart | DERPMap>): DERPMap {
  const regions = new Map<number, DERPRegion>();
  let homeParams: DERPMap['HomeParams'];
  for (const part of parts) {
    const entries: Array<[number, DERPRegion | null]> =
      'Regions' in part ? Object.entries(part.Regions).map(([id, r]) => [Number(id), r]) : [...part.regions];
    for (const [id, region] of entries) {
      if (region === null) regions.delete(id);
      else regions.set(id, structuredClone(region));
    }
    const hp = 'Regions' in part ? part.HomeParams : part.homeParams;
    if (hp) homeParams = structuredClone(hp);
  }
  const out: DERPMap = { Regions: {} };
  if (homeParams) out.HomeParams = homeParams;
  for (const id of [...regions.keys()].sort((a, b) => a - b)) out.Regions[String(id)] = regions.get(id)!;
  return out;
}

/**
 * The region of the embedded relay: reached at server_url's host and port (the relay is
 * served by the main HTTP server), STUN on stun_listen_addr's port. Mirrors headscale.
 */
export function embeddedDerpRegion(cfg: Config['derp'], serverUrl: string): DERPRegion {
  const s = cfg.server;
  const url = new URL(serverUrl);
  const port = url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
  // URL keeps IPv6 hosts bracketed; DERPNode.HostName wants the bare name or address.
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const stun = splitHostPort(s.stun_listen_addr);
  if (!stun) throw new Error(`derp.server.stun_listen_addr: ${JSON.stringify(s.stun_listen_addr)} is not a host:port address`);
  return {
    RegionID: s.region_id,
    RegionCode: s.region_code,
    RegionName: s.region_name,
    Nodes: [
      {
        Name: String(s.region_id),
        RegionID: s.region_id,
        HostName: host,
        ...(s.ipv4 !== '' ? { IPv4: s.ipv4 } : {}),
        ...(s.ipv6 !== '' ? { IPv6: s.ipv6 } : {}),
        STUNPort: stun.port,
        DERPPort: port,
      },
    ],
  };
}

/** `map` with the embedded region added (it wins over a region with the same id). */
export function withEmbeddedRegion(map: DERPMap, region: DERPRegion): DERPMap {
  return mergeDerpMaps([map, { Regions: { [String(region.RegionID)]: region } }]);
}
