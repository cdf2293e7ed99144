// headscale's CLI prints its protobuf structs through Go's encoding/json and yaml.v3, not
// protojson, so `-o json` differs from the API's JSON: keys are the proto field names
// (snake_case) with every zero value left out (omitempty), uint64s and enums are numbers,
// Timestamps are {"seconds", "nanos"}, and an empty list is null. yaml.v3 ignores the json
// tags: its keys are the Go field names in lower case ("machinekey"), with every field kept.
// Scripts written against headscale parse exactly that, so this turns the API's protojson
// replies into the same.

type FieldType =
  | 'string'
  | 'bool'
  | 'uint64'
  | 'Timestamp'
  | { enum: readonly string[] }
  | { message: ProtoMessage }
  | { repeated: FieldType };

/** Fields in proto order, by proto name. */
export type ProtoMessage = readonly (readonly [string, FieldType])[];

const rep = (t: FieldType): FieldType => ({ repeated: t });
const msg = (m: ProtoMessage): FieldType => ({ message: m });

export const User: ProtoMessage = [
  ['id', 'uint64'],
  ['name', 'string'],
  ['created_at', 'Timestamp'],
  ['display_name', 'string'],
  ['email', 'string'],
  ['provider_id', 'string'],
  ['provider', 'string'],
  ['profile_pic_url', 'string'],
];

export const PreAuthKey: ProtoMessage = [
  ['user', msg(User)],
  ['id', 'uint64'],
  ['key', 'string'],
  ['reusable', 'bool'],
  ['ephemeral', 'bool'],
  ['used', 'bool'],
  ['expiration', 'Timestamp'],
  ['created_at', 'Timestamp'],
  ['acl_tags', rep('string')],
];

const REGISTER_METHODS = ['REGISTER_METHOD_UNSPECIFIED', 'REGISTER_METHOD_AUTH_KEY', 'REGISTER_METHOD_CLI', 'REGISTER_METHOD_OIDC'] as const;

export const Node: ProtoMessage = [
  ['id', 'uint64'],
  ['machine_key', 'string'],
  ['node_key', 'string'],
  ['disco_key', 'string'],
  ['ip_addresses', rep('string')],
  ['name', 'string'],
  ['user', msg(User)],
  ['last_seen', 'Timestamp'],
  ['expiry', 'Timestamp'],
  ['pre_auth_key', msg(PreAuthKey)],
  ['created_at', 'Timestamp'],
  ['register_method', { enum: REGISTER_METHODS }],
  ['given_name', 'string'],
  ['online', 'bool'],
  ['approved_routes', rep('string')],
  ['available_routes', rep('string')],
  ['subnet_routes', rep('string')],
  ['tags', rep('string')],
];

export const ApiKey: ProtoMessage = [
  ['id', 'uint64'],
  ['prefix', 'string'],
  ['expiration', 'Timestamp'],
  ['created_at', 'Timestamp'],
  ['last_seen', 'Timestamp'],
];

export const HealthResponse: ProtoMessage = [['database_connectivity', 'bool']];
export const BackfillNodeIPsResponse: ProtoMessage = [['changes', rep('string')]];
/** The empty replies (DeleteUserResponse, ExpireApiKeyResponse, …). */
export const Empty: ProtoMessage = [];

export type GoFormat = 'json' | 'yaml';

const camel = (protoName: string): string => protoName.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
/** yaml.v3's default key: the Go field name (CamelCase of the proto name) lower-cased. */
const yamlKey = (protoName: string): string => protoName.replace(/_/g, '').toLowerCase();

function timestamp(v: unknown, format: GoFormat): unknown {
  if (typeof v !== 'string') return null;
  const ms = Date.parse(v);
  if (Number.isNaN(ms)) return null;
  const frac = /\.(\d+)Z$/i.exec(v)?.[1] ?? '';
  const seconds = Math.floor(ms / 1000);
  const nanos = Number(frac.padEnd(9, '0').slice(0, 9) || '0');
  if (format === 'yaml') return { seconds, nanos };
  // timestamppb.Timestamp's own fields carry omitempty too.
  return { ...(seconds !== 0 ? { seconds } : {}), ...(nanos !== 0 ? { nanos } : {}) };
}

/** The value as Go would hold it; `undefined` means "zero" (left out of JSON). */
function field(v: unknown, t: FieldType, format: GoFormat): unknown {
  if (typeof t === 'string') {
    switch (t) {
      case 'string':
        return typeof v === 'string' && v !== '' ? v : format === 'yaml' ? '' : undefined;
      case 'bool':
        return v === true ? true : format === 'yaml' ? false : undefined;
      case 'uint64': {
        const n = typeof v === 'string' || typeof v === 'number' ? Number(v) : 0;
        return n !== 0 ? n : format === 'yaml' ? 0 : undefined;
      }
      case 'Timestamp':
        return v == null ? (format === 'yaml' ? null : undefined) : timestamp(v, format);
    }
  }
  if ('enum' in t) {
    const i = Math.max(0, t.enum.indexOf(String(v)));
    return i !== 0 ? i : format === 'yaml' ? 0 : undefined;
  }
  if ('repeated' in t) {
    // Elements keep their zero values (only fields have omitempty); the lists here are of strings or messages.
    const el = t.repeated;
    const items = Array.isArray(v) ? v.map((x) => (typeof el === 'object' && 'message' in el ? toGo(x as Record<string, unknown>, el.message, format) : x)) : [];
    if (items.length === 0) return format === 'yaml' ? [] : undefined;
    return items;
  }
  if (v == null || typeof v !== 'object') return format === 'yaml' ? null : undefined;
  return toGo(v as Record<string, unknown>, t.message, format);
}

/** One message (the API's protojson object) in headscale's CLI form. */
export function toGo(value: Record<string, unknown>, m: ProtoMessage, format: GoFormat): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, t] of m) {
    const raw = value[camel(name)] ?? value[name];
    const v = field(raw, t, format);
    if (v !== undefined) out[format === 'yaml' ? yamlKey(name) : name] = v;
  }
  return out;
}

/** A list of messages: a Go nil slice, so JSON `null` when empty (as headscale prints it), unless `emptyAsList`. */
export function toGoList(values: readonly Record<string, unknown>[], m: ProtoMessage, format: GoFormat, emptyAsList = false): unknown {
  if (values.length === 0) return format === 'json' && !emptyAsList ? null : [];
  return values.map((v) => toGo(v, m, format));
}
