// Port lists and protocol names as written in ACL destinations and grant "ip" fields.
import { fail } from './errors.js';

export interface PortRange {
  First: number;
  Last: number;
}

export const ALL_PORTS: PortRange = { First: 0, Last: 65535 };

function parseIntStrict(s: string): number | null {
  return /^\d+$/.test(s) ? Number(s) : null;
}

/** "*", "22", "80,443", "8000-8100" and combinations; Tailscale's wording on errors. */
export function parsePorts(spec: string): PortRange[] {
  if (spec === '*') return [{ ...ALL_PORTS }];
  const out: PortRange[] = [];
  for (const part of spec.split(',')) {
    if (part === '*') {
      out.push({ ...ALL_PORTS });
      continue;
    }
    const dash = part.indexOf('-');
    const firstS = dash < 0 ? part : part.slice(0, dash);
    const lastS = dash < 0 ? part : part.slice(dash + 1);
    const first = parseIntStrict(firstS);
    if (first === null || first > 65535) fail(`port range "${part}": invalid first integer`);
    const last = parseIntStrict(lastS);
    if (last === null || last > 65535) fail(`port range "${part}": invalid last integer`);
    if (first === 0) fail(`port range "${part}": first port must be >0, or use '*' for wildcard`);
    if (last < first) fail(`port range "${part}": last port must be >= first port`);
    out.push({ First: first, Last: last });
  }
  return out;
}

const PROTOS: Record<string, number> = {
  icmp: 1, igmp: 2, ipv4: 4, 'ip-in-ip': 4, tcp: 6, egp: 8, igp: 9, udp: 17,
  gre: 47, esp: 50, ah: 51, 'ipv6-icmp': 58, icmpv6: 58, sctp: 132,
};

/** Protocol by name or number. */
export function parseProto(s: string): number[] {
  const lower = s.toLowerCase();
  if (lower in PROTOS) return [PROTOS[lower]];
  const n = parseIntStrict(s);
  if (n === null || n > 255) fail(`proto "${s}": invalid protocol`);
  return [n];
}

/** Protocols a rule without "proto" matches: TCP, UDP, ICMP, ICMPv6. */
export const DEFAULT_PROTOS = [6, 17, 1, 58];
