// Secret tokens (pre-auth keys, API keys): "<kind>-<prefix>-<secret>". Only the prefix
// and a sha256 of the whole token are stored; lookups go by prefix and compare the
// hash in constant time. Keys imported from headscale keep headscale's hash of the secret
// part (see storedHash below) until their first use, which re-stores them our way.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import bcrypt from 'bcryptjs';

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

const PREFIX_LEN = 12;
const SECRET_LEN = 64;
/** headscale's prefixes and secrets are URL-safe base64, so '-' may occur inside them. */
const URL_SAFE = /^[A-Za-z0-9_-]+$/;

/** Extracts the lookup prefix from a token of the given kind; null when malformed. */
export function secretPrefix(kind: string, token: string): string | null {
  const head = `${kind}-`;
  if (!token.startsWith(head)) return null;
  // Fixed positions, not the first '-': a headscale prefix may contain one.
  const rest = token.slice(head.length);
  if (rest.length !== PREFIX_LEN + 1 + SECRET_LEN || rest[PREFIX_LEN] !== '-' || !URL_SAFE.test(rest)) return null;
  return rest.slice(0, PREFIX_LEN);
}

/**
 * Stored hash forms: 64 hex digits, sha256 of the whole token (ours); "bcrypt:<hash>",
 * headscale's bcrypt of the secret part; "$sha256$<hex>", newer headscale's sha256 of the
 * secret part; "none:…", a key headscale kept no usable hash of, which matches nothing.
 */
export const BCRYPT_MARK = 'bcrypt:';
const HS_SHA256_MARK = '$sha256$';
export const UNUSABLE_MARK = 'none:';

/** The part of a token headscale hashed: after "<kind>-<prefix>-", or after "<prefix>." (its oldest API keys). */
function headscaleSecret(token: string): string {
  const m = /^hskey-[a-z]+-[A-Za-z0-9_-]{12}-([A-Za-z0-9_-]{64})$/.exec(token);
  if (m) return m[1]!;
  const dot = token.indexOf('.');
  return dot >= 0 ? token.slice(dot + 1) : token;
}

function sameHex(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === 32 && x.length === y.length && timingSafeEqual(x, y);
}

export function secretMatches(token: string, storedHash: string): boolean {
  if (storedHash.startsWith(BCRYPT_MARK)) {
    // bcrypt compares in constant time; it is slow on purpose (tens of ms), and runs at
    // most until the key's first use re-stores it (isLegacyHash).
    try {
      return bcrypt.compareSync(headscaleSecret(token), storedHash.slice(BCRYPT_MARK.length));
    } catch {
      return false;
    }
  }
  if (storedHash.startsWith(HS_SHA256_MARK)) {
    const secret = createHash('sha256').update(headscaleSecret(token), 'utf8').digest('hex');
    return sameHex(secret, storedHash.slice(HS_SHA256_MARK.length));
  }
  if (storedHash.startsWith(UNUSABLE_MARK)) return false;
  return sameHex(hashSecret(token), storedHash);
}

/** True for a hash kept from headscale: after a successful check, store hashSecret(token) instead. */
export function isLegacyHash(storedHash: string): boolean {
  return storedHash.startsWith(BCRYPT_MARK) || storedHash.startsWith(HS_SHA256_MARK);
}

/**
 * headscale's oldest pre-auth keys are stored in plain text and have no prefix. Imported,
 * they are stored our way (sha256 of the whole key) under a prefix derived from that hash,
 * so a client presenting one is found without any plaintext kept.
 */
export function plaintextKeyPrefix(token: string): string {
  return hashSecret(token).slice(0, PREFIX_LEN);
}
