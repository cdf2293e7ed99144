// One Fastify instance with the options every listener of ours shares: our logger, one
// request line per request with secrets redacted, and plain-text 404s. The listeners
// (server_url's, the unix socket's, metrics_listen_addr's) each get their own instance.

import type http from 'node:http';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { errorBody } from '../api/errors.js';
import { isApiPath } from '../api/handler.js';
import type { Logger } from '../util/log.js';
import { fastifyLogger } from './logger.js';
import { redactUrl } from './redact.js';

export interface AppOptions {
  log: Logger;
  /** Which listener this is, for the request log ("control", "socket", "metrics"). */
  name: string;
  /** Called once per finished request, e.g. to observe a duration histogram. */
  onRequestDone?: (route: string, method: string, status: number, seconds: number) => void;
  bodyLimit?: number;
}

/** Routes Fastify did not match are counted under this name rather than their path. */
export const UNMATCHED_ROUTE = 'unmatched';

export function createApp(opts: AppOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: fastifyLogger(opts.log),
    // Fastify's own request lines print the full URL; ours below redact it.
    logController: new LogController({ disableRequestLogging: true }),
    routerOptions: {
      // The old hand-written router ignored empty segments; keep "/api/v1/node/" working.
      ignoreTrailingSlash: true,
      ignoreDuplicateSlashes: true,
      // Node names travel in paths; Fastify's 100 characters is too tight for them.
      maxParamLength: 512,
    },
    bodyLimit: opts.bodyLimit ?? 1 << 20,
    // node:http's own defaults, which these listeners had before Fastify (Fastify's are 72 s
    // and none): idle keep-alive sockets of thousands of clients should not linger.
    keepAliveTimeout: 5_000,
    requestTimeout: 300_000,
    return503OnClosing: false,
    forceCloseConnections: true,
    // Fastify refuses a URL it cannot decode before routing; say so in the API's shape there.
    frameworkErrors: (err, req, res) => {
      const reply = res as unknown as FastifyReply;
      const message = err.code === 'FST_ERR_BAD_URL' ? 'the request path is not valid percent-encoding' : 'bad request';
      if (isApiPath(req.url)) void reply.code(400).type('application/json').send(errorBody(400, message));
      else void reply.code(400).type('text/plain; charset=utf-8').send(message + '\n');
    },
    // A malformed request line just drops the connection, as before.
    clientErrorHandler: (_err, socket) => socket.destroy(),
    // protojson types are unions (an id is a string or a number); nothing is coerced or dropped.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false, allowUnionTypes: true } },
  });
  // Routes outside the API take no body: drain whatever comes, of any type, as node:http
  // did, instead of Fastify's 415 or a JSON parse error. The API installs its own parser.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, payload, done) => {
    payload.on('error', (err) => done(err, undefined));
    payload.on('end', () => done(null, undefined));
    payload.resume();
  });
  app.addHook('onResponse', (req, reply, done) => {
    const seconds = reply.elapsedTime / 1000;
    const route = req.routeOptions.url ?? UNMATCHED_ROUTE;
    opts.onRequestDone?.(route, req.method, reply.statusCode, seconds);
    req.log.debug(`${opts.name}: ${req.method} ${redactUrl(req.url)} ${reply.statusCode} ${(seconds * 1000).toFixed(1)}ms`);
    done();
  });
  return app;
}

type Handler = (req: FastifyRequest, reply: FastifyReply) => Promise<void>;

/**
 * Mounts a node:http-style handler (e.g. the DERP server's `/derp/probe`, `/generate_204`):
 * Fastify steps aside and the handler owns the response.
 */
export function rawRoute(
  app: FastifyInstance,
  method: 'GET' | 'HEAD' | 'POST' | Array<'GET' | 'HEAD' | 'POST'>,
  url: string,
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void,
): void {
  app.route({
    method,
    url,
    handler: (req, reply) => {
      reply.hijack();
      handler(req.raw, reply.raw);
    },
  });
}

/**
 * Plain-text 404s (or `other`'s answer), except under /api/v1 where the API answers in its
 * JSON error shape.
 */
export function setNotFound(app: FastifyInstance, api?: Handler, other?: Handler): void {
  app.setNotFoundHandler(async (req, reply) => {
    if (api && isApiPath(req.url)) return api(req, reply);
    if (other) return other(req, reply);
    await reply.code(404).type('text/plain; charset=utf-8').send('not found\n');
  });
}
