// /ts2021 on a Fastify instance: the native upgrade goes straight to the Noise layer (see
// upgrade.ts); the WebSocket form is checked first (a refusal is a plain HTTP answer on the
// raw socket, as before), then accepted by @fastify/websocket and handed to the same Noise
// layer; a request without an upgrade gets a 400 that explains what is missing.

import { EventEmitter } from 'node:events';
import type http from 'node:http';
import websocket from '@fastify/websocket';
import type { FastifyInstance } from 'fastify';
import { rawHttpError, refusalHeaders, TS2021_PATH, UPGRADE_PROTOCOL, type Ts2021Handler } from '../control/ts2021.js';
import type { ControlAnswer } from '../noise/control-answer.js';
import type { UpgradeHandler } from './upgrade.js';

export async function mountTs2021(app: FastifyInstance, ts2021: Ts2021Handler, upgrades: Map<string, UpgradeHandler>): Promise<void> {
  // @fastify/websocket listens for upgrades on this emitter, not on the server: only the
  // WebSocket upgrades that passed the checks below are routed through Fastify.
  const wsUpgrades = new EventEmitter();
  const checked = new WeakMap<http.IncomingMessage, ControlAnswer>();
  await app.register(websocket, {
    options: {
      server: wsUpgrades as unknown as http.Server,
      perMessageDeflate: false, // Noise records don't compress
      maxPayload: 1 << 20,
      handleProtocols: (protocols: Set<string>) => (protocols.has(UPGRADE_PROTOCOL) ? UPGRADE_PROTOCOL : false),
    },
  });

  upgrades.set(TS2021_PATH, (req, socket, head) => {
    if (String(req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
      ts2021.handleUpgrade(req, socket, head);
      return;
    }
    socket.on('error', () => socket.destroy());
    const check = ts2021.checkWebSocket(req);
    if (!check.ok) {
      rawHttpError(socket, check.status, check.message, refusalHeaders(check.status));
      return;
    }
    checked.set(req, check.result);
    wsUpgrades.emit('upgrade', req, socket, head);
  });

  const help = ts2021.requestHelp();
  app.route({
    method: 'GET',
    url: TS2021_PATH,
    handler: async (_req, reply) => reply.code(400).type('text/plain; charset=utf-8').send(help),
    wsHandler: (ws, req) => {
      const result = checked.get(req.raw);
      if (!result) {
        ws.terminate();
        return;
      }
      ts2021.acceptWebSocket(ws, req.raw, result);
    },
  });
  app.route({
    method: ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'],
    url: TS2021_PATH,
    handler: async (_req, reply) => reply.code(400).type('text/plain; charset=utf-8').send(help),
  });
}
