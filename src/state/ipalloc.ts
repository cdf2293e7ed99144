// Address allocation inside the tailnet prefixes. Addresses are handled as bigint
// offsets so IPv4 and IPv6 share one code path; the allocator never hands out an
// address twice and skips the addresses Tailscale reserves for itself.

import { randomBytes } from 'node:crypto';
import { formatAddress, parseAddress, parsePrefix, type ParsedPrefix } from '../util/netaddr.js';

/** Addresses clients treat specially (MagicDNS resolver, ChromeOS VM range). */
const RESERVED_V4 = ['100.100.100.100/32', '100.100.100.101/32', '100.115.92.0/23'];
const RESERVED_V6 = ['fd7a:115c:a1e0::53/128'];

export type Allocation = 'sequential' | 'random';

export class AddressPool {
  private readonly prefix: ParsedPrefix;
  private readonly first: bigint;
  private readonly last: bigint;
  private readonly used = new Set<bigint>();
  private readonly reserved: Array<[bigint, bigint]>;
  private cursor: bigint;

  constructor(
    prefixText: string,
    private readonly allocation: Allocation,
  ) {
    this.prefix = parsePrefix(prefixText);
    const size = 1n << BigInt(this.prefix.bits - this.prefix.length);
    // Network address (and the v4 broadcast address) are never handed out.
    this.first = this.prefix.value + 1n;
    this.last = this.prefix.value + size - (this.prefix.family === 4 ? 2n : 1n);
    this.cursor = this.first;
    this.reserved = (this.prefix.family === 4 ? RESERVED_V4 : RESERVED_V6).map((r) => {
      const p = parsePrefix(r);
      return [p.value, p.value + (1n << BigInt(p.bits - p.length)) - 1n];
    });
  }

  get family(): 4 | 6 {
    return this.prefix.family;
  }

  /** Marks an address as taken (loading existing nodes). Out-of-prefix addresses are ignored. */
  markUsed(addr: string): void {
    const v = this.toValue(addr);
    if (v !== null) this.used.add(v);
  }

  release(addr: string): void {
    const v = this.toValue(addr);
    if (v !== null) this.used.delete(v);
  }

  isUsed(addr: string): boolean {
    const v = this.toValue(addr);
    return v !== null && this.used.has(v);
  }

  /** Takes the next free address; throws when the prefix is exhausted. */
  allocate(): string {
    const span = this.last - this.first + 1n;
    let start = this.cursor;
    if (this.allocation === 'random') {
      start = this.first + (BigInt('0x' + randomBytes(16).toString('hex')) % span);
    }
    let v = start;
    for (let i = 0n; i < span; i++) {
      if (!this.used.has(v) && !this.isReserved(v)) {
        this.used.add(v);
        if (this.allocation === 'sequential') this.cursor = v === this.last ? this.first : v + 1n;
        return formatAddress(v, this.prefix.family);
      }
      v = v === this.last ? this.first : v + 1n;
      // A huge IPv6 prefix is never scanned whole: give up after a generous bound.
      if (i > 1_000_000n) break;
    }
    throw new Error(`no free address left in ${formatAddress(this.prefix.value, this.prefix.family)}/${this.prefix.length}`);
  }

  private isReserved(v: bigint): boolean {
    for (const [lo, hi] of this.reserved) if (v >= lo && v <= hi) return true;
    return false;
  }

  private toValue(addr: string): bigint | null {
    const a = parseAddress(addr);
    if (!a || a.family !== this.prefix.family) return null;
    const size = 1n << BigInt(this.prefix.bits - this.prefix.length);
    if (a.value < this.prefix.value || a.value >= this.prefix.value + size) return null;
    return a.value;
  }
}
