// Errors the REST API reports, in grpc-gateway's body shape ({code, message, details})
// so clients written against headscale can parse them unchanged.

import { AdminError } from '../state/admin.js';
import { MAX_BODY_BYTES } from './input.js';
import { validationMessage } from './validation.js';

/** An error the API reports with a specific HTTP status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** A request the client got wrong; the message names the offending field. */
export function badRequest(message: string): ApiError {
  return new ApiError(400, message);
}

// grpc status codes grpc-gateway would have mapped to these HTTP statuses.
const GRPC_CODE_BY_STATUS: Record<number, number> = {
  400: 3, // INVALID_ARGUMENT
  401: 16, // UNAUTHENTICATED
  403: 7, // PERMISSION_DENIED
  404: 5, // NOT_FOUND
  405: 12, // UNIMPLEMENTED (grpc-gateway answers 501 for unknown methods; we keep 405 for clarity)
  409: 6, // ALREADY_EXISTS
  413: 8, // RESOURCE_EXHAUSTED
  500: 13, // INTERNAL
  501: 12, // UNIMPLEMENTED
  503: 14, // UNAVAILABLE
};

export function grpcCodeFor(status: number): number {
  return GRPC_CODE_BY_STATUS[status] ?? 2; // UNKNOWN
}

export interface ErrorBody {
  code: number;
  message: string;
  details: unknown[];
}

export function errorBody(status: number, message: string): ErrorBody {
  return { code: grpcCodeFor(status), message, details: [] };
}

/** Fastify's own errors that we re-word: status and what to tell the client. */
function fastifyError(err: { code?: string; statusCode?: number; message: string }): ApiError | null {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError(413, `request body is larger than ${MAX_BODY_BYTES} bytes`);
    case 'FST_ERR_BAD_URL':
      return badRequest('path parameter is not valid percent-encoding');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return badRequest('request body length does not match Content-Length');
  }
  return null;
}

/**
 * Turns anything thrown by a route into the error to report. Unexpected errors become 500
 * with a generic message; their detail goes to the log only, since it may describe internals.
 */
export function thrownToError(err: unknown, log: (msg: string) => void): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof AdminError) return new ApiError(err.status, err.message);
  const e = err as { code?: string; statusCode?: number; message: string; validation?: unknown };
  if (e && typeof e === 'object') {
    if (e.validation) return badRequest(validationMessage(e as Parameters<typeof validationMessage>[0]));
    const known = fastifyError(e);
    if (known) return known;
    if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) return new ApiError(e.statusCode, e.message);
  }
  log(`api: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  return new ApiError(500, 'internal server error');
}
