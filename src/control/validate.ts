// Validation of request bodies from clients: every problem names the field.

export class BadRequest extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BadRequest';
  }
}

const KEY_RE = /^[0-9a-f]{64}$/;

/** Checks "<prefix>:<64 lower-case hex>" and returns it; throws naming `field`. */
export function requireKey(value: unknown, prefix: string, field: string, optional = false): string {
  if (optional && (value === undefined || value === null || value === '')) return '';
  if (typeof value !== 'string') throw new BadRequest(`${field}: expected a string "${prefix}:<64 hex digits>"`);
  if (!value.startsWith(`${prefix}:`) || !KEY_RE.test(value.slice(prefix.length + 1))) {
    throw new BadRequest(`${field}: ${JSON.stringify(value.slice(0, 80))} is not a ${prefix} key ("${prefix}:" and 64 hex digits)`);
  }
  return value;
}

export function isZeroKey(k: string): boolean {
  return /:0{64}$/.test(k);
}

export function zeroKey(prefix: string): string {
  return `${prefix}:${'0'.repeat(64)}`;
}

export function parseJsonBody(body: Buffer, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new BadRequest(`${what}: malformed JSON: ${(err as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new BadRequest(`${what}: expected a JSON object`);
  return v as Record<string, unknown>;
}

export function optionalObject(v: unknown, field: string): Record<string, unknown> | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'object' || Array.isArray(v)) throw new BadRequest(`${field}: expected an object`);
  return v as Record<string, unknown>;
}

export function optionalBool(v: unknown, field: string): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw new BadRequest(`${field}: expected true or false`);
  return v;
}

export function optionalString(v: unknown, field: string): string {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new BadRequest(`${field}: expected a string`);
  return v;
}

export function optionalStringList(v: unknown, field: string): string[] | null {
  if (v === undefined || v === null) return null;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new BadRequest(`${field}: expected a list of strings`);
  return v as string[];
}

/** Go's time.Time JSON: RFC 3339, or the zero time. Returns null for zero/absent. */
export function optionalTime(v: unknown, field: string): Date | null {
  if (v === undefined || v === null || v === '') return null;
  if (typeof v !== 'string') throw new BadRequest(`${field}: expected an RFC 3339 time`);
  if (v.startsWith('0001-01-01T00:00:00')) return null;
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw new BadRequest(`${field}: ${JSON.stringify(v)} is not an RFC 3339 time`);
  return d;
}
