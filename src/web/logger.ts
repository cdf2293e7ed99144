// Fastify's logger interface (pino's shape) over our Logger, so Fastify's own messages and
// our request lines land in the same stream, in the configured text or JSON form. Only
// primitive fields are printed, and never a request, response or headers object: Fastify
// would otherwise serialize whatever it was handed, Authorization header included.

import type { FastifyBaseLogger } from 'fastify';
import type { Logger } from '../util/log.js';

/** Fields that must never reach a log line, whatever a caller passes. */
const NEVER = new Set(['req', 'request', 'res', 'reply', 'headers', 'authorization', 'body', 'query', 'url']);

function field(k: string, v: unknown): string | null {
  if (NEVER.has(k)) return null;
  if (k === 'err' && v instanceof Error) return `err=${JSON.stringify(v.message)}`;
  if (typeof v === 'string') return /^[\w./:@-]*$/.test(v) ? `${k}=${v}` : `${k}=${JSON.stringify(v)}`;
  if (typeof v === 'number' || typeof v === 'boolean') return `${k}=${v}`;
  return null;
}

/** "msg k=v k=v", from pino's (obj, msg) or (msg) call forms. */
export function formatLogCall(args: unknown[], bindings: Record<string, unknown>): string {
  let msg = '';
  let obj: Record<string, unknown> = {};
  const [a, b] = args;
  if (typeof a === 'string') msg = a;
  else if (a instanceof Error) {
    msg = typeof b === 'string' ? b : a.message;
    obj = { err: a };
  } else if (a && typeof a === 'object') {
    obj = a as Record<string, unknown>;
    msg = typeof b === 'string' ? b : '';
  }
  const parts = [msg];
  for (const [k, v] of Object.entries({ ...obj, ...bindings })) {
    const f = field(k, v);
    if (f) parts.push(f);
  }
  return parts.filter(Boolean).join(' ');
}

export function fastifyLogger(log: Logger, bindings: Record<string, unknown> = {}): FastifyBaseLogger {
  const at =
    (emit: (m: string) => void) =>
    (...args: unknown[]) =>
      emit(formatLogCall(args, bindings));
  const logger = {
    level: 'trace',
    fatal: at(log.error),
    error: at(log.error),
    warn: at(log.warn),
    info: at(log.info),
    debug: at(log.debug),
    trace: at(log.trace),
    silent: () => {},
    // Request ids are Fastify's counter: noise on every line, so children add nothing.
    child: () => logger,
  };
  return logger as unknown as FastifyBaseLogger;
}
