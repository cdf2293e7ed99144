// Column values as the two drivers return them, turned into what our records hold. SQLite
// gives numbers for integers and booleans, text for datetimes (Go's "2006-01-02
// 15:04:05.999999999-07:00"), Buffers for blobs; PostgreSQL gives booleans, Dates, Buffers
// and bigint ids as strings. Each reader throws a message naming the column; the mapper
// adds the table and row.

export class ValueError extends Error {}

export function int(v: unknown, col: string): number {
  const n = typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw new ValueError(`${col} is not an integer: ${JSON.stringify(String(v))}`);
  return n;
}

export function intOrNull(v: unknown, col: string): number | null {
  return v === null || v === undefined || v === '' ? null : int(v, col);
}

export function bool(v: unknown, col: string): boolean {
  if (v === null || v === undefined) return false;
  if (typeof v === 'boolean') return v;
  if (v === 0 || v === 1 || v === 0n || v === 1n) return Number(v) === 1;
  if (typeof v === 'string' && /^(true|false|t|f|0|1)$/i.test(v)) return /^(true|t|1)$/i.test(v);
  throw new ValueError(`${col} is not a boolean: ${JSON.stringify(String(v))}`);
}

export function text(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  return String(v);
}

const GO_TIME = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?\s*(Z|[+-]\d{2}:?\d{2})?(?: [A-Z]{3,5})?$/;

/** A datetime column; null for NULL and ''. Go's zero time (year 1) comes back as a Date in year 1. */
export function time(v: unknown, col: string): Date | null {
  if (v === null || v === undefined || v === '') return null;
  if (v instanceof Date) {
    if (Number.isNaN(v.getTime())) throw new ValueError(`${col} is not a valid time`);
    return v;
  }
  const s = text(v).trim();
  const m = GO_TIME.exec(s);
  if (!m) throw new ValueError(`${col} is not a time: ${JSON.stringify(s.slice(0, 40))}`);
  const [, y, mo, d, h, mi, sec, frac, zone] = m;
  const ms = frac ? Number(frac.slice(0, 3).padEnd(3, '0')) : 0;
  let offsetMin = 0;
  if (zone && zone !== 'Z') {
    const z = zone.replace(':', '');
    offsetMin = (z[0] === '-' ? -1 : 1) * (Number(z.slice(1, 3)) * 60 + Number(z.slice(3, 5)));
  }
  const date = new Date(0);
  date.setUTCFullYear(Number(y), Number(mo) - 1, Number(d));
  date.setUTCHours(Number(h), Number(mi), Number(sec), ms);
  return new Date(date.getTime() - offsetMin * 60_000);
}

/** Go writes a zero time.Time as year 1; headscale means "none" by it (its 202605221435 migration). */
export function isZeroTime(d: Date | null): boolean {
  return d !== null && d.getUTCFullYear() < 1900;
}

/** A JSON column; '' and NULL give `empty`. */
export function json(v: unknown, col: string, empty: unknown): unknown {
  const s = text(v).trim();
  if (s === '') return empty;
  try {
    return JSON.parse(s);
  } catch {
    throw new ValueError(`${col} holds invalid JSON: ${JSON.stringify(s.slice(0, 60))}`);
  }
}

/** A JSON list of strings; '', NULL and the JSON literal null (Go's nil slice) give []. */
export function stringList(v: unknown, col: string): string[] {
  const parsed = json(v, col, []);
  if (parsed === null) return [];
  if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'string')) {
    throw new ValueError(`${col} is not a JSON list of strings: ${JSON.stringify(text(v).slice(0, 60))}`);
  }
  return parsed;
}
