// IP address arithmetic on bigints: parsing, prefixes, ranges and merged range sets.
// Both families share one number line (v4 addresses are kept apart by a family flag)
// so set operations stay simple and exact. Address parsing and RFC 5952 formatting come
// from src/util/netaddr.
import { formatAddress, parseAddress } from '../util/netaddr.js';

export interface Range {
  v6: boolean;
  lo: bigint;
  hi: bigint;
}

const V4_MAX = (1n << 32n) - 1n;
const V6_MAX = (1n << 128n) - 1n;

export function familyMax(v6: boolean): bigint {
  return v6 ? V6_MAX : V4_MAX;
}

/** Adapter to the shared parser: the family as a v6 flag, as ranges carry it. */
export function parseAddr(s: string): { v6: boolean; addr: bigint } | null {
  const a = parseAddress(s);
  return a && { v6: a.family === 6, addr: a.value };
}

/** Parses "a.b.c.d", "a.b.c.d/n", v6 likewise. Host bits set are masked like Go's Prefix.Masked. */
export function parsePrefix(s: string): Range | null {
  const slash = s.indexOf('/');
  const addrPart = slash < 0 ? s : s.slice(0, slash);
  const a = parseAddr(addrPart);
  if (!a) return null;
  const width = a.v6 ? 128 : 32;
  let bits = width;
  if (slash >= 0) {
    const b = s.slice(slash + 1);
    if (!/^\d{1,3}$/.test(b)) return null;
    bits = Number(b);
    if (bits > width) return null;
  }
  return prefixRange(a.v6, a.addr, bits);
}

export function prefixRange(v6: boolean, addr: bigint, bits: number): Range {
  const width = v6 ? 128 : 32;
  const host = (1n << BigInt(width - bits)) - 1n;
  const lo = addr & ~host & familyMax(v6);
  return { v6, lo, hi: lo | host };
}

/** RFC 5952 text of one address (shared formatter; family as a v6 flag). */
export function formatAddr(v6: boolean, a: bigint): string {
  return formatAddress(a, v6 ? 6 : 4);
}

/** Prefix length if the range is exactly one CIDR block, else -1. */
export function rangePrefixLen(r: Range): number {
  const size = r.hi - r.lo + 1n;
  if ((size & (size - 1n)) !== 0n) return -1;
  if ((r.lo & (size - 1n)) !== 0n) return -1;
  let bits = 0;
  let s = size;
  while (s > 1n) {
    s >>= 1n;
    bits++;
  }
  return (r.v6 ? 128 : 32) - bits;
}

/** Filter spelling: bare address, CIDR, or "first-last". */
export function formatRange(r: Range): string {
  if (r.lo === r.hi) return formatAddr(r.v6, r.lo);
  const pl = rangePrefixLen(r);
  if (pl >= 0) return `${formatAddr(r.v6, r.lo)}/${pl}`;
  return `${formatAddr(r.v6, r.lo)}-${formatAddr(r.v6, r.hi)}`;
}

/** Always-CIDR spelling (AllowedIPs, CapGrant Dsts); single address gets /32 or /128. */
export function formatPrefix(r: Range): string {
  const pl = rangePrefixLen(r);
  return `${formatAddr(r.v6, r.lo)}/${pl}`;
}

/** Splits a range into the minimal list of CIDR blocks. */
export function rangeToPrefixes(r: Range): Range[] {
  const out: Range[] = [];
  let lo = r.lo;
  const width = r.v6 ? 128 : 32;
  while (lo <= r.hi) {
    let bits = width;
    while (bits > 0) {
      const size = 1n << BigInt(width - bits + 1);
      if ((lo & (size - 1n)) !== 0n || lo + size - 1n > r.hi) break;
      bits--;
    }
    const size = 1n << BigInt(width - bits);
    out.push({ v6: r.v6, lo, hi: lo + size - 1n });
    lo += size;
  }
  return out;
}

export function overlaps(a: Range, b: Range): boolean {
  return a.v6 === b.v6 && a.lo <= b.hi && b.lo <= a.hi;
}

export function contains(outer: Range, inner: Range): boolean {
  return outer.v6 === inner.v6 && outer.lo <= inner.lo && inner.hi <= outer.hi;
}

function cmp(a: Range, b: Range): number {
  if (a.v6 !== b.v6) return a.v6 ? 1 : -1;
  return a.lo < b.lo ? -1 : a.lo > b.lo ? 1 : 0;
}

/** Sorted, merged (adjacent ranges joined) copy. */
export function normalize(rs: Range[]): Range[] {
  const s = [...rs].sort(cmp);
  const out: Range[] = [];
  for (const r of s) {
    const last = out[out.length - 1];
    if (last && last.v6 === r.v6 && r.lo <= last.hi + 1n) {
      if (r.hi > last.hi) out[out.length - 1] = { v6: r.v6, lo: last.lo, hi: r.hi };
    } else out.push(r);
  }
  return out;
}

/** a minus b, both normalized. */
export function subtract(a: Range[], b: Range[]): Range[] {
  let cur = a;
  for (const cut of b) {
    const next: Range[] = [];
    for (const r of cur) {
      if (!overlaps(r, cut)) {
        next.push(r);
        continue;
      }
      if (r.lo < cut.lo) next.push({ v6: r.v6, lo: r.lo, hi: cut.lo - 1n });
      if (r.hi > cut.hi) next.push({ v6: r.v6, lo: cut.hi + 1n, hi: r.hi });
    }
    cur = next;
  }
  return cur;
}

export function anyOverlap(a: Range[], b: Range[]): boolean {
  for (const x of a) for (const y of b) if (overlaps(x, y)) return true;
  return false;
}

export function rangeKey(r: Range): string {
  return `${r.v6 ? 6 : 4}:${r.lo}:${r.hi}`;
}
