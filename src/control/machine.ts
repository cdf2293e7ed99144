// The HTTP/2 requests a client makes inside its Noise channel (/machine/*).
// One handler per Noise connection, so every request knows the machine key the
// handshake proved.

import type { H2Stream } from '../http2/stream.js';
import { MapAuthError, applyMapRequestUpdates, authorizeMapRequest, oneShotMap, openStream, parseMapRequest, type MapContext } from './map.js';
import { handleRegister, ServerClosing, type RegisterContext } from './register.js';
import type { FrameSink } from './sessions.js';
import { BadRequest, parseJsonBody } from './validate.js';

/** Bodies from clients are small JSON documents; anything larger is refused. */
export const MAX_BODY_BYTES = 1 << 20;

export interface MachineContext extends MapContext, RegisterContext {
  /** Detail an admin rarely needs (client health reports): any client can send it at will. */
  debug?(m: string): void;
}

export interface NoisePeer {
  machineKey: string;
  protocolVersion: number;
}

function sendText(res: H2Stream, status: number, text: string): void {
  if (res.headersSent || res.closed) return;
  res.respond(status, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(Buffer.from(text + '\n'));
}

function sendJson(res: H2Stream, status: number, body: unknown): void {
  if (res.headersSent || res.closed) return;
  res.respond(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(Buffer.from(JSON.stringify(body)));
}

const NOT_IMPLEMENTED: Record<string, string> = {
  '/machine/set-dns': 'this server does not manage DNS records, so `tailscale cert` (ACME DNS-01) is not available',
  '/machine/set-device-attr': 'device attributes are not supported by this server',
  '/machine/id-token': 'this server does not issue OIDC ID tokens to nodes',
};

export function machineHandler(ctx: MachineContext, peer: NoisePeer) {
  return (stream: H2Stream): void => {
    handle(ctx, peer, stream).catch((err: unknown) => {
      if (err instanceof BadRequest) return sendText(stream, 400, err.message);
      if (err instanceof MapAuthError) return sendText(stream, 401, err.message);
      if (err instanceof ServerClosing) return sendText(stream, 503, err.message);
      ctx.log(`${stream.path}: ${(err as Error).stack ?? String(err)}`);
      sendText(stream, 500, 'internal server error');
    });
  };
}

async function handle(ctx: MachineContext, peer: NoisePeer, stream: H2Stream): Promise<void> {
  const path = stream.path.split('?')[0]!;
  const res = stream;
  if (path === '/machine/register' || path === '/machine/map') {
    if (stream.method !== 'POST') return sendText(res, 405, `${path} takes POST`);
    const body = parseJsonBody(stream.body, path === '/machine/register' ? 'RegisterRequest' : 'MapRequest');
    if (path === '/machine/register') {
      // A follow-up waits for an administrator; a client that gives up releases it.
      const gone = new AbortController();
      stream.onClose(() => gone.abort());
      return sendJson(res, 200, await handleRegister(ctx, peer.machineKey, body, gone.signal));
    }
    return handleMap(ctx, peer, body, res);
  }
  if (path === '/machine/update-health') {
    // Health reports are advisory: accept and note them, at debug level, since any client
    // (keyless ones too) may send them as often as it likes.
    const body = parseJsonBody(stream.body, 'HealthChangeRequest');
    ctx.debug?.(`health report from machine ${peer.machineKey.slice(0, 16)}…: ${JSON.stringify(body).slice(0, 200)}`);
    return sendText(res, 200, 'ok');
  }
  const missing = NOT_IMPLEMENTED[path];
  if (missing) return sendText(res, 501, missing);
  sendText(res, 404, `unknown control endpoint ${path}`);
}

async function handleMap(ctx: MachineContext, peer: NoisePeer, body: Record<string, unknown>, res: H2Stream): Promise<void> {
  const mreq = parseMapRequest(body);
  const node = await applyMapRequestUpdates(ctx, authorizeMapRequest(ctx.tailnet, peer.machineKey, mreq), mreq);
  ctx.metrics.mapRequests.inc({ kind: mreq.stream ? 'stream' : mreq.omitPeers ? 'lite' : 'oneshot' });
  if (!mreq.stream && mreq.omitPeers) return sendText(res, 200, '');
  if (res.closed) return; // the client gave up while we were working
  if (!mreq.stream) {
    res.respond(200, { 'content-type': 'application/octet-stream' });
    res.end(oneShotMap(ctx, node, mreq));
    return;
  }
  res.respond(200, { 'content-type': 'application/octet-stream' });
  const sink: FrameSink = {
    write: (frame) => {
      ctx.metrics.mapFrames.inc();
      ctx.metrics.mapBytes.inc(frame.length);
      return res.write(frame);
    },
    buffered: () => res.buffered(),
    close: () => res.end(),
  };
  const open = (): void => {
    if (res.closed) return; // gave up while waiting for its turn
    // The node as it is now: it may have changed while the open waited.
    const current = ctx.tailnet.node(node.id);
    if (!current) return void res.end();
    const session = openStream(ctx, current, mreq, sink);
    res.onClose(() => session.close('client closed the stream'));
  };
  if (ctx.opens) await ctx.opens.run(open);
  else open();
}
