// The key a remote address is counted under. IPv4-mapped IPv6 is the IPv4 address it
// carries; other IPv6 addresses count per /64, since one host is routinely given a whole
// /64 and could otherwise open connections from 2^64 addresses.

import { formatPrefix, parseAddress, parsePrefix, prefixContains, type ParsedPrefix } from '../util/netaddr.js';

/** "::ffff:1.2.3.4" (an IPv4 client on a dual-stack socket) → "1.2.3.4". */
function unmap(remote: string): string {
  return remote.startsWith('::ffff:') && remote.includes('.') ? remote.slice(7) : remote;
}

export function addressKey(remote: string | undefined): string {
  if (!remote) return '?';
  const text = unmap(remote);
  const a = parseAddress(text);
  if (!a || a.family === 4) return text;
  return formatPrefix({ value: (a.value >> 64n) << 64n, family: 6, length: 64 });
}

/** Addresses (or CIDRs) of reverse proxies whose connections carry many clients. */
export class ProxySet {
  private readonly prefixes: ParsedPrefix[];

  /** Throws naming the entry when one is not an address or prefix. */
  constructor(entries: readonly string[]) {
    this.prefixes = entries.map((e, i) => {
      try {
        return parsePrefix(e.trim());
      } catch (err) {
        throw new Error(`trusted_proxies[${i}]: ${(err as Error).message}`);
      }
    });
  }

  get size(): number {
    return this.prefixes.length;
  }

  has(remote: string | undefined): boolean {
    if (!remote || this.prefixes.length === 0) return false;
    const a = parseAddress(unmap(remote));
    return a !== null && this.prefixes.some((p) => p.family === a.family && prefixContains(p, a));
  }
}
