import { createPrivateKey, createPublicKey, diffieHellman, randomFillSync, type KeyObject } from 'node:crypto';
import { NoiseError } from './errors.js';

export const KEY_LEN = 32;

/** An X25519 key pair as raw 32-byte strings (the form Tailscale puts on the wire). */
export interface KeyPair {
  readonly privateKey: Buffer;
  readonly publicKey: Buffer;
}

// JWK is by far the cheapest way into node:crypto from raw bytes (DER import
// is ~10x slower under OpenSSL 3). For a private key OpenSSL derives the public
// half from d and ignores x, but Node insists x is present, so we pass a
// placeholder; the RFC 7748 test in test/noise/keys.test.ts guards this.
const PLACEHOLDER_X = Buffer.alloc(KEY_LEN).toString('base64url');

function checkRaw(raw: Uint8Array, what: string): void {
  if (!(raw instanceof Uint8Array)) {
    throw new NoiseError('BAD_KEY', `${what} must be a byte array`);
  }
  if (raw.length !== KEY_LEN) {
    throw new NoiseError('BAD_KEY', `${what} must be ${KEY_LEN} bytes, got ${raw.length}`);
  }
}

const b64u = (raw: Uint8Array): string => Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64url');

export function privateKeyObject(raw: Uint8Array): KeyObject {
  checkRaw(raw, 'X25519 private key');
  return createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: b64u(raw), x: PLACEHOLDER_X }, format: 'jwk' });
}

export function publicKeyObject(raw: Uint8Array): KeyObject {
  checkRaw(raw, 'X25519 public key');
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: b64u(raw) }, format: 'jwk' });
}

/** Raw public key of a private KeyObject. */
export function publicOfKeyObject(priv: KeyObject): Buffer {
  const jwk = createPublicKey(priv).export({ format: 'jwk' });
  return Buffer.from(jwk.x as string, 'base64url');
}

export function publicFromPrivate(privateKey: Uint8Array): Buffer {
  return publicOfKeyObject(privateKeyObject(privateKey));
}

/**
 * A private key imported once for repeated use (the server's static key):
 * importing is the expensive part of each X25519 operation.
 */
export interface StaticKey {
  readonly privateKey: Buffer;
  readonly publicKey: Buffer;
  readonly keyObject: KeyObject;
}

/**
 * A peer's public key imported once for repeated use (a client's view of the
 * server key): saves the import on every handshake with the same server.
 */
export interface PublicKeyHandle {
  readonly publicKey: Buffer;
  readonly keyObject: KeyObject;
}

export function preparePublicKey(key: Uint8Array | PublicKeyHandle): PublicKeyHandle {
  if (!(key instanceof Uint8Array)) return key;
  return { publicKey: Buffer.from(key), keyObject: publicKeyObject(key) };
}

export function prepareStaticKey(key: Uint8Array | StaticKey): StaticKey {
  if (!(key instanceof Uint8Array)) return key;
  const keyObject = privateKeyObject(key);
  return { privateKey: Buffer.from(key), publicKey: publicOfKeyObject(keyObject), keyObject };
}

export function keyPairFromPrivate(privateKey: Uint8Array): KeyPair {
  return { privateKey: Buffer.from(privateKey), publicKey: publicFromPrivate(privateKey) };
}

// Every handshake needs fresh private keys (Noise ephemeral, NodeKeyChallenge).
// randomBytes(32) pays a native call and an allocation each time; filling a
// larger buffer once and handing out slices is several times cheaper. Each
// slice is copied out and wiped, so no key material lingers in the pool.
const RANDOM_POOL_SIZE = 64 * KEY_LEN;
const randomPool = Buffer.alloc(RANDOM_POOL_SIZE);
let randomPoolOff = RANDOM_POOL_SIZE;

function randomKeyBytes(): Buffer {
  if (randomPoolOff === RANDOM_POOL_SIZE) {
    randomFillSync(randomPool);
    randomPoolOff = 0;
  }
  // Own memory, not the shared Buffer pool, since this becomes a private key.
  const k = Buffer.allocUnsafeSlow(KEY_LEN);
  randomPool.copy(k, 0, randomPoolOff, randomPoolOff + KEY_LEN);
  randomPool.fill(0, randomPoolOff, randomPoolOff + KEY_LEN);
  randomPoolOff += KEY_LEN;
  return k;
}

/** Random private key, clamped the way Tailscale's key.NewMachine/NewNode do. */
export function generatePrivateKey(): Buffer {
  const k = randomKeyBytes();
  k[0] &= 248;
  k[31] = (k[31] & 127) | 64;
  return k;
}

export function generateKeyPair(): KeyPair {
  // No defensive copy: the fresh key belongs to the caller alone.
  const privateKey = generatePrivateKey();
  return { privateKey, publicKey: publicFromPrivate(privateKey) };
}

/**
 * X25519(priv, pub). Rejects an all-zero result (low-order peer point), as
 * golang.org/x/crypto/curve25519.X25519 does, so a peer can't force a known secret.
 */
export function x25519(privateKey: Uint8Array | KeyObject, publicKey: Uint8Array | KeyObject): Buffer {
  const priv = privateKey instanceof Uint8Array ? privateKeyObject(privateKey) : privateKey;
  const pub = publicKey instanceof Uint8Array ? publicKeyObject(publicKey) : publicKey;
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey: priv, publicKey: pub });
  } catch (err) {
    // OpenSSL refuses low-order points itself, before we see the zero output.
    throw new NoiseError('BAD_KEY', `X25519 failed: invalid or low-order public key (${(err as Error).message})`);
  }
  // OR of all bytes: no early exit, no closure per byte.
  let acc = 0;
  for (let i = 0; i < shared.length; i++) acc |= shared[i];
  if (acc === 0) {
    throw new NoiseError('BAD_KEY', 'X25519 produced an all-zero shared secret (low-order public key)');
  }
  return shared;
}

/** Text prefixes exactly as tailscale.com/types/key spells them. */
export const KEY_PREFIX = {
  machinePrivate: 'privkey:',
  nodePrivate: 'privkey:',
  machinePublic: 'mkey:',
  nodePublic: 'nodekey:',
  discoPublic: 'discokey:',
  challengePublic: 'chalpub:',
} as const;

export type KeyPrefix = (typeof KEY_PREFIX)[keyof typeof KEY_PREFIX];

export function formatKey(prefix: KeyPrefix, raw: Uint8Array): string {
  checkRaw(raw, `${prefix} key`);
  return prefix + Buffer.from(raw).toString('hex');
}

const HEX64 = /^[0-9a-fA-F]{64}$/;

/** Parses "<prefix><64 hex digits>", saying exactly what is wrong otherwise. */
export function parseKey(text: string, prefix: KeyPrefix): Buffer {
  if (typeof text !== 'string') {
    throw new NoiseError('BAD_KEY', `expected a ${prefix} key string, got ${typeof text}`);
  }
  if (!text.startsWith(prefix)) {
    const colon = text.indexOf(':');
    const got = colon > 0 && colon < 16 ? `prefix "${text.slice(0, colon + 1)}"` : 'no prefix';
    throw new NoiseError('BAD_KEY', `key must start with "${prefix}", got ${got}`);
  }
  const hex = text.slice(prefix.length);
  if (hex.length !== 2 * KEY_LEN) {
    throw new NoiseError('BAD_KEY', `${prefix} key must have ${2 * KEY_LEN} hex digits, got ${hex.length}`);
  }
  if (!HEX64.test(hex)) {
    throw new NoiseError('BAD_KEY', `${prefix} key contains a non-hex character`);
  }
  return Buffer.from(hex, 'hex');
}

export const formatMachinePublic = (raw: Uint8Array): string => formatKey(KEY_PREFIX.machinePublic, raw);
export const formatNodePublic = (raw: Uint8Array): string => formatKey(KEY_PREFIX.nodePublic, raw);
export const formatDiscoPublic = (raw: Uint8Array): string => formatKey(KEY_PREFIX.discoPublic, raw);
export const formatChallengePublic = (raw: Uint8Array): string => formatKey(KEY_PREFIX.challengePublic, raw);
export const formatPrivate = (raw: Uint8Array): string => formatKey(KEY_PREFIX.machinePrivate, raw);

export const parseMachinePublic = (text: string): Buffer => parseKey(text, KEY_PREFIX.machinePublic);
export const parseNodePublic = (text: string): Buffer => parseKey(text, KEY_PREFIX.nodePublic);
export const parseDiscoPublic = (text: string): Buffer => parseKey(text, KEY_PREFIX.discoPublic);
export const parseChallengePublic = (text: string): Buffer => parseKey(text, KEY_PREFIX.challengePublic);
export const parsePrivate = (text: string): Buffer => parseKey(text, KEY_PREFIX.machinePrivate);

/** Accepts either raw 32 bytes or the given text form. */
export function toRawKey(key: Uint8Array | string, prefix: KeyPrefix): Buffer {
  if (typeof key === 'string') return parseKey(key, prefix);
  checkRaw(key, `${prefix} key`);
  return Buffer.from(key);
}
