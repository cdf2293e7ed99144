// The relay's HTTP surface: the upgrade at /derp (DERP's own "Upgrade: DERP", and the
// WebSocket form with the "derp" subprotocol that browsers use), and the small endpoints
// clients probe: /derp/probe and /derp/latency-check (netcheck over HTTPS), /generate_204
// (captive-portal check) and /bootstrap-dns (names of the DERP map, for clients whose DNS
// is broken). Paths and answers follow derper and headscale.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { WebSocketDuplex } from '../../noise/websocket-duplex.js';
import { PROTOCOL_VERSION } from './frames.js';
import type { DerpRelay } from './relay.js';
import { BootstrapDns } from './bootstrap-dns.js';

/** The plain (non-upgrade) paths handleRequest answers, for routers that register by path. */
export const DERP_HTTP_PATHS = ['/derp', '/derp/probe', '/derp/latency-check', '/generate_204', '/bootstrap-dns'] as const;

export interface DerpHttp {
  /** For http.Server 'upgrade': true when the request was the relay's. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /** For http.Server 'request': true when the path was the relay's. */
  handleRequest(req: IncomingMessage, res: ServerResponse): boolean;
  close(): void;
}

const CHALLENGE_HEADER = 'x-tailscale-challenge';
const RESPONSE_HEADER = 'X-Tailscale-Response';

function pathOf(req: IncomingMessage): string {
  const u = req.url ?? '/';
  const q = u.indexOf('?');
  return q < 0 ? u : u.slice(0, q);
}

function rawError(socket: Duplex, status: number, text: string, message: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\ncontent-length: ${Buffer.byteLength(message)}\r\n\r\n${message}`);
}

export function createDerpHttp(relay: DerpRelay, dns: BootstrapDns): DerpHttp {
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false, // WireGuard packets don't compress
    maxPayload: 1 << 20,
    handleProtocols: (protocols) => (protocols.has('derp') ? 'derp' : false),
  });
  const upgradeResponse = Buffer.from(
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: DERP\r\nConnection: Upgrade\r\n' +
      `Derp-Version: ${PROTOCOL_VERSION}\r\nDerp-Public-Key: ${relay.publicKey.toString('hex')}\r\n\r\n`,
  );

  return {
    handleUpgrade(req, socket, head) {
      if (pathOf(req) !== '/derp') return false;
      const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? 0}`;
      socket.on('error', () => socket.destroy());
      const up = String(req.headers.upgrade ?? '').toLowerCase();
      const wsProto = String(req.headers['sec-websocket-protocol'] ?? '');
      if (up === 'websocket' && wsProto.includes('derp')) {
        wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
          if (ws.protocol !== 'derp') {
            ws.close(1008, 'client must speak the derp subprotocol');
            return;
          }
          relay.accept(new WebSocketDuplex(ws, remote), remote);
        });
        return true;
      }
      // Very old clients sent "Upgrade: WebSocket" but spoke DERP framing: derper treats them as DERP.
      if (up !== 'derp' && up !== 'websocket') {
        rawError(socket, 426, 'Upgrade Required', 'DERP requires connection upgrade\n');
        return true;
      }
      // A relay connection lives for hours: no HTTP idle timeout; TCP keep-alive finds dead peers.
      const tcp = socket as Partial<Pick<Socket, 'setNoDelay' | 'setTimeout' | 'setKeepAlive'>>;
      tcp.setNoDelay?.(true);
      tcp.setTimeout?.(0);
      tcp.setKeepAlive?.(true, 60_000);
      const fastStart = req.headers['derp-fast-start'] === '1';
      relay.accept(socket, remote, fastStart ? Buffer.alloc(0) : upgradeResponse, head);
      return true;
    },

    handleRequest(req, res) {
      const path = pathOf(req);
      switch (path) {
        case '/derp':
          res.writeHead(426, { 'content-type': 'text/plain; charset=utf-8' });
          res.end('DERP requires connection upgrade\n');
          return true;
        case '/derp/probe':
        case '/derp/latency-check':
          if (req.method === 'GET' || req.method === 'HEAD') {
            res.writeHead(200, { 'access-control-allow-origin': '*' });
            res.end();
          } else {
            res.writeHead(405, { 'content-type': 'text/plain; charset=utf-8' });
            res.end('bogus probe method\n');
          }
          return true;
        case '/generate_204': {
          const challenge = req.headers[CHALLENGE_HEADER];
          const headers: Record<string, string> = {};
          if (typeof challenge === 'string' && challenge.length <= 64 && /^[A-Za-z0-9._-]*$/.test(challenge) && challenge !== '') {
            headers[RESPONSE_HEADER] = `response ${challenge}`;
          }
          res.writeHead(204, headers);
          res.end();
          return true;
        }
        case '/bootstrap-dns':
          dns.answer().then(
            (body) => {
              // Requests come from anywhere and rarely repeat: no point keeping the connection.
              res.writeHead(200, { 'content-type': 'application/json', connection: 'close' });
              res.end(body);
            },
            () => {
              res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
              res.end('bootstrap DNS failed\n');
            },
          );
          return true;
        default:
          return false;
      }
    },

    close() {
      wss.close();
    },
  };
}
