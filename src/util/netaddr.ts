// IP address and prefix helpers on bigint values, so IPv4 and IPv6 share one code path.
// Formatting follows RFC 5952 (lower case, longest zero run compressed) as Go's netip does.

export interface ParsedAddress {
  family: 4 | 6;
  value: bigint;
}

export interface ParsedPrefix extends ParsedAddress {
  /** Prefix length. */
  length: number;
  /** Address width: 32 or 128. */
  bits: 32 | 128;
}

const V4_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function parseV4(s: string): bigint | null {
  const m = V4_RE.exec(s);
  if (!m) return null;
  let v = 0n;
  for (let i = 1; i <= 4; i++) {
    const part = m[i]!;
    // Leading zeros are refused, as Go's netip does, to avoid octal ambiguity.
    if (part.length > 1 && part.startsWith('0')) return null;
    const n = Number(part);
    if (n > 255) return null;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

function parseV6(s: string): bigint | null {
  if (s.includes('%')) return null; // zones never occur in tailnet addresses
  let head = s;
  let tailV4: bigint | null = null;
  const lastColon = s.lastIndexOf(':');
  if (lastColon >= 0 && s.slice(lastColon + 1).includes('.')) {
    tailV4 = parseV4(s.slice(lastColon + 1));
    if (tailV4 === null) return null;
    head = s.slice(0, lastColon + 1) + '0:0';
  }
  const halves = head.split('::');
  if (halves.length > 2) return null;
  const parseGroups = (part: string): number[] | null => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const left = parseGroups(halves[0]!);
  const right = halves.length === 2 ? parseGroups(halves[1]!) : [];
  if (!left || !right) return null;
  let groups: number[];
  if (halves.length === 2) {
    const missing = 8 - left.length - right.length;
    if (missing < 1) return null;
    groups = [...left, ...new Array<number>(missing).fill(0), ...right];
  } else {
    groups = left;
  }
  if (groups.length !== 8) return null;
  let v = 0n;
  for (const g of groups) v = (v << 16n) | BigInt(g);
  if (tailV4 !== null) v = (v & ~0xffffffffn) | tailV4;
  return v;
}

/** Parses a bare IPv4 or IPv6 address; null when it is not one. */
export function parseAddress(s: string): ParsedAddress | null {
  if (s.includes(':')) {
    const v = parseV6(s);
    return v === null ? null : { family: 6, value: v };
  }
  const v = parseV4(s);
  return v === null ? null : { family: 4, value: v };
}

/** Parses "addr/len"; a bare address is taken as a single-address prefix. Throws on bad input. */
export function parsePrefix(s: string): ParsedPrefix {
  const slash = s.indexOf('/');
  const addrText = slash < 0 ? s : s.slice(0, slash);
  const addr = parseAddress(addrText);
  if (!addr) throw new Error(`invalid IP prefix ${JSON.stringify(s)}: bad address`);
  const bits = addr.family === 4 ? 32 : 128;
  let length = bits;
  if (slash >= 0) {
    const lenText = s.slice(slash + 1);
    if (!/^\d{1,3}$/.test(lenText) || Number(lenText) > bits) {
      throw new Error(`invalid IP prefix ${JSON.stringify(s)}: bad prefix length`);
    }
    length = Number(lenText);
  }
  return { ...addr, length, bits };
}

/** The prefix with host bits cleared. */
export function maskPrefix(p: ParsedPrefix): ParsedPrefix {
  const host = BigInt(p.bits - p.length);
  return { ...p, value: (p.value >> host) << host };
}

export function formatAddress(value: bigint, family: 4 | 6): string {
  if (family === 4) {
    return [24n, 16n, 8n, 0n].map((sh) => String((value >> sh) & 0xffn)).join('.');
  }
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((value >> BigInt(i * 16)) & 0xffffn));
  // RFC 5952: compress the longest run (first if tied) of two or more zero groups.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  const left = hex.slice(0, bestStart).join(':');
  const right = hex.slice(bestStart + bestLen).join(':');
  return `${left}::${right}`;
}

export function formatPrefix(p: { value: bigint; family: 4 | 6; length: number }): string {
  return `${formatAddress(p.value, p.family)}/${p.length}`;
}

/** Canonical text of an address ("FD7A::0001" → "fd7a::1"); null when invalid. */
export function canonicalAddress(s: string): string | null {
  const a = parseAddress(s);
  return a ? formatAddress(a.value, a.family) : null;
}

/** Whether prefix `p` contains address `a` (same family only). */
export function prefixContains(p: ParsedPrefix, a: ParsedAddress): boolean {
  if (p.family !== a.family) return false;
  const host = BigInt(p.bits - p.length);
  return a.value >> host === p.value >> host;
}

/** Whether prefix `inner` lies entirely inside prefix `outer`. */
export function prefixCovers(outer: ParsedPrefix, inner: ParsedPrefix): boolean {
  return outer.family === inner.family && outer.length <= inner.length && prefixContains(outer, inner);
}

/** "addr/32" or "addr/128" for a single address. */
export function hostPrefix(addr: string): string {
  const a = parseAddress(addr);
  if (!a) throw new Error(`invalid IP address ${JSON.stringify(addr)}`);
  return `${formatAddress(a.value, a.family)}/${a.family === 4 ? 32 : 128}`;
}

/** Whether `s` is a bare IPv4 or IPv6 address. */
export function isIP(s: string): boolean {
  return parseAddress(s) !== null;
}

/** Number of addresses in the prefix. */
export function prefixSize(p: ParsedPrefix): bigint {
  return 1n << BigInt(p.bits - p.length);
}

/**
 * Addresses of `p` in ascending order, from `from` (default: the network address).
 * Lazy, so that a /48 can be walked without materialising it.
 */
export function* prefixAddresses(p: ParsedPrefix, from?: bigint): Generator<bigint> {
  const first = maskPrefix(p).value;
  const last = first + prefixSize(p) - 1n;
  for (let v = from !== undefined && from > first ? from : first; v <= last; v++) yield v;
}

/** The 32 hex nibbles of an IPv6 address, most significant first (ip6.arpa names read them reversed). */
export function ipv6Nibbles(value: bigint): string[] {
  return value.toString(16).padStart(32, '0').split('');
}

export interface HostPort {
  /** Brackets removed; empty when the address binds every interface (":8080"). */
  host: string;
  port: number;
}

/** Go's net.SplitHostPort shapes ("h:p", "[v6]:p", ":p") with a numeric port; null when malformed. */
export function splitHostPort(s: string): HostPort | null {
  let host: string;
  let portText: string;
  if (s.startsWith('[')) {
    const end = s.indexOf(']');
    if (end < 0 || s[end + 1] !== ':') return null;
    host = s.slice(1, end);
    if (parseAddress(host)?.family !== 6) return null;
    portText = s.slice(end + 2);
  } else {
    const colon = s.lastIndexOf(':');
    if (colon < 0) return null;
    host = s.slice(0, colon);
    // An unbracketed host holding ':' would be an ambiguous IPv6 literal.
    if (host.includes(':')) return null;
    portText = s.slice(colon + 1);
    if (host !== '' && parseAddress(host) === null && !isHostname(host)) return null;
  }
  if (!/^\d{1,5}$/.test(portText)) return null;
  const port = Number(portText);
  return port > 65535 ? null : { host, port };
}

/** RFC 1123 host name: letters, digits and inner hyphens; labels ≤ 63, total ≤ 253; one trailing dot allowed. */
export function isHostname(s: string): boolean {
  const name = s.endsWith('.') ? s.slice(0, -1) : s;
  if (name.length === 0 || name.length > 253) return false;
  return name.split('.').every((l) => /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/.test(l));
}
