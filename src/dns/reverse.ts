// Reverse-DNS zones covering a tailnet prefix, for DNSConfig.Routes: with MagicDNS the
// client answers PTR queries for tailnet addresses itself, and these routes tell its OS
// resolver to send those zones to 100.100.100.100.
//
// Zones only exist on label boundaries (8 bits per in-addr.arpa label, 4 per ip6.arpa
// nibble), so a prefix whose length is not on a boundary becomes one zone per value of the
// partial label: 100.64.0.0/10 → 64.100 … 127.100.in-addr.arpa (64 zones), exactly what
// Tailscale and headscale send. On a boundary it is a single zone (100.64.0.0/16 →
// 64.100.in-addr.arpa), which covers the same addresses as headscale's 256 sub-zones.

import { ipv6Nibbles, maskPrefix, parsePrefix } from '../util/netaddr.js';

/** Zone names without trailing dot, in ascending address order. Throws on a bad prefix. */
export function reverseZones(prefix: string): string[] {
  const p = maskPrefix(parsePrefix(prefix));
  const labelBits = p.family === 4 ? 8 : 4;
  const whole = Math.floor(p.length / labelBits);
  const partialBits = p.length % labelBits;
  const suffix = p.family === 4 ? 'in-addr.arpa' : 'ip6.arpa';

  const labels: string[] =
    p.family === 4
      ? [24n, 16n, 8n, 0n].map((sh) => String(Number((p.value >> sh) & 0xffn)))
      : ipv6Nibbles(p.value);
  const fixed = labels.slice(0, whole).reverse();
  const zone = (extra: string[]) => [...extra, ...fixed, suffix].join('.');
  if (partialBits === 0) return [zone([])];

  // The partial label keeps its top `partialBits` bits from the prefix; the rest vary.
  const first = parseInt(labels[whole]!, p.family === 4 ? 10 : 16);
  const count = 1 << (labelBits - partialBits);
  const out: string[] = [];
  for (let v = first; v < first + count; v++) out.push(zone([p.family === 4 ? String(v) : v.toString(16)]));
  return out;
}
