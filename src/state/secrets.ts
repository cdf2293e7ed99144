// Secret tokens (pre-auth keys, API keys): "<kind>-<prefix>-<secret>". Only the prefix
// and a sha256 of the whole token are stored; lookups go by prefix and compare the
// hash in constant time.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

function randomToken(length: number): string {
  // Rejection sampling keeps the distribution uniform over the 62 symbols.
  let out = '';
  while (out.length < length) {
    for (const b of randomBytes(length * 2)) {
      if (b < 248 && out.length < length) out += ALPHABET[b % 62];
    }
  }
  return out;
}

export interface NewSecret {
  token: string;
  prefix: string;
  hash: string;
}

export function newSecret(kind: string): NewSecret {
  const prefix = randomToken(12);
  const secret = randomToken(64);
  const token = `${kind}-${prefix}-${secret}`;
  return { token, prefix, hash: hashSecret(token) };
}

export function hashSecret(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Extracts the lookup prefix from a token of the given kind; null when malformed. */
export function secretPrefix(kind: string, token: string): string | null {
  const head = `${kind}-`;
  if (!token.startsWith(head)) return null;
  const rest = token.slice(head.length);
  const dash = rest.indexOf('-');
  if (dash !== 12 || rest.length !== 12 + 1 + 64) return null;
  return rest.slice(0, 12);
}

export function secretMatches(token: string, storedHash: string): boolean {
  const a = Buffer.from(hashSecret(token), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}
