// Port lists and protocol names as written in ACL destinations and grant "ip" fields.
import { fail, PolicyError } from './errors.js';

export interface PortRange {
  First: number;
  Last: number;
}

export const ALL_PORTS: PortRange = { First: 0, Last: 65535 };

/** A port number as Go's strconv.Atoi reads it (optional sign, decimal digits). */
function parsePort(s: string): number {
  if (!/^[+-]?\d+$/.test(s)) fail('invalid first integer');
  const n = Number(s);
  if (n < 0 || n > 65535) fail('port number out of range');
  return n;
}

/**
 * "*", "22", "80,443", "8000-8100" and combinations. Errors are bare (the caller prefixes
 * `port range "<spec>": `): a single port must be above 0, a range may start at 0.
 */
function parsePortList(spec: string): PortRange[] {
  if (spec === '*') return [{ ...ALL_PORTS }];
  const out: PortRange[] = [];
  for (const part of spec.split(',')) {
    if (part.includes('-')) {
      const ends = part.split('-').filter((x) => x !== '');
      if (ends.length !== 2) fail('invalid port range format');
      const first = parsePort(ends[0]);
      const last = parsePort(ends[1]);
      if (first > last) fail('invalid port range: first port is greater than last port');
      out.push({ First: first, Last: last });
    } else {
      const port = parsePort(part);
      if (port < 1) fail("first port must be >0, or use '*' for wildcard");
      out.push({ First: port, Last: port });
    }
  }
  return out;
}

/** Port list with Tailscale's `port range "<spec>": ...` wording on errors. */
export function parsePorts(spec: string): PortRange[] {
  try {
    return parsePortList(spec);
  } catch (e) {
    if (e instanceof PolicyError) fail(`port range "${spec}": ${e.message}`);
    throw e;
  }
}

/** IANA protocol names a policy may use in "proto" and in grant "ip" entries. */
export const PROTOS: Record<string, number> = {
  icmp: 1, igmp: 2, ipv4: 4, 'ip-in-ip': 4, tcp: 6, egp: 8, igp: 9, udp: 17,
  gre: 47, esp: 50, ah: 51, 'ipv6-icmp': 58, sctp: 132, fc: 133,
};

/** Protocol by name (any case) or decimal number 1-255 without leading zeros. */
export function parseProto(s: string): number[] {
  const lower = s.toLowerCase();
  if (lower in PROTOS) return [PROTOS[lower]];
  if (lower === '*') fail('proto name "*" not known; use protocol number 0-255 or protocol name (icmp, tcp, udp, etc.)');
  if (lower === '0' || (lower.length > 1 && lower[0] === '0')) fail(`leading 0 not permitted in protocol number: "${lower}"`);
  if (!/^[+-]?\d+$/.test(lower)) fail(`invalid protocol number: "${lower}" must be a known protocol name or valid protocol number 0-255`);
  const n = Number(lower);
  if (n < 0 || n > 255) fail(`protocol number out of range (0-255): ${n}`);
  return [n];
}

/** The IANA name of a protocol number when it has one (numbers are reported by name). */
export function protoName(n: number): string {
  return Object.entries(PROTOS).find(([, v]) => v === n)?.[0] ?? String(n);
}

/** Protocols whose rules may name specific ports; others take "*" only. */
export const PORT_PROTOS = [6, 17, 132];

/** Protocols a rule without "proto" matches: TCP, UDP, ICMP, ICMPv6. */
export const DEFAULT_PROTOS = [6, 17, 1, 58];
