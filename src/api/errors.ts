// Errors the REST API reports, in grpc-gateway's body shape ({code, message, details})
// so clients written against headscale can parse them unchanged.

import type http from 'node:http';
import { AdminError } from '../state/admin.js';

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

export function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

export function sendError(res: http.ServerResponse, status: number, message: string): void {
  sendJson(res, status, { code: grpcCodeFor(status), message, details: [] });
}

/**
 * Turns anything thrown by a route into a response. Unexpected errors become 500 with a
 * generic message; their detail goes to the log only, since it may describe internals.
 */
export function sendThrown(res: http.ServerResponse, err: unknown, log: (msg: string) => void): void {
  if (err instanceof ApiError || err instanceof AdminError) {
    sendError(res, err.status, err.message);
    return;
  }
  log(`api: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  sendError(res, 500, 'internal server error');
}
