// HTTP upgrades on the control listener, by path. Upgrades never reach Fastify's router
// unless a route handler forwards them (the WebSocket form of /ts2021 does): the native
// ts2021 upgrade stays one map lookup away from the socket, as cheap as before Fastify.
//
// Other upgrade endpoints (e.g. the DERP server's `/derp`) register here with
// `upgrades.set(path, handler)`; they may be added while the server runs.

import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { rawHttpError } from '../control/ts2021.js';

export type UpgradeHandler = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void;

export function attachUpgrades(server: http.Server, upgrades: Map<string, UpgradeHandler>): void {
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const handler = upgrades.get(q < 0 ? url : url.slice(0, q));
    if (handler) {
      handler(req, socket, head);
      return;
    }
    socket.on('error', () => socket.destroy());
    rawHttpError(socket, 404, 'not found');
  });
}
