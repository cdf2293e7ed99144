// /bootstrap-dns: the addresses of every DERP node host name in the map, as JSON
// {"name": ["ip", ...]}, for clients that cannot resolve names yet (headscale's form of
// derper's endpoint). Answers are cached for a minute and one lookup runs at a time, so
// the endpoint cannot be used to make the server hammer its resolver.

import { lookup } from 'node:dns/promises';
import type { DERPMap } from '../../tailcfg/types.js';

const CACHE_MS = 60_000;
const LOOKUP_TIMEOUT_MS = 5_000;

export type Resolve = (name: string) => Promise<string[]>;

const systemResolve: Resolve = async (name) => (await lookup(name, { all: true, verbatim: true })).map((a) => a.address);

export class BootstrapDns {
  private cached: { at: number; body: string } | null = null;
  private inFlight: Promise<string> | null = null;

  constructor(
    private readonly derpMap: () => DERPMap,
    private readonly resolve: Resolve = systemResolve,
    private readonly timeoutMs = LOOKUP_TIMEOUT_MS,
  ) {}

  answer(): Promise<string> {
    if (this.cached && Date.now() - this.cached.at < CACHE_MS) return Promise.resolve(this.cached.body);
    this.inFlight ??= this.build().finally(() => (this.inFlight = null));
    return this.inFlight;
  }

  private async build(): Promise<string> {
    const names = new Set<string>();
    for (const r of Object.values(this.derpMap().Regions)) for (const n of r.Nodes ?? []) if (n.HostName) names.add(n.HostName);
    const out: Record<string, string[]> = {};
    await Promise.all(
      [...names].map(async (name) => {
        let timer: NodeJS.Timeout | undefined;
        // Resolves (never rejects) so the loser of the race cannot become an unhandled rejection.
        const timeout = new Promise<null>((r) => (timer = setTimeout(() => r(null), this.timeoutMs)));
        try {
          const addrs = await Promise.race([this.resolve(name), timeout]);
          if (addrs) out[name] = addrs;
        } catch {
          /* unresolvable names are left out, as headscale does */
        } finally {
          clearTimeout(timer);
        }
      }),
    );
    const sorted: Record<string, string[]> = {};
    for (const k of Object.keys(out).sort()) sorted[k] = out[k]!;
    const body = JSON.stringify(sorted);
    this.cached = { at: Date.now(), body };
    return body;
  }
}
