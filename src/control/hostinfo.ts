// Bounds on a client's Hostinfo. The server stores it and sends it to every peer that
// may see the node, so one oversized request would cost its size times the peer count
// in memory and bandwidth. The bounds sit far above what any real client sends (a
// stock tailscaled's Hostinfo is 1-8 KB: a few SSH host keys, its listening services,
// DERP latencies), and every refusal names the field and its bound.

import type { Hostinfo } from '../tailcfg/types.js';
import { BadRequest } from './validate.js';

/** The whole Hostinfo as JSON. */
export const MAX_HOSTINFO_BYTES = 64 * 1024;
/** Any string field not listed in STRING_LIMITS. */
const DEFAULT_STRING_CHARS = 256;

const STRING_LIMITS: Record<string, number> = {
  Hostname: 256,
  OSVersion: 256,
  // Push tokens (APNs, FCM) run to a few hundred characters.
  PushDeviceToken: 4096,
  ServicesHash: 128,
};

/** field → [most entries, longest entry in characters] */
const LIST_LIMITS: Record<string, [number, number]> = {
  RoutableIPs: [1024, 64],
  RequestTags: [64, 256],
  WoLMACs: [32, 64],
  // An RSA-4096 host key in authorized_keys form is about 740 characters.
  SSH_HostKeys: [16, 4096],
};

const MAX_SERVICES = 1024;
const MAX_DERP_LATENCY_ENTRIES = 512;

const bad = (field: string, problem: string): never => {
  throw new BadRequest(`${field}: ${problem}`);
};

function checkList(v: unknown, field: string, [maxEntries, maxChars]: [number, number]): void {
  if (v === undefined || v === null) return;
  if (!Array.isArray(v)) bad(field, 'expected a list');
  const list = v as unknown[];
  if (list.length > maxEntries) bad(field, `${list.length} entries, at most ${maxEntries}`);
  list.forEach((x, i) => {
    if (typeof x !== 'string') bad(`${field}[${i}]`, 'expected a string');
    else if (x.length > maxChars) bad(`${field}[${i}]`, `${x.length} characters, at most ${maxChars}`);
  });
}

/** Checks a Hostinfo from a request body and returns it; null when absent. */
export function checkHostinfo(v: unknown, field = 'Hostinfo'): Hostinfo | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'object' || Array.isArray(v)) bad(field, 'expected an object');
  const h = v as Record<string, unknown>;
  const bytes = Buffer.byteLength(JSON.stringify(h));
  if (bytes > MAX_HOSTINFO_BYTES) bad(field, `${bytes} bytes of JSON, at most ${MAX_HOSTINFO_BYTES}`);
  for (const [key, value] of Object.entries(h)) {
    const f = `${field}.${key}`;
    if (typeof value === 'string') {
      const max = STRING_LIMITS[key] ?? DEFAULT_STRING_CHARS;
      if (value.length > max) bad(f, `${value.length} characters, at most ${max}`);
    } else if (key in LIST_LIMITS) {
      checkList(value, f, LIST_LIMITS[key]!);
    } else if (key === 'Services' && value !== null && value !== undefined) {
      if (!Array.isArray(value)) bad(f, 'expected a list');
      const services = value as unknown[];
      if (services.length > MAX_SERVICES) bad(f, `${services.length} entries, at most ${MAX_SERVICES}`);
      services.forEach((s, i) => {
        if (typeof s !== 'object' || s === null || Array.isArray(s)) return bad(`${f}[${i}]`, 'expected an object');
        const d = (s as Record<string, unknown>).Description;
        if (typeof d === 'string' && d.length > DEFAULT_STRING_CHARS) bad(`${f}[${i}].Description`, `${d.length} characters, at most ${DEFAULT_STRING_CHARS}`);
      });
    } else if (key === 'NetInfo' && value !== null && value !== undefined) {
      if (typeof value !== 'object' || Array.isArray(value)) bad(f, 'expected an object');
      const lat = (value as Record<string, unknown>).DERPLatency;
      if (lat && typeof lat === 'object' && Object.keys(lat).length > MAX_DERP_LATENCY_ENTRIES) {
        bad(`${f}.DERPLatency`, `${Object.keys(lat).length} entries, at most ${MAX_DERP_LATENCY_ENTRIES}`);
      }
    }
  }
  return h as Hostinfo;
}

/** Endpoints a client reports (ip:port candidates for direct connections). */
export const MAX_ENDPOINTS = 128;
