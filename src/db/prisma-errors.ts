// Turns Prisma's errors (which differ between the SQLite and PostgreSQL adapters) into
// StoreErrors whose message names the record and the field at fault.

import { StoreError } from './errors.js';

// Unique columns, as "<table>.<column>", in words.
const UNIQUE_FIELDS: Record<string, string> = {
  'users.name': 'user name',
  'nodes.machine_key': 'machine key',
  'nodes.node_key': 'node key',
  'nodes.ipv4': 'IPv4 address',
  'nodes.ipv6': 'IPv6 address',
  'nodes.given_name': 'given name',
  'pre_auth_keys.hash': 'key hash',
  'api_keys.prefix': 'prefix',
  'settings.key': 'key',
};

// Foreign keys by PostgreSQL constraint name (SQLite does not say which one failed).
const REFERENCES: Record<string, string> = {
  pre_auth_keys_user_id_fkey: 'its user does not exist',
  nodes_user_id_fkey: 'its user does not exist',
  nodes_auth_key_id_fkey: 'its pre-auth key does not exist',
};

interface AdapterCause {
  kind?: string;
  table?: string;
  originalMessage?: string;
  constraint?: { fields?: string[]; index?: string };
}

function adapterCause(e: unknown): AdapterCause {
  const meta = (e as { meta?: unknown }).meta as { driverAdapterError?: { cause?: AdapterCause } } | undefined;
  return meta?.driverAdapterError?.cause ?? {};
}

/** "users_name_key" on table users → "name"; SQLite reports the column itself. */
function uniqueColumn(cause: AdapterCause): string | undefined {
  const fields = cause.constraint?.fields;
  if (fields && fields.length > 0) return fields.join(', ');
  const index = cause.constraint?.index;
  if (index && cause.table && index.startsWith(`${cause.table}_`) && index.endsWith('_key')) {
    return index.slice(cause.table.length + 1, -'_key'.length);
  }
  return index;
}

/** Prisma prefixes its messages with an "Invalid `prisma.x.y()` invocation" banner. */
function lastLine(message: string): string {
  const lines = message.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines[lines.length - 1] ?? message;
}

/**
 * `what` names the record ("node 12", `user "odin"`); `deleting` says a foreign key failure
 * means the record is still referenced rather than that it refers to something missing.
 */
export function translateError(e: unknown, what: string, deleting = false): unknown {
  if (e instanceof StoreError) return e;
  if (!(e instanceof Error)) return e;
  const code = (e as { code?: unknown }).code;
  switch (code) {
    case 'P2002': {
      const cause = adapterCause(e);
      const column = uniqueColumn(cause);
      const known = cause.table && column ? UNIQUE_FIELDS[`${cause.table}.${column}`] : undefined;
      const field = known ?? `${cause.table ?? '?'}.${column ?? '?'} (unique)`;
      const at = cause.table && column ? `${cause.table}.${column}` : undefined;
      return new StoreError('conflict', `${what}: ${field} is already taken`, { cause: e, field: at });
    }
    case 'P2025':
      return new StoreError('not_found', `${what} not found`, { cause: e });
    case 'P2003': {
      if (deleting) return new StoreError('in_use', `${what} is still referenced by other records`, { cause: e });
      const index = adapterCause(e).constraint?.index;
      const why = (index && REFERENCES[index]) || 'it refers to a user or pre-auth key that does not exist';
      return new StoreError('invalid_reference', `${what}: ${why}`, { cause: e });
    }
    default:
      return new Error(`${what}: ${lastLine(e.message)}`, { cause: e });
  }
}
