// Reads request fields the way grpc-gateway does: JSON bodies use protojson rules (camelCase
// or the proto's snake_case names, int64 as number or decimal string, timestamps as RFC 3339,
// unknown fields ignored), query strings carry the same fields as text. Every refusal is a
// 400 naming the field, so a client can tell what to fix.

import { badRequest } from './errors.js';

/** Policies are the largest bodies we accept; anything past this is surely a mistake. */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;

/**
 * Parses a request body as protojson does: empty is {}, anything else must be a JSON
 * object. snake_case names become their camelCase twins, so the schemas and the routes
 * see one spelling, and null fields are left out (unset).
 */
export function parseJsonBody(text: string): Record<string, unknown> {
  if (text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw badRequest(`request body is not valid JSON: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw badRequest('request body must be a JSON object');
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    // protojson reads null as "unset": drop it, so schemas need not allow null everywhere.
    if (v === null) continue;
    const camel = k.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
    // The camelCase spelling wins when a client sends both.
    if (camel === k || !(camel in out)) out[camel] = v;
  }
  return out;
}

function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** Field accessors over a JSON object body or a query string. */
export class Input {
  private constructor(
    private readonly values: Record<string, unknown>,
    private readonly fromQuery: boolean,
  ) {}

  static fromJsonText(text: string): Input {
    return new Input(parseJsonBody(text), false);
  }

  /** A body Fastify already parsed with parseJsonBody (undefined when there was none). */
  static fromObject(body: unknown): Input {
    if (body === undefined || body === null) return new Input({}, false);
    if (typeof body !== 'object' || Array.isArray(body)) throw badRequest('request body must be a JSON object');
    return new Input(body as Record<string, unknown>, false);
  }

  static fromQuery(params: URLSearchParams): Input {
    const values: Record<string, unknown> = {};
    for (const key of new Set(params.keys())) {
      const all = params.getAll(key);
      values[key] = all.length === 1 ? all[0] : all;
    }
    return new Input(values, true);
  }

  /** The raw value under the camelCase name or its snake_case twin; undefined when absent or null. */
  private raw(name: string): unknown {
    const v = name in this.values ? this.values[name] : this.values[snakeCase(name)];
    return v === null ? undefined : v;
  }

  has(name: string): boolean {
    return this.raw(name) !== undefined;
  }

  /** A field that may be a number or a string (e.g. a user given by id or by name). */
  rawScalar(name: string): string | number {
    const v = this.raw(name);
    if (typeof v === 'number' || typeof v === 'string') return v;
    throw badRequest(`field "${name}" must be a string or a number`);
  }

  string(name: string): string | undefined {
    const v = this.raw(name);
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw badRequest(`field "${name}" must be a string`);
    return v;
  }

  requiredString(name: string): string {
    const v = this.string(name);
    if (v === undefined || v === '') throw badRequest(`field "${name}" is required`);
    return v;
  }

  bool(name: string): boolean | undefined {
    const v = this.raw(name);
    if (v === undefined) return undefined;
    if (typeof v === 'boolean') return v;
    if (this.fromQuery && typeof v === 'string') {
      if (v === 'true' || v === '1') return true;
      if (v === 'false' || v === '0' || v === '') return false;
    }
    throw badRequest(`field "${name}" must be a boolean`);
  }

  /** A uint64 id; protojson sends these as decimal strings but numbers are accepted too. 0 means unset. */
  id(name: string): number | undefined {
    const v = this.raw(name);
    if (v === undefined) return undefined;
    return parseId(v, `field "${name}"`);
  }

  strings(name: string): string[] | undefined {
    const v = this.raw(name);
    if (v === undefined) return undefined;
    if (this.fromQuery && typeof v === 'string') return [v];
    if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) {
      throw badRequest(`field "${name}" must be an array of strings`);
    }
    return v as string[];
  }

  timestamp(name: string): Date | undefined {
    const v = this.raw(name);
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw badRequest(`field "${name}" must be an RFC 3339 timestamp string`);
    return parseTimestamp(v, `field "${name}"`);
  }
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

export function parseTimestamp(text: string, what: string): Date {
  const d = new Date(text);
  if (!RFC3339.test(text) || Number.isNaN(d.getTime())) {
    throw badRequest(`${what} must be an RFC 3339 timestamp like 2025-01-31T12:00:00Z, got ${JSON.stringify(text)}`);
  }
  return d;
}

/** Parses an id given as a number or a decimal string; 0 is returned as-is (proto's "unset"). */
export function parseId(v: unknown, what: string): number {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  if (typeof v === 'string' && /^\d{1,15}$/.test(v)) return Number(v);
  throw badRequest(`${what} must be a non-negative integer id, got ${JSON.stringify(v)}`);
}
