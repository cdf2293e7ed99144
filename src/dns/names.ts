// MagicDNS names. A node's DNS label is derived from the hostname its client reports, the
// way Tailscale's dnsname.SanitizeHostname does it (which headscale uses for given names),
// so a node gets the same name here as under headscale.

/** Longest DNS label (RFC 1035). */
export const MAX_LABEL_LENGTH = 63;
/** Longest DNS name without the trailing dot. */
export const MAX_NAME_LENGTH = 253;
/** Used when nothing usable is left of a hostname (headscale's fallback too). */
export const FALLBACK_LABEL = 'node';

const isAlnum = (c: string) => /^[A-Za-z0-9]$/.test(c);
/** Characters that separate words; inside a name they become '-' rather than vanish. */
const SEPARATORS = new Set([' ', '.', '@', '_']);

/**
 * A valid DNS label for a hostname: common local suffixes (.local, .localdomain, .lan)
 * dropped, cut to 63 characters, leading/trailing non-alphanumerics removed, separators
 * turned into '-', anything else outside [a-z0-9-] dropped, lower-cased. Never empty:
 * returns "node" when nothing is left. Uniqueness (name, name-1, …) is the caller's job.
 */
export function sanitizeHostname(hostname: string): string {
  let h = hostname;
  for (const suffix of ['.local', '.localdomain', '.lan']) {
    if (h.endsWith(suffix)) h = h.slice(0, -suffix.length);
  }
  // Per UTF-16 unit like Tailscale works per byte: non-ASCII never survives either way.
  let start = 0;
  let end = Math.min(h.length, MAX_LABEL_LENGTH);
  while (start < end && !isAlnum(h[start]!)) start++;
  while (end > start && !isAlnum(h[end - 1]!)) end--;
  let out = '';
  for (let i = start; i < end; i++) {
    const c = h[i]!;
    const boundary = i === start || i === end - 1;
    if (!boundary && SEPARATORS.has(c)) out += '-';
    else if (isAlnum(c) || c === '-') out += c.toLowerCase();
  }
  // Dropped characters next to a hyphen can leave one at an end.
  out = out.replace(/^-+|-+$/g, '');
  return out === '' ? FALLBACK_LABEL : out;
}

/** Whether `label` is usable as a node's DNS label as is (what admins may rename to). */
export function isValidLabel(label: string): boolean {
  return label.length <= MAX_LABEL_LENGTH && /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(label);
}

/**
 * "<givenName>.<baseDomain>." — the node's FQDN as tailcfg.Node.Name carries it (trailing
 * dot included). Without a base domain the name is just "<givenName>.". Throws when the
 * result would exceed DNS's 253-character limit.
 */
export function magicDnsName(givenName: string, baseDomain: string): string {
  const base = baseDomain.replace(/^\.+|\.+$/g, '');
  const name = base === '' ? givenName : `${givenName}.${base}`;
  if (name.length > MAX_NAME_LENGTH) {
    throw new Error(`DNS name ${name} is longer than ${MAX_NAME_LENGTH} characters`);
  }
  return `${name}.`;
}
