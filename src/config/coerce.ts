// Turning one raw value (from YAML/JSON, or an environment string) into the type its key
// declares. Errors carry the key path and where the value came from.

import { parseDuration } from '../util/duration.js';
import { ConfigError } from './errors.js';
import type { Leaf } from './schema.js';

/** Go's strconv.ParseBool spellings, which viper (and so headscale) accepts for booleans. */
const TRUE_WORDS = new Set(['1', 't', 'T', 'true', 'TRUE', 'True']);
const FALSE_WORDS = new Set(['0', 'f', 'F', 'false', 'FALSE', 'False']);

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Scalars that read naturally as text (viper turns numbers into strings too). */
function scalarText(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return null;
}

/**
 * The value for `leaf`, or undefined when `raw` is null (an empty YAML key means "use the
 * default"). `source` is the scalar as written in the file, when known; only file modes need
 * it, because YAML 1.2 reads 0770 as decimal 770.
 */
export function coerce(raw: unknown, leaf: Leaf, key: string, where?: string, source?: string): unknown {
  const fail = (problem: string): never => {
    throw new ConfigError(key, problem, where);
  };
  if (raw === null || raw === undefined) return leaf.kind === 'nullableString' ? null : undefined;

  switch (leaf.kind) {
    case 'string':
    case 'path': {
      const s = scalarText(raw);
      if (s === null) return fail(`expected a string, got ${describe(raw)}`);
      if (leaf.oneOf && !leaf.oneOf.includes(s)) {
        return fail(`${JSON.stringify(s)} is not one of ${leaf.oneOf.join(', ')}`);
      }
      return s;
    }
    case 'nullableString': {
      const s = scalarText(raw);
      if (s === null) return fail(`expected a string, got ${describe(raw)}`);
      return s.trim() === '' ? null : s.trim();
    }
    case 'bool': {
      if (typeof raw === 'boolean') return raw;
      if (typeof raw === 'string' && TRUE_WORDS.has(raw)) return true;
      if (typeof raw === 'string' && FALSE_WORDS.has(raw)) return false;
      return fail(`expected true or false, got ${describe(raw)}`);
    }
    case 'int':
    case 'optionalInt': {
      if (leaf.kind === 'optionalInt' && raw === '') return null;
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw) : NaN;
      if (!Number.isSafeInteger(n)) return fail(`expected an integer, got ${describe(raw)}`);
      if (leaf.min !== undefined && n < leaf.min) return fail(`${n} is below the minimum ${leaf.min}`);
      if (leaf.max !== undefined && n > leaf.max) return fail(`${n} is above the maximum ${leaf.max}`);
      return n;
    }
    case 'duration': {
      // A bare 0 is the only unitless duration Go accepts.
      const s = raw === 0 ? '0' : typeof raw === 'string' ? raw.trim() : null;
      if (s === null) return fail(`expected a duration such as "30m" or "24h", got ${describe(raw)}`);
      const ms = parseDuration(s);
      if (ms === null) return fail(`${JSON.stringify(s)} is not a duration (use units h, m, s, ms, d, e.g. "1h30m")`);
      if (ms < 0) return fail(`${JSON.stringify(s)} is negative`);
      return s;
    }
    case 'list': {
      if (!Array.isArray(raw)) return fail(`expected a list, got ${describe(raw)}`);
      return raw.map((item, i) => {
        const s = scalarText(item);
        if (s === null) throw new ConfigError(`${key}[${i}]`, `expected a string, got ${describe(item)}`, where);
        return s;
      });
    }
    case 'map': {
      if (!isPlainObject(raw)) return fail(`expected a mapping, got ${describe(raw)}`);
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(raw)) {
        const s = scalarText(v);
        if (s === null) throw new ConfigError(`${key}.${k}`, `expected a string, got ${describe(v)}`, where);
        out[k] = s;
      }
      return out;
    }
    case 'listMap': {
      if (!isPlainObject(raw)) return fail(`expected a mapping of names to lists, got ${describe(raw)}`);
      const out: Record<string, string[]> = {};
      for (const [k, v] of Object.entries(raw)) {
        const items = typeof v === 'string' ? [v] : v;
        if (!Array.isArray(items)) throw new ConfigError(`${key}.${k}`, `expected a list, got ${describe(v)}`, where);
        out[k] = items.map((item, i) => {
          const s = scalarText(item);
          if (s === null) throw new ConfigError(`${key}.${k}[${i}]`, `expected a string, got ${describe(item)}`, where);
          return s;
        });
      }
      return out;
    }
    case 'records': {
      if (!Array.isArray(raw)) return fail(`expected a list of {name, type, value}, got ${describe(raw)}`);
      return raw.map((item, i) => {
        const at = `${key}[${i}]`;
        if (!isPlainObject(item)) throw new ConfigError(at, `expected {name, type, value}, got ${describe(item)}`, where);
        for (const k of Object.keys(item)) {
          if (!['name', 'type', 'value'].includes(k)) throw new ConfigError(`${at}.${k}`, 'unknown field (expected name, type, value)', where);
        }
        const rec: Record<string, string> = {};
        for (const k of ['name', 'type', 'value']) {
          const s = scalarText(item[k]);
          if (s === null || s === '') throw new ConfigError(`${at}.${k}`, `expected a non-empty string, got ${describe(item[k])}`, where);
          rec[k] = s;
        }
        return rec;
      });
    }
    case 'fileMode': {
      const text = source ?? scalarText(raw);
      const m = text === null ? null : /^0?o?([0-7]{1,4})$/.exec(text.trim());
      if (!m) return fail(`expected an octal file mode such as "0770", got ${describe(raw)}`);
      return parseInt(m[1]!, 8);
    }
    case 'boolOrString': {
      if (typeof raw === 'boolean') return raw;
      if (typeof raw === 'string') {
        if (TRUE_WORDS.has(raw)) return true;
        if (FALSE_WORDS.has(raw)) return false;
        return raw;
      }
      return fail(`expected true, false or an sslmode string, got ${describe(raw)}`);
    }
  }
}

/**
 * An environment variable's text as the raw value YAML would have produced for `leaf`:
 * lists are comma-separated (or a JSON array), mappings and records are JSON.
 */
export function fromEnvText(text: string, leaf: Leaf, envName: string): unknown {
  switch (leaf.kind) {
    case 'list': {
      if (text.trim().startsWith('[')) return parseJson(text, envName);
      return text
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
    }
    case 'map':
    case 'listMap':
    case 'records':
      return text.trim() === '' ? (leaf.kind === 'records' ? [] : {}) : parseJson(text, envName);
    case 'int':
      return text.trim();
    default:
      return text;
  }
}

function parseJson(text: string, envName: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ConfigError(envName, `not valid JSON: ${(e as Error).message}`);
  }
}
