// The API's route table: patterns like "/api/v1/node/:id/rename/:name" with their schemas.
// Fastify serves them; the table also answers, for a path Fastify did not match, which
// methods it supports, so a wrong method gets 405 instead of 404.

import type { FastifyRequest } from 'fastify';
import { badRequest } from './errors.js';
import { Input, parseId } from './input.js';
import type { RouteSchema } from './schemas.js';

export interface RouteContext {
  req: FastifyRequest;
  params: Record<string, string>;
  query: Input;
  /** Parses the JSON body on demand, so routes without one never read it. */
  body(): Promise<Input>;
  /** A path parameter that must be an id (`what` names it in the error). */
  idParam(name: string): number;
}

export type RouteFn = (ctx: RouteContext) => Promise<unknown>;

export interface Route {
  method: string;
  pattern: string;
  segments: string[];
  fn: RouteFn;
  schema: RouteSchema;
}

export type RouteMatch =
  | { kind: 'found'; fn: RouteFn; params: Record<string, string> }
  | { kind: 'wrongMethod'; allowed: string[] }
  | { kind: 'none' };

export class Router {
  private readonly routes: Route[] = [];

  add(method: string, pattern: string, schema: RouteSchema, fn: RouteFn): void {
    this.routes.push({ method, pattern, segments: pattern.split('/').filter(Boolean), fn, schema });
  }

  all(): readonly Route[] {
    return this.routes;
  }

  match(method: string, pathname: string): RouteMatch {
    const parts = pathname.split('/').filter(Boolean);
    const allowed: string[] = [];
    let best: { route: Route; params: Record<string, string>; literal: number } | null = null;
    for (const route of this.routes) {
      const params = matchSegments(route.segments, parts);
      if (!params) continue;
      if (route.method !== method) {
        allowed.push(route.method);
        continue;
      }
      // Prefer literal segments over parameters ("/node/register" over "/node/:id").
      const literal = route.segments.filter((s) => !s.startsWith(':')).length;
      if (!best || literal > best.literal) best = { route, params, literal };
    }
    if (best) return { kind: 'found', fn: best.route.fn, params: best.params };
    if (allowed.length > 0) return { kind: 'wrongMethod', allowed: [...new Set(allowed)] };
    return { kind: 'none' };
  }
}

function matchSegments(pattern: string[], parts: string[]): Record<string, string> | null {
  if (pattern.length !== parts.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    const part = parts[i]!;
    if (p.startsWith(':')) {
      let value: string;
      try {
        value = decodeURIComponent(part);
      } catch {
        throw badRequest(`path parameter "${p.slice(1)}" is not valid percent-encoding`);
      }
      params[p.slice(1)] = value;
    } else if (p !== part) {
      return null;
    }
  }
  return params;
}

export function makeContext(req: FastifyRequest): RouteContext {
  const params = (req.params ?? {}) as Record<string, string>;
  const q = req.url.indexOf('?');
  // Parsed from the raw URL so repeated keys stay lists, as grpc-gateway reads them.
  const query = Input.fromQuery(new URLSearchParams(q < 0 ? '' : req.url.slice(q + 1)));
  return {
    req,
    params,
    query,
    body: async () => Input.fromObject(req.body),
    idParam: (name) => parseId(params[name], `path parameter "${name}"`),
  };
}
