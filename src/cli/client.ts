// Talks to the server's /api/v1: over its unix socket (no key needed) or, when an address is
// configured, over HTTP(S) with an API key. Failures become CliError with a message that says
// what to check, never a stack trace.

import http from 'node:http';
import https from 'node:https';
import { CliError } from './errors.js';

export type Endpoint =
  | { kind: 'socket'; path: string }
  | { kind: 'remote'; url: URL; apiKey: string; insecure: boolean; timeoutMs?: number };

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
}

const DEFAULT_TIMEOUT_MS = 10_000;

export class ApiClient {
  constructor(
    readonly endpoint: Endpoint,
    private readonly timeoutMs = DEFAULT_TIMEOUT_MS,
  ) {}

  describe(): string {
    return this.endpoint.kind === 'socket' ? this.endpoint.path : this.endpoint.url.origin;
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) qs.set(k, String(v));
    const q = qs.toString();
    const fullPath = q ? `${path}?${q}` : path;
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }

    let res: { status: number; text: string };
    try {
      res = await this.send(method, fullPath, headers, payload);
    } catch (err) {
      throw this.unreachable(err);
    }
    let parsed: unknown;
    try {
      parsed = res.text === '' ? {} : JSON.parse(res.text);
    } catch {
      parsed = undefined;
    }
    if (res.status >= 200 && res.status < 300) {
      if (parsed === undefined) throw new CliError(`the server at ${this.describe()} sent a response that is not JSON`);
      return parsed as T;
    }
    const message =
      parsed && typeof parsed === 'object' && typeof (parsed as { message?: unknown }).message === 'string'
        ? (parsed as { message: string }).message
        : res.text.trim() || `HTTP ${res.status}`;
    if (res.status === 401) {
      throw new CliError(`the server refused the API key (${message}); check --api-key, SWITCHBOARD_CLI_API_KEY or cli.api_key`);
    }
    throw new ApiCallError(res.status, message);
  }

  private send(
    method: string,
    path: string,
    headers: Record<string, string>,
    payload: string | undefined,
  ): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const ep = this.endpoint;
      let req: http.ClientRequest;
      const onResponse = (res: http.IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      };
      if (ep.kind === 'socket') {
        req = http.request({ socketPath: ep.path, path, method, headers }, onResponse);
      } else {
        const base = ep.url.pathname.replace(/\/+$/, '');
        const h = { ...headers, authorization: `Bearer ${ep.apiKey}` };
        const opts = { method, headers: h, path: base + path };
        req =
          ep.url.protocol === 'https:'
            ? https.request(ep.url, { ...opts, rejectUnauthorized: !ep.insecure }, onResponse)
            : http.request(ep.url, opts, onResponse);
      }
      req.setTimeout(this.timeoutMs, () => req.destroy(new Error(`no answer within ${this.timeoutMs / 1000}s`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  private unreachable(err: unknown): CliError {
    const e = err as NodeJS.ErrnoException;
    const reason =
      e.code === 'ENOENT'
        ? 'the socket does not exist'
        : e.code === 'ECONNREFUSED'
          ? 'connection refused'
          : e.code === 'EACCES'
            ? 'permission denied (run as a user that may open the socket)'
            : (e.message ?? String(err));
    if (this.endpoint.kind === 'socket') {
      return new CliError(
        `cannot reach the Switchboard server at ${this.endpoint.path}: ${reason} (is \`switchboard serve\` running? see -c)`,
      );
    }
    return new CliError(
      `cannot reach the Switchboard server at ${this.endpoint.url.origin}: ${reason} (check --address, SWITCHBOARD_CLI_ADDRESS or cli.address)`,
    );
  }
}

/** The server answered with an error; `message` is its own explanation. */
export class ApiCallError extends CliError {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiCallError';
  }
}
