// Canonical spelling of IP prefixes as Go's netip.Prefix prints them.

import { formatPrefix, maskPrefix, parsePrefix } from './netaddr.js';

/** "10.1.2.3/16" → "10.1.0.0/16"; null when not a prefix. */
export function canonicalPrefix(s: string): string | null {
  try {
    if (!s.includes('/')) return null;
    return formatPrefix(maskPrefix(parsePrefix(s)));
  } catch {
    return null;
  }
}
