import type { IncomingMessage, ServerResponse } from 'node:http';
import { formatMachinePublic, KEY_LEN } from '../noise/keys.js';

/**
 * tailcfg.OverTLSPublicKeyResponse: the answer to GET /key?v=N.
 * LegacyPublicKey was for the pre-Noise protocol we don't speak, so it is the
 * zero key; clients only use PublicKey for ts2021.
 */
export interface OverTLSPublicKeyResponse {
  legacyPublicKey: string;
  publicKey: string;
}

/** Capability version from which clients speak ts2021 and read the JSON form. */
export const NOISE_CAPABILITY_VERSION = 39;

const ZERO_MACHINE_KEY = formatMachinePublic(Buffer.alloc(KEY_LEN));

export function keyResponse(serverPublicKey: Uint8Array): OverTLSPublicKeyResponse {
  return { legacyPublicKey: ZERO_MACHINE_KEY, publicKey: formatMachinePublic(serverPublicKey) };
}

export type KeyRequestResult =
  | { status: 200; body: OverTLSPublicKeyResponse }
  | { status: 400 | 405; message: string };

/**
 * Decides the answer for /key given the method and the raw `v` query value.
 * Clients always send v=<capability version> (controlclient loadServerPubKeys);
 * a missing v is answered anyway since the JSON is harmless to tools like curl.
 */
export function answerKeyRequest(method: string, v: string | null, serverPublicKey: Uint8Array): KeyRequestResult {
  if (method !== 'GET' && method !== 'HEAD') {
    return { status: 405, message: `method ${method} not allowed on /key; use GET` };
  }
  if (v !== null && v !== '') {
    if (!/^\d{1,9}$/.test(v)) {
      return { status: 400, message: `invalid v parameter ${JSON.stringify(v.slice(0, 32))}: want the client's capability version, a non-negative integer` };
    }
    const version = Number(v);
    if (version < NOISE_CAPABILITY_VERSION) {
      return {
        status: 400,
        message: `capability version ${version} predates the Noise control protocol (needs ${NOISE_CAPABILITY_VERSION} or newer); please upgrade Tailscale`,
      };
    }
  }
  return { status: 200, body: keyResponse(serverPublicKey) };
}

/**
 * Node http handler for GET /key. Returns false (and writes nothing) when the
 * request is for another path, so it can sit in a chain of handlers.
 */
export function handleKeyRequest(req: IncomingMessage, res: ServerResponse, serverPublicKey: Uint8Array): boolean {
  const url = new URL(req.url ?? '/', 'http://unused');
  if (url.pathname !== '/key') return false;
  const answer = answerKeyRequest(req.method ?? 'GET', url.searchParams.get('v'), serverPublicKey);
  if (answer.status === 200) {
    const body = JSON.stringify(answer.body);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
  } else {
    const body = answer.message + '\n';
    const headers: Record<string, string | number> = { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) };
    if (answer.status === 405) headers.Allow = 'GET, HEAD';
    res.writeHead(answer.status, headers);
    res.end(body);
  }
  return true;
}
