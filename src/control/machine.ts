// The HTTP/2 requests a client makes inside its Noise channel (/machine/*).
// One handler per Noise connection, so every request knows the machine key the
// handshake proved.

import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { MapAuthError, applyMapRequestUpdates, authorizeMapRequest, oneShotMap, openStream, parseMapRequest, type MapContext } from './map.js';
import { handleRegister, type RegisterContext } from './register.js';
import type { FrameSink } from './sessions.js';
import { BadRequest, parseJsonBody } from './validate.js';

/** Bodies from clients are small JSON documents; anything larger is refused. */
export const MAX_BODY_BYTES = 1 << 20;

export interface MachineContext extends MapContext, RegisterContext {}

export interface NoisePeer {
  machineKey: string;
  protocolVersion: number;
}

function readBody(req: Http2ServerRequest): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new BadRequest(`request body larger than ${MAX_BODY_BYTES} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function sendText(res: Http2ServerResponse, status: number, text: string): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(text + '\n');
}

function sendJson(res: Http2ServerResponse, status: number, body: unknown): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}

const NOT_IMPLEMENTED: Record<string, string> = {
  '/machine/set-dns': 'this server does not manage DNS records, so `tailscale cert` (ACME DNS-01) is not available',
  '/machine/set-device-attr': 'device attributes are not supported by this server',
  '/machine/id-token': 'this server does not issue OIDC ID tokens to nodes',
};

export function machineHandler(ctx: MachineContext, peer: NoisePeer) {
  return (req: Http2ServerRequest, res: Http2ServerResponse): void => {
    handle(ctx, peer, req, res).catch((err: unknown) => {
      if (err instanceof BadRequest) return sendText(res, 400, err.message);
      if (err instanceof MapAuthError) return sendText(res, 401, err.message);
      ctx.log(`${req.url}: ${(err as Error).stack ?? String(err)}`);
      sendText(res, 500, 'internal server error');
    });
  };
}

async function handle(ctx: MachineContext, peer: NoisePeer, req: Http2ServerRequest, res: Http2ServerResponse): Promise<void> {
  const path = (req.url ?? '').split('?')[0]!;
  if (path === '/machine/register' || path === '/machine/map') {
    if (req.method !== 'POST') return sendText(res, 405, `${path} takes POST`);
    const body = parseJsonBody(await readBody(req), path === '/machine/register' ? 'RegisterRequest' : 'MapRequest');
    if (path === '/machine/register') return sendJson(res, 200, await handleRegister(ctx, peer.machineKey, body));
    return handleMap(ctx, peer, body, res);
  }
  if (path === '/machine/update-health') {
    // Health reports are advisory: accept and note them.
    const body = parseJsonBody(await readBody(req), 'HealthChangeRequest');
    ctx.log(`health report from machine ${peer.machineKey.slice(0, 16)}…: ${JSON.stringify(body).slice(0, 200)}`);
    return sendText(res, 200, 'ok');
  }
  const missing = NOT_IMPLEMENTED[path];
  if (missing) {
    await readBody(req).catch(() => Buffer.alloc(0));
    return sendText(res, 501, missing);
  }
  sendText(res, 404, `unknown control endpoint ${path}`);
}

async function handleMap(ctx: MachineContext, peer: NoisePeer, body: Record<string, unknown>, res: Http2ServerResponse): Promise<void> {
  const mreq = parseMapRequest(body);
  const node = await applyMapRequestUpdates(ctx, authorizeMapRequest(ctx.tailnet, peer.machineKey, mreq), mreq);
  ctx.metrics.mapRequests.inc({ kind: mreq.stream ? 'stream' : mreq.omitPeers ? 'lite' : 'oneshot' });
  if (!mreq.stream && mreq.omitPeers) return sendText(res, 200, '');
  if (!mreq.stream) {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    res.end(oneShotMap(ctx, node, mreq));
    return;
  }
  res.writeHead(200, { 'content-type': 'application/octet-stream' });
  const sink: FrameSink = {
    write: (frame) => {
      ctx.metrics.mapFrames.inc();
      ctx.metrics.mapBytes.inc({}, frame.length);
      return res.write(frame);
    },
    buffered: () => res.stream.writableLength + (res.stream.session?.socket?.writableLength ?? 0),
    close: () => {
      if (!res.writableEnded) res.end();
    },
  };
  const session = openStream(ctx, node, mreq, sink);
  res.on('close', () => session.close('client closed the stream'));
}
